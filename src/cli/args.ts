// Command-line arguments of `localmoe serve`. Pure: argv in, options or a usage error out.

export interface ServeOptions {
  model: string;
  port: number;
  host: string | undefined;
  device: 'auto' | 'cpu' | 'cuda';
  threads: number;
  maxContext: number;
  maxConcurrentRequests: number | undefined;
}

export const USAGE = `Usage: localmoe serve --model DIR [--port N] [options]

Serves DIR (a Hugging Face Mixtral-family folder or a LocalMoE-quantized one) as an
OpenAI-compatible API on 127.0.0.1 (GET /v1/models, POST /v1/chat/completions, /v1/completions).
Clients send "Authorization: Bearer <token>"; the token is LOCALMOE_API_TOKEN if set, else a random
one printed at start.

Options:
  --model DIR            model folder (default: LOCALMOE_MODEL, else the embedded model)
  --port N               TCP port, 0 = any free port (default 8080)
  --host 127.0.0.1       only loopback is accepted
  --device auto|cpu|cuda backend (default auto)
  --threads N            CPU threads, 0 = all cores (default 0)
  --max-context N        context length in tokens (default 4096)
  --max-concurrent N     requests in flight before 429 (default 4)
`;

export class UsageError extends Error {}

const DEFAULTS: ServeOptions = {
  model: '',
  port: 8080,
  host: undefined,
  device: 'auto',
  threads: 0,
  maxContext: 4096,
  maxConcurrentRequests: undefined,
};

/** `args` after "serve". Accepts "--flag value" and "--flag=value". */
export function parseServeArgs(args: readonly string[]): ServeOptions {
  const options = { ...DEFAULTS };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const integer = (min: number): number => {
      const raw = value();
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min)
        throw new UsageError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
      return n;
    };
    switch (flag) {
      case '--model':
        options.model = value();
        break;
      case '--port':
        options.port = integer(0);
        if (options.port > 65535) throw new UsageError('--port must be at most 65535');
        break;
      case '--host':
        options.host = value();
        break;
      case '--device': {
        const d = value();
        if (d !== 'auto' && d !== 'cpu' && d !== 'cuda')
          throw new UsageError(`--device must be auto, cpu or cuda, got ${JSON.stringify(d)}`);
        options.device = d;
        break;
      }
      case '--threads':
        options.threads = integer(0);
        break;
      case '--max-context':
        options.maxContext = integer(1);
        break;
      case '--max-concurrent':
        options.maxConcurrentRequests = integer(1);
        break;
      default:
        throw new UsageError(`unknown option ${JSON.stringify(args[i])}`);
    }
  }
  return options;
}
