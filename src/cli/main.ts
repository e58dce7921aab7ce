// `localmoe <command>`: the CLI reached through package.json "bin" (dist/sidecar.js, see
// src/sidecar/main.ts). One command for now: `serve`, the sidecar's HTTP endpoint without the editor.
// Here stdout is the user's: it gets the URL and token; logs go to stderr as in the sidecar.
import { PROTOCOL_VERSION } from '../protocol';
import { loadAddon } from '../sidecar/addon-loader';
import { createStderrLogger, parseLogLevel, type Logger } from '../sidecar/log';
import { SidecarServer, errorMessage } from '../sidecar/server';
import { USAGE, UsageError, parseServeArgs, type ServeOptions } from './args';

export const TOKEN_ENV = 'LOCALMOE_API_TOKEN';

/** Runs the CLI; resolves with an exit code when it is done, undefined while it keeps serving. */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const [command, ...rest] = args;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'serve') {
    process.stderr.write(`localmoe: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let options: ServeOptions;
  try {
    options = parseServeArgs(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`localmoe serve: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  const log = createStderrLogger(parseLogLevel(env.LOCALMOE_LOG_LEVEL));
  try {
    await serve(options, env, log);
    return undefined;
  } catch (err) {
    process.stderr.write(`localmoe serve: ${errorMessage(err)}\n`);
    return 1;
  }
}

async function serve(options: ServeOptions, env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  const server = new SidecarServer({
    loadAddon: () => loadAddon(),
    log,
    exit: (code) => process.exit(code),
    env,
  });
  const stop = () => {
    server.dispose();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Bind before loading: a refused host or a busy port should fail in milliseconds, not after the
  // model load; requests arriving meanwhile get 503 "no model is loaded yet".
  const token = env[TOKEN_ENV] || undefined;
  const { url, token: used } = await server.http.start({
    port: options.port,
    host: options.host,
    token,
    maxConcurrentRequests: options.maxConcurrentRequests,
  });
  try {
    const loaded = await server.loadModel({
      protocolVersion: PROTOCOL_VERSION,
      modelPath: options.model,
      device: options.device,
      threads: options.threads,
      maxContext: options.maxContext,
    });
    process.stdout.write(
      `LocalMoE serving ${loaded.model.name} (${loaded.model.device}) at ${url}\n` +
        `Token: ${token ? `(from ${TOKEN_ENV})` : used}\n` +
        `Example: curl ${url}/models -H "Authorization: Bearer $TOKEN"\n`,
    );
  } catch (err) {
    server.dispose();
    throw err;
  }
}
