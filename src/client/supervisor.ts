// The one owner of the sidecar's lifetime (STYLE 1.2): lazy start, initialize, health checks,
// restart with backoff after a crash, a clear failed state with the actions that fix it, and a
// graceful stop (shutdown request, short grace, then kill). It imports no `vscode`, so it runs under
// plain mocha against a fake sidecar; the extension adapts its events to UI.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  Emitter,
  ResponseError,
  type CancellationToken,
  type Disposable,
  type Event,
  type MessageConnection,
  type RequestType,
} from 'vscode-jsonrpc';
import {
  StreamMessageReader,
  StreamMessageWriter,
  createMessageConnection,
} from 'vscode-jsonrpc/node';
import {
  PROTOCOL_VERSION,
  healthRequest,
  initializeRequest,
  logNotification,
  shutdownRequest,
  statusNotification,
  streamNotification,
  type EngineStatus,
  type InitializeParams,
  type InitializeResult,
  type StreamChunk,
} from '../protocol';
import type { Logger } from '../util/logger';
import { Backoff } from './backoff';

/** What the user can do about a failed engine; the UI turns each into a button. */
export type FixAction = 'showLogs' | 'restart' | 'selectModel';

export type SupervisorState =
  | { kind: 'idle' }
  | { kind: 'starting' }
  | { kind: 'running'; info: InitializeResult }
  | { kind: 'restarting'; reason: string; delayMs: number; attempt: number }
  | { kind: 'failed'; reason: string; actions: FixAction[] }
  | { kind: 'stopped' };

/** Thrown by `connection()`/`request()` when the engine cannot serve; `message` is user-facing. */
export class EngineUnavailableError extends Error {
  constructor(
    message: string,
    readonly state: SupervisorState['kind'],
  ) {
    super(message);
    this.name = 'EngineUnavailableError';
  }
}

export interface SupervisorDeps {
  /** Spawns a sidecar; throws (with the fix in the message) when it cannot. */
  launch(): ChildProcessWithoutNullStreams;
  /** Read on every start, so a restart picks up changed settings. */
  initializeParams(): InitializeParams;
  log: Logger;
  /** One line of sidecar stderr. */
  sidecarLog(line: string): void;
  backoff?: Backoff;
  now?: () => number;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** Grace period for shutdown before the process is killed. */
  stopGraceMs?: number;
}

/** Everything that lives exactly as long as one sidecar process. */
interface Client {
  proc: ChildProcessWithoutNullStreams;
  connection: MessageConnection;
  cleanup: Disposable[];
  /** Set before we end the process on purpose, so its exit is not treated as a crash. */
  stopping: boolean;
  exited: Promise<void>;
  /** The one stop in progress or done (stop is called from deactivate and from dispose). */
  stopped?: Promise<void>;
}

export class Supervisor implements Disposable {
  private stateValue: SupervisorState = { kind: 'idle' };
  private statusValue: EngineStatus | undefined;
  private client: Client | undefined;
  private starting: Promise<MessageConnection> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff: Backoff;
  private readonly streamListeners = new Map<string, (chunk: StreamChunk) => void>();
  private readonly stateEmitter = new Emitter<SupervisorState>();
  private readonly statusEmitter = new Emitter<EngineStatus | undefined>();

  readonly onDidChangeState: Event<SupervisorState> = this.stateEmitter.event;
  /** Engine status notifications; `undefined` when the sidecar went away (no stale counters). */
  readonly onDidChangeStatus: Event<EngineStatus | undefined> = this.statusEmitter.event;

  constructor(private readonly deps: SupervisorDeps) {
    this.backoff = deps.backoff ?? new Backoff();
  }

  get state(): SupervisorState {
    return this.stateValue;
  }

  get status(): EngineStatus | undefined {
    return this.statusValue;
  }

  get isRunning(): boolean {
    return this.stateValue.kind === 'running';
  }

  /** PID of the current sidecar (tests kill it to check crash recovery). */
  get pid(): number | undefined {
    return this.client?.proc.pid;
  }

  /**
   * The live connection, starting the sidecar if it has not been started yet (lazy start).
   * Rejects with EngineUnavailableError while restarting, after a failure or after stop.
   */
  async connection(): Promise<MessageConnection> {
    const s = this.stateValue;
    if (s.kind === 'running' && this.client) return this.client.connection;
    if (s.kind === 'starting' && this.starting) return this.starting;
    if (s.kind === 'idle') return this.start();
    if (s.kind === 'restarting') {
      throw new EngineUnavailableError(
        `LocalMoE engine is restarting after a crash (${s.reason})`,
        s.kind,
      );
    }
    if (s.kind === 'failed')
      throw new EngineUnavailableError(`LocalMoE engine is not running: ${s.reason}`, s.kind);
    throw new EngineUnavailableError('LocalMoE engine is stopped', s.kind);
  }

