// Remote engine mode end to end through the extension's own code path: GenerationFacade (what the
// inline-completion provider and the chat view call) with localmoe.remote.url pointing at a real
// second sidecar's OpenAI-compatible endpoint (dist/sidecar.js + embedded model + localmoe/serve).
// The local supervisor it is given must never start.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import {
  PROTOCOL_VERSION,
  initializeRequest,
  serveRequest,
  type ServeResult,
} from '../../src/protocol';
import { initializeParams } from '../../src/config/engine-params';
import { DEFAULT_CONFIG } from '../../src/config/schema';
import { Supervisor } from '../../src/client/supervisor';
import { GenerationFacade } from '../../src/engine/facade';
import type { RemoteStatus } from '../../src/engine/remote-backend';
import { RemoteApiError } from '../../src/remote/openai-client';
import { LinkedCancelSource, type CancelSignal } from '../../src/util/cancel';
import { MemoryLogger } from '../../src/util/logger';
import { startSidecar, type SidecarUnderTest } from '../sidecar/helpers/sidecar-process';
import { EMBEDDED_MODEL } from './helpers';

const never: CancelSignal = new LinkedCancelSource().signal;

async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('remote engine mode through GenerationFacade (real sidecar endpoint)', function () {
  this.timeout(60000);
  let sidecar: SidecarUnderTest;
  let served: ServeResult;
  let launched = 0;
  const supervisor = new Supervisor({
    launch: () => {
      launched++;
      throw new Error('remote mode must not start the local engine');
    },
    initializeParams: () => initializeParams(DEFAULT_CONFIG),
    log: new MemoryLogger(),
    sidecarLog: () => undefined,
  });

  function facade(
    url: string,
    key: string | undefined | (() => string | undefined),
    statuses: (RemoteStatus | undefined)[] = [],
  ) {
    return new GenerationFacade({
      supervisor,
      remoteSettings: () => ({ url, model: '' }),
      apiKey: async () => (typeof key === 'function' ? key() : key),
      onRemoteStatus: (s) => statuses.push(s),
    });
  }

  before(async () => {
    sidecar = startSidecar();
    await sidecar.connection.sendRequest(initializeRequest, {
      protocolVersion: PROTOCOL_VERSION,
      modelPath: EMBEDDED_MODEL(),
      device: 'cpu',
      threads: 1,
      maxContext: 2048,
    });
    served = await sidecar.connection.sendRequest(serveRequest, { enabled: true, port: 0 });
  });
  after(async () => {
    supervisor.dispose();
    await sidecar?.stop();
  });

  it('is healthy after the start check, then completes and chats with client-measured speed', async () => {
    const statuses: (RemoteStatus | undefined)[] = [];
    // A bare server address: the facade adds /v1, as users may type it either way.
    const url = served.url!.replace(/\/v1$/, '');
    const f = facade(url, served.token!, statuses);
    assert.equal(f.mode, 'remote');
    await f.refresh();
    const host = new URL(served.url!).host;
    assert.equal(f.remoteStatus?.health, 'healthy', f.remoteStatus?.message);
    assert.equal(f.remoteStatus?.host, host);
    assert.match(f.remoteStatus?.message ?? '', /localmoe-code-tiny/);
    assert.equal(statuses[0]?.health, 'checking');
    assert.ok(f.isReady());

    const c = await f.complete(
      {
        prefix: 'def add(a, b):\n',
        suffix: '',
        languageId: 'python',
        maxTokens: 8,
        temperature: 0,
        streamId: 'c1',
      },
      never,
    );
    assert.equal(c.completionTokens, 8);
    assert.ok(c.text.length > 0);
    assert.ok(c.ttftMs > 0, 'client-measured time to first token');

    const deltas: string[] = [];
    const r = await f.chat(
      {
        messages: [{ role: 'user', content: 'Write a Python hello world.' }],
        maxTokens: 24,
        temperature: 0,
        streamId: 'h1',
      },
      (d) => deltas.push(d),
      never,
    );
    assert.equal(deltas.join(''), r.text);
    assert.ok(r.completionTokens > 1);
    assert.ok(f.remoteStatus!.clientTokensPerSecond > 0, 'client tok/s recorded');
    assert.equal(f.remoteStatus!.clientTtftMs, r.ttftMs);
  });

  it('passes editor cancellation through to the server request', async () => {
    const f = facade(served.url!, served.token!);
    const source = new LinkedCancelSource();
    const running = f.chat(
      {
        messages: [{ role: 'user', content: 'Count from 1 to 500.' }],
        maxTokens: 400,
        temperature: 0,
        streamId: 'x1',
      },
      () => source.cancel(),
      source.signal,
    );
    const r = await running;
    assert.equal(r.finishReason, 'cancelled');
    assert.ok(r.text.length > 0 && r.completionTokens < 400);
  });

  it('marks a server that refuses the key, and one that is down, and recovers on refresh', async () => {
    let key = 'wrong-key-wrong-key';
    const bad = facade(served.url!, () => key);
    await bad.refresh();
    assert.equal(bad.remoteStatus?.health, 'unreachable');
    assert.match(bad.remoteStatus?.message ?? '', /401|token|auth/i);
    key = served.token!; // as after "Set Remote API Key": the extension refreshes on the secret change
    await bad.refresh();
    assert.equal(bad.remoteStatus?.health, 'healthy');

    const down = facade(`http://127.0.0.1:${await deadPort()}/v1`, undefined);
    await down.refresh();
    assert.equal(down.remoteStatus?.health, 'unreachable');
    assert.equal(down.isReady(), false, 'no completions are sent to a server that is down');
    await assert.rejects(
      down.chat(
        { messages: [{ role: 'user', content: 'hi' }], maxTokens: 4, streamId: 'd1' },
        () => undefined,
        never,
      ),
      (err: unknown) => err instanceof RemoteApiError && err.status === 0,
    );
    assert.equal(down.remoteStatus?.health, 'unreachable');

    const bad2 = facade('ftp://example.org', undefined);
    await bad2.refresh();
    await assert.rejects(
      bad2.complete(
        { prefix: 'x', suffix: '', languageId: 'c', maxTokens: 1, streamId: 'e' },
        never,
      ),
      /must start with http/,
    );
  });

  it('never started the local engine', () => {
    assert.equal(launched, 0);
    assert.equal(supervisor.state.kind, 'idle');
  });
});
