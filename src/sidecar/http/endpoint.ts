// The endpoint's lifetime inside the sidecar: started, restarted and stopped by localmoe/serve (or
// once by the CLI). Holds the token and URL of the running server.
import type { ServeParams, ServeResult } from '../../protocol';
import type { Logger } from '../log';
import { ApiServer, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_REQUESTS } from './api-server';
import { checkTokenStrength, newToken } from './auth';
import type { ApiBackend } from './backend';
import { checkPort, loopbackBindAddress } from './loopback';

export interface EndpointSettings extends Omit<ServeParams, 'enabled'> {
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
}

const STOPPED: ServeResult = { enabled: false, url: null, token: null };

export class HttpEndpoint {
  private server: ApiServer | undefined;
  private state: ServeResult = STOPPED;
  /** start/stop calls run one after another (a restart must free the port before rebinding it). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly backend: ApiBackend,
    private readonly log: Logger,
  ) {}

  get current(): ServeResult {
    return this.state;
  }

  /** The running server (tests read its in-flight count); undefined when stopped. */
  get apiServer(): ApiServer | undefined {
    return this.server;
  }

  /** Starts the endpoint, replacing a running one. Throws on a non-loopback host or a busy port. */
  start(settings: EndpointSettings): Promise<ServeResult> {
    return this.enqueue(async () => {
      const host = loopbackBindAddress(settings.host);
      const port = settings.port ?? 0;
      checkPort(port);
      const token = settings.token ?? newToken();
      checkTokenStrength(token);
      await this.stopNow();
      const server = new ApiServer({
        backend: this.backend,
        token,
        log: this.log,
        maxBodyBytes: settings.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        maxConcurrentRequests: settings.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS,
      });
      const bound = await server.listen(port, host);
      this.server = server;
      this.state = { enabled: true, url: `http://${host}:${bound}/v1`, token };
      this.log.info(`OpenAI-compatible endpoint listening on ${this.state.url}`);
      return this.state;
    });
  }

  stop(): Promise<ServeResult> {
    return this.enqueue(() => this.stopNow());
  }

  private async stopNow(): Promise<ServeResult> {
    const server = this.server;
    this.server = undefined;
    this.state = STOPPED;
    if (server) {
      await server.close();
      this.log.info('OpenAI-compatible endpoint stopped');
    }
    return STOPPED;
  }

  private enqueue<T>(step: () => Promise<T>): Promise<T> {
    const run = this.chain.then(step);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