  async request<P, R>(
    type: RequestType<P, R, void>,
    params: P,
    token?: CancellationToken,
  ): Promise<R> {
    const connection = await this.connection();
    return connection.sendRequest(type, params, token);
  }

  /** Routes `localmoe/stream` chunks of one request to `listener` until disposed. */
  onStream(streamId: string, listener: (chunk: StreamChunk) => void): Disposable {
    this.streamListeners.set(streamId, listener);
    return { dispose: () => void this.streamListeners.delete(streamId) };
  }

  /** Starts the sidecar unless it is running or starting; resolves when the model is loaded. */
  start(): Promise<MessageConnection> {
    if (this.stateValue.kind === 'running' && this.client)
      return Promise.resolve(this.client.connection);
    if (this.starting) return this.starting;
    this.clearRetry();
    const p = this.spawnAndInitialize();
    this.starting = p;
    const clear = (): void => {
      if (this.starting === p) this.starting = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** User-requested restart: forget past crashes, stop gracefully, start again. */
  async restart(): Promise<void> {
    this.deps.log.info('restarting the engine');
    this.backoff.reset();
    this.clearRetry();
    if (this.starting) await this.starting.catch(() => undefined);
    await this.stopClient();
    this.setState({ kind: 'idle' });
    await this.start();
  }

  /** Final stop (deactivate): no restarts afterwards. */
  async stop(): Promise<void> {
    this.clearRetry();
    this.setState({ kind: 'stopped' });
    await this.stopClient();
  }

  dispose(): void {
    this.stop().catch((e) =>
      this.deps.log.error(`stopping the sidecar failed: ${errorMessage(e)}`),
    );
    this.stateEmitter.dispose();
    this.statusEmitter.dispose();
  }

  // ---------- internals ----------

  private async spawnAndInitialize(): Promise<MessageConnection> {
    this.setState({ kind: 'starting' });
    let client: Client;
    try {
      client = this.spawnClient();
    } catch (e) {
      const reason = errorMessage(e);
      this.deps.log.error(`cannot start the sidecar: ${reason}`);
      this.setState({ kind: 'failed', reason, actions: ['showLogs', 'restart'] });
      throw new EngineUnavailableError(reason, 'failed');
    }
    const params = this.deps.initializeParams();
    this.deps.log.info(
      `sidecar pid ${client.proc.pid}: initialize model=${params.modelPath || '(embedded)'} device=${params.device}`,
    );
    try {
      const info = await client.connection.sendRequest(initializeRequest, params);
      if (info.protocolVersion !== PROTOCOL_VERSION) {
        throw new Error(
          `protocol version mismatch: extension speaks ${PROTOCOL_VERSION}, sidecar ${info.protocolVersion}; reinstall the extension`,
        );
      }
      if (this.client !== client) throw new Error('sidecar replaced while starting');
      this.deps.log.info(
        `engine ${info.engineVersion} ready in ${info.loadMs} ms: ${info.model.name} (${info.model.architecture}, ` +
          `${info.model.numLayers} layers, ${info.model.numExperts} experts top-${info.model.expertsPerToken}, ` +
          `${info.model.weightDtype}) on ${info.model.device}; backends ${info.backends.join(', ')}`,
      );
      this.setState({ kind: 'running', info });
      this.startHealthChecks(client);
      return client.connection;
    } catch (e) {
      const reason = errorMessage(e);
      if (client.stopping || this.client !== client) {
        throw new EngineUnavailableError(
          `engine start interrupted: ${reason}`,
          this.stateValue.kind,
        );
      }
      // An answered error (bad model folder, no GPU, version mismatch) would fail again on retry:
      // stop and ask the user. A lost connection is a crash during load, which the exit handler
      // turns into a backoff restart; give the exit event a moment to arrive.
      const answered =
        e instanceof ResponseError || !(e instanceof Error) || /protocol version/.test(reason);
      const crashed =
        !answered &&
        (await Promise.race([client.exited.then(() => true), delay(1000).then(() => false)]));
      if (!crashed) {
        this.deps.log.error(`engine failed to load: ${reason}`);
        await this.stopClient();
        this.setState({ kind: 'failed', reason, actions: ['selectModel', 'showLogs', 'restart'] });
      }
      throw new EngineUnavailableError(reason, this.stateValue.kind);
    }
  }

  private spawnClient(): Client {
    const proc = this.deps.launch();
    const cleanup: Disposable[] = [];
    // A write to a dead sidecar must not become an uncaught exception in the extension host.
    proc.stdin.on('error', (e) => this.deps.log.debug(`sidecar stdin: ${e.message}`));
    const stderr = createInterface({ input: proc.stderr });
    stderr.on('line', (line) => this.deps.sidecarLog(line));
    cleanup.push({ dispose: () => stderr.close() });

    const connection = createMessageConnection(
      new StreamMessageReader(proc.stdout),
      new StreamMessageWriter(proc.stdin),
    );
    cleanup.push(connection);
    cleanup.push(
      connection.onNotification(statusNotification, (status) => {
        this.statusValue = status;
        this.statusEmitter.fire(status);
      }),
    );
    cleanup.push(
      connection.onNotification(streamNotification, (chunk) =>
        this.streamListeners.get(chunk.streamId)?.(chunk),
      ),
    );
    cleanup.push(
      connection.onNotification(logNotification, (m) => {
        const line = `[engine] ${m.message}`;
        if (m.level === 'error') this.deps.log.error(line);
        else if (m.level === 'warn') this.deps.log.warn(line);
        else if (m.level === 'info') this.deps.log.info(line);
        else this.deps.log.debug(line);
      }),
    );
    connection.listen();

    let resolveExit: () => void = () => undefined;
    const exited = new Promise<void>((r) => (resolveExit = r));
    const client: Client = { proc, connection, cleanup, stopping: false, exited };
    proc.on('error', (e) => this.deps.log.error(`sidecar process error: ${e.message}`));
    proc.on('exit', (code, signal) => {
      resolveExit();
      this.onExit(client, code, signal);
    });
    this.client = client;
    return client;
  }

  private onExit(client: Client, code: number | null, signal: NodeJS.Signals | null): void {
    for (const d of client.cleanup.splice(0)) d.dispose();
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (this.client === client) {
      this.client = undefined;
      this.statusValue = undefined;
      this.statusEmitter.fire(undefined);
    }
    if (client.stopping) {
      this.deps.log.info(`sidecar stopped (${how})`);
      return;
    }
    this.deps.log.error(`sidecar exited unexpectedly (${how})`);
    if (this.stateValue.kind === 'stopped') return;
    const decision = this.backoff.onCrash((this.deps.now ?? Date.now)());
    if (!decision.retry) {
      this.setState({
        kind: 'failed',
        reason: `the engine crashed ${decision.crashes} times in a row (last: ${how}); see the logs`,
        actions: ['showLogs', 'restart', 'selectModel'],
      });
      return;
    }
    this.deps.log.info(
      `restarting the sidecar in ${decision.delayMs} ms (attempt ${decision.attempt})`,
    );
    this.setState({
      kind: 'restarting',
      reason: how,
      delayMs: decision.delayMs,
      attempt: decision.attempt,
    });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.start().catch((e) => this.deps.log.error(`restart failed: ${errorMessage(e)}`));
    }, decision.delayMs);
  }

