// Small pure pieces of the endpoint, the CLI and the remote client: token check, bind address,
// CLI arguments, SSE parsing.
import * as assert from 'node:assert/strict';
import { parseServeArgs, UsageError } from '../../src/cli/args';
import { SseParser } from '../../src/remote/sse-parser';
import { authorizationMatches, checkTokenStrength, newToken } from '../../src/sidecar/http/auth';
import { loopbackBindAddress } from '../../src/sidecar/http/loopback';

describe('HTTP endpoint pieces', () => {
  it('accepts exactly "Bearer <token>"', () => {
    const token = newToken();
    assert.notEqual(newToken(), token, 'tokens are random');
    assert.ok(token.length >= 40);
    assert.ok(authorizationMatches(`Bearer ${token}`, token));
    assert.ok(authorizationMatches(`bearer  ${token}`, token));
    for (const h of [
      undefined,
      '',
      token,
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
      `Basic ${token}`,
      'Bearer ',
    ])
      assert.equal(authorizationMatches(h, token), false, String(h));
    assert.throws(() => checkTokenStrength('short'), /at least 16/);
    assert.doesNotThrow(() => checkTokenStrength('0123456789abcdef'));
  });

  it('binds 127.0.0.1 only', () => {
    assert.equal(loopbackBindAddress(undefined), '127.0.0.1');
    assert.equal(loopbackBindAddress('localhost'), '127.0.0.1');
    for (const host of ['0.0.0.0', '::', '::1', '192.168.1.10', 'example.com', ''])
      assert.throws(() => loopbackBindAddress(host), /binds 127\.0\.0\.1 only/, host);
  });

  it('parses the serve command line', () => {
    assert.deepEqual(parseServeArgs(['--model', 'm', '--port=0', '--max-concurrent', '2']), {
      model: 'm',
      port: 0,
      host: undefined,
      device: 'auto',
      threads: 0,
      maxContext: 4096,
      maxConcurrentRequests: 2,
    });
    for (const bad of [
      ['--port'],
      ['--port', 'x'],
      ['--port', '70000'],
      ['--device', 'tpu'],
      ['--what'],
    ])
      assert.throws(() => parseServeArgs(bad), UsageError, bad.join(' '));
  });

  it('parses SSE split anywhere, with CRLF, comments and multi-line data', () => {
    const body =
      ': keep-alive\r\ndata: {"a":1}\r\n\r\ndata: x\ndata: y\n\nevent: e\ndata: [DONE]\n\n';
    for (let cut = 0; cut <= body.length; cut++) {
      const p = new SseParser();
      const events = [...p.push(body.slice(0, cut)), ...p.push(body.slice(cut)), ...p.end()];
      assert.deepEqual(events, ['{"a":1}', 'x\ny', '[DONE]'], `cut at ${cut}`);
    }
    assert.deepEqual(new SseParser().end(), []);
  });
});
