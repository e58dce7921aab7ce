// The editor's sidecar: JSON-RPC over stdio, logs on stderr. Started by the extension with
// process.execPath + ELECTRON_RUN_AS_NODE=1; runs under plain Node in tests. Never imports `vscode`.
import { format } from 'node:util';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import { loadAddon } from './addon-loader';
import { createStderrLogger, parseLogLevel } from './log';
import { SidecarServer } from './server';

export function runStdioSidecar(): void {
  const log = createStderrLogger(parseLogLevel(process.env.LOCALMOE_LOG_LEVEL));

  // stdout is the protocol: a stray console.log from any dependency would corrupt it.
  console.log = (...args: unknown[]) => log.info(format(...args));
  console.info = console.log;
  console.debug = (...args: unknown[]) => log.debug(format(...args));
  console.warn = (...args: unknown[]) => log.warn(format(...args));

  // A parent that died mid-write leaves broken pipes; EPIPE must not become an uncaught exception.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);

  const connection = createMessageConnection(
    new StreamMessageReader(process.stdin),
    new StreamMessageWriter(process.stdout),
  );
  const server = new SidecarServer({
    connection,
    loadAddon: () => loadAddon(),
    log,
    exit: (code) => process.exit(code),
  });
  server.register();

  // The client went away (editor closed, supervisor killed the pipe): free the model and leave.
  connection.onClose(() => {
    log.info('connection closed; exiting');
    server.dispose();
    process.exit(0);
  });
  process.on('unhandledRejection', (reason) =>
    log.error(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`),
  );
  process.on('uncaughtException', (err) => {
    // State is unknown after this: exit non-zero so the supervisor restarts a clean process.
    log.error(`uncaught exception: ${err.stack ?? err.message}`);
    process.exit(1);
  });

  connection.listen();
  log.info(`sidecar started (pid ${process.pid}, node ${process.version})`);
}