  /** Asks the sidecar to shut down, waits a short grace period, then kills it. Idempotent. */
  private stopClient(): Promise<void> {
    const client = this.client;
    if (!client) return Promise.resolve();
    client.stopped ??= this.stopProcess(client);
    return client.stopped;
  }

  private async stopProcess(client: Client): Promise<void> {
    client.stopping = true;
    const grace = this.deps.stopGraceMs ?? 1000;
    if (client.proc.exitCode === null && client.proc.signalCode === null) {
      // sendRequest throws synchronously on a closed connection; either way, go on to the kill.
      const asked = Promise.resolve()
        .then(() => client.connection.sendRequest(shutdownRequest, undefined))
        .catch(() => undefined);
      await Promise.race([asked, delay(grace)]);
      client.proc.stdin.end();
      const exited = await Promise.race([
        client.exited.then(() => true),
        delay(grace).then(() => false),
      ]);
      if (!exited) {
        this.deps.log.warn(
          `sidecar pid ${client.proc.pid} did not exit within ${grace} ms; killing it`,
        );
        client.proc.kill('SIGKILL');
        await Promise.race([client.exited, delay(grace)]);
      }
    }
    for (const d of client.cleanup.splice(0)) d.dispose();
    if (this.client === client) this.client = undefined;
  }

  private startHealthChecks(client: Client): void {
    const interval = this.deps.healthIntervalMs ?? 30_000;
    const timeout = this.deps.healthTimeoutMs ?? 10_000;
    const timer = setInterval(() => {
      const answered = client.connection.sendRequest(healthRequest, undefined).then(
        () => true,
        () => false,
      );
      void Promise.race([answered, delay(timeout).then(() => false)]).then((ok) => {
        if (ok || client.stopping || this.client !== client) return;
        // A sidecar that stops answering is as good as crashed: kill it and let backoff restart it.
        this.deps.log.error(
          `sidecar did not answer a health check within ${timeout} ms; killing it`,
        );
        client.proc.kill('SIGKILL');
      });
    }, interval);
    client.cleanup.push({ dispose: () => clearInterval(timer) });
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private setState(state: SupervisorState): void {
    this.stateValue = state;
    this.stateEmitter.fire(state);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
