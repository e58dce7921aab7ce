// The remote-engine client (src/remote/) against a real second sidecar: dist/sidecar.js spawned as
// the extension does, its endpoint switched on with localmoe/serve, the embedded model behind it.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { ResponseError } from 'vscode-jsonrpc/node';
import {
  LocalMoeErrorCodes,
  PROTOCOL_VERSION,
  chatRequest,
  initializeRequest,
  serveRequest,
  type ServeResult,
} from '../../src/protocol';
import { RemoteApiError } from '../../src/remote/openai-client';
import { RemoteEngine } from '../../src/remote/remote-engine';
import { startSidecar, type SidecarUnderTest } from '../sidecar/helpers/sidecar-process';
import { EMBEDDED_MODEL } from './helpers';

describe('remote client against a sidecar endpoint (localmoe/serve)', function () {
  this.timeout(60000);
  let sidecar: SidecarUnderTest;
  let served: ServeResult;

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
  after(async () => sidecar?.stop());

  const engine = () => new RemoteEngine({ baseUrl: served.url!, apiKey: served.token! });

  it('serve refuses a non-loopback host and a weak token with InvalidParams', async () => {
    for (const params of [
      { enabled: true, host: '0.0.0.0' },
      { enabled: true, token: 'short' },
    ]) {
      await assert.rejects(sidecar.connection.sendRequest(serveRequest, params), (err: unknown) => {
        assert.ok(err instanceof ResponseError);
        assert.equal(err.code, -32602);
        assert.match(err.message, /127\.0\.0\.1 only|at least 16/);
        return true;
      });
    }
    assert.match(served.url ?? '', /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  });

  it('lists models and streams a chat reply with the server usage', async () => {
    assert.deepEqual(await engine().client.listModels(), ['localmoe-code-tiny']);
    const deltas: string[] = [];
    const r = await engine().chat(
      {
        messages: [{ role: 'user', content: 'Write a Python hello world.' }],
        maxTokens: 30,
        temperature: 0,
        streamId: 'r1',
      },
      undefined,
      (d) => deltas.push(d),
    );
    assert.ok(r.text.length > 0);
    assert.equal(deltas.join(''), r.text);
    assert.ok(deltas.length > 1, 'streamed in pieces');
    assert.ok(r.finishReason === 'stop' || r.finishReason === 'length');
    assert.ok(r.promptTokens > 5 && r.completionTokens > 0 && r.completionTokens <= 30);
    // Same model, same greedy request over JSON-RPC: same text.
    const local = await sidecar.connection.sendRequest(chatRequest, {
      messages: [{ role: 'user', content: 'Write a Python hello world.' }],
      maxTokens: 30,
      temperature: 0,
      streamId: 'l1',
    });
    assert.equal(r.text, local.text);
  });

  it('runs an inline completion with the local prompt design', async () => {
    const r = await engine().complete({
      prefix: 'def add(a, b):\n',
      suffix: '',
      languageId: 'python',
      fileName: 'math_utils.py',
      maxTokens: 8,
      temperature: 0,
      streamId: 'c1',
    });
    assert.equal(r.completionTokens, 8);
    assert.equal(r.finishReason, 'length');
    assert.ok(r.text.length > 0);
  });

  it('reports cancellation and a wrong key as such', async () => {
    const controller = new AbortController();
    const r = await engine().chat(
      {
        messages: [{ role: 'user', content: 'Explain Python lists.' }],
        maxTokens: 200,
        temperature: 0,
        streamId: 'x',
      },
      controller.signal,
      () => controller.abort(),
    );
    assert.equal(r.finishReason, 'cancelled');
    const wrong = new RemoteEngine({ baseUrl: served.url!, apiKey: 'not-the-token-at-all' });
    await assert.rejects(wrong.client.listModels(), (err: unknown) => {
      assert.ok(err instanceof RemoteApiError);
      assert.equal(err.status, 401);
      assert.match(err.message, /check the API key/);
      return true;
    });
  });

  it('serve answers ServeFailed for a port in use and can be switched on again', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        sidecar.connection.sendRequest(serveRequest, { enabled: true, port }),
        (err: unknown) => {
          assert.ok(err instanceof ResponseError);
          assert.equal(err.code, LocalMoeErrorCodes.ServeFailed);
          assert.match(err.message, new RegExp(`port ${port} .* already in use`));
          return true;
        },
      );
    } finally {
      blocker.close();
    }
    served = await sidecar.connection.sendRequest(serveRequest, { enabled: true, port: 0 });
    assert.deepEqual(await engine().client.listModels(), ['localmoe-code-tiny']);
  });

  it('serve off closes the port; the client says it cannot reach it', async () => {
    const url = served.url!;
    const off = await sidecar.connection.sendRequest(serveRequest, { enabled: false });
    assert.deepEqual(off, { enabled: false, url: null, token: null });
    await assert.rejects(
      new RemoteEngine({ baseUrl: url, apiKey: 'x' }).client.listModels(),
      (err: unknown) =>
        err instanceof RemoteApiError && err.status === 0 && /cannot reach/.test(err.message),
    );
    // And on again, with a caller-chosen token (what the UI would keep in SecretStorage).
    served = await sidecar.connection.sendRequest(serveRequest, {
      enabled: true,
      token: 'stored-secret-token-123',
    });
    assert.equal(served.token, 'stored-secret-token-123');
    assert.deepEqual(await engine().client.listModels(), ['localmoe-code-tiny']);
  });
});
