// Spawns the real bundled sidecar (dist/sidecar.js) with plain Node, as the extension does with
// ELECTRON_RUN_AS_NODE, and connects a JSON-RPC client to its stdio.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import {
  statusNotification,
  streamNotification,
  type EngineStatus,
  type StreamChunk,
} from '../../../src/protocol';
import { addonFile, repoRoot } from './repo';

export interface SidecarUnderTest {
  child: ChildProcessWithoutNullStreams;
  connection: MessageConnection;
  statuses: { at: number; status: EngineStatus }[];
  chunks: StreamChunk[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export function sidecarScript(): string {
  return process.env.LOCALMOE_SIDECAR_PATH
    ? path.resolve(process.env.LOCALMOE_SIDECAR_PATH)
    : path.join(repoRoot(), 'dist', 'sidecar.js');
}

export function startSidecar(env: NodeJS.ProcessEnv = {}): SidecarUnderTest {
  const script = sidecarScript();
  if (!existsSync(script)) throw new Error(`${script} not found: run "npm run build" first`);
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, LOCALMOE_ADDON: addonFile(), LOCALMOE_LOG_LEVEL: 'debug', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const connection = createMessageConnection(
    new StreamMessageReader(child.stdout),
    new StreamMessageWriter(child.stdin),
  );
  const statuses: { at: number; status: EngineStatus }[] = [];
  const chunks: StreamChunk[] = [];
  connection.onNotification(statusNotification, (status) =>
    statuses.push({ at: Date.now(), status }),
  );
  connection.onNotification(streamNotification, (chunk) => chunks.push(chunk));
  connection.onError(() => undefined); // the kill test breaks the pipe on purpose
  connection.listen();
  return {
    child,
    connection,
    statuses,
    chunks,
    stderr: () => stderr,
    exited,
    stop: async () => {
      connection.dispose();
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}
