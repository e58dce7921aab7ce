// Cancellation and the concurrency limit need generations that last: a random-weight synthetic
// model (test/sidecar/helpers/synthetic-model.ts, ~5-20 ms a token) practically never emits EOS, so a
// 4000-token request runs for a minute unless it is cancelled.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { writeStandInTokenizer } from '../sidecar/helpers/stand-in-tokenizer';
import { SLOW_SHAPE, writeSyntheticModel } from '../sidecar/helpers/synthetic-model';
import { call, isErrorObject, startServer, waitFor, type ServerUnderTest } from './helpers';

const LONG = 4000;

describe('endpoint cancellation and limits (slow synthetic model)', function () {
  this.timeout(60000);
  let tmp: string;
  let s: ServerUnderTest;

  before(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'localmoe-http-'));
    writeSyntheticModel(tmp);
    writeStandInTokenizer(tmp, SLOW_SHAPE.vocab);
    s = await startServer(tmp, { maxConcurrentRequests: 2 }, SLOW_SHAPE.maxPositions);
  });
  after(async () => {
    await s?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  /**
   * Starts a long streaming completion and resolves once the engine has been generating for a
   * while. (Random weights mostly emit byte tokens that do not form UTF-8, so text chunks may be
   * rare; the scheduler's busy flag and the elapsed time say the run is under way.)
   */
  async function openStream(controller: AbortController): Promise<void> {
    void fetch(`${s.url}/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${s.token}` },
      body: JSON.stringify({
        prompt: 'hello world',
        max_tokens: LONG,
        temperature: 0,
        stream: true,
      }),
      signal: controller.signal,
    }).catch(() => undefined);
    await waitFor('the generation to start', () => s.sidecar.healthResult().busy);
    await new Promise((r) => setTimeout(r, 300));
  }

  const inFlight = () => s.sidecar.http.apiServer?.requestsInFlight ?? -1;
  const cancelledRuns = () =>
    s.log.lines
      .map((l) => /cmpl-[0-9a-f]+: (\d+) tokens, cancelled/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]));

  it('a client disconnect mid-generation cancels the run in the engine', async () => {
    const before = cancelledRuns().length;
    const controller = new AbortController();
    await openStream(controller);
    assert.equal(inFlight(), 1);
    controller.abort();
    // The scheduler's job ends with the engine's 'cancelled' stop, long before LONG tokens.
    await waitFor('the cancelled run to be logged', () => cancelledRuns().length > before);
    const tokens = cancelledRuns().at(-1)!;
    assert.ok(tokens > 0 && tokens < LONG / 4, `stopped after ${tokens} tokens`);
    assert.ok(s.log.lines.some((l) => /client disconnected, generation cancelled/.test(l)));
    await waitFor('the request slot to be freed', () => inFlight() === 0);
    // The engine is free again: a short request answers at once instead of queueing behind LONG tokens.
    const started = Date.now();
    const r = await call(s, 'POST', '/completions', { prompt: 'hi', max_tokens: 3 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(Date.now() - started < 15000);
  });

  it('drops a queued request whose client went away, without running it', async () => {
    const running = new AbortController();
    await openStream(running);
    const queued = new AbortController();
    const pending = call(
      s,
      'POST',
      '/completions',
      { prompt: 'queued', max_tokens: 5 },
      { signal: queued.signal },
    );
    await waitFor('the second request to arrive', () => inFlight() === 2);
    queued.abort();
    await assert.rejects(pending);
    await waitFor('the dropped job to be logged', () =>
      s.log.lines.some((l) =>
        /client disconnected, generation cancelled \(0 prompt \+ 0 completion tokens, cancelled\)/.test(
          l,
        ),
      ),
    );
    running.abort();
    await waitFor('both slots to be freed', () => inFlight() === 0);
  });

  it('answers 429 beyond the concurrency limit, and serves again once a slot frees', async () => {
    const a = new AbortController();
    const b = new AbortController();
    await openStream(a);
    // The second is accepted and queued behind the first (the limit counts queued requests too).
    const queued = fetch(`${s.url}/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${s.token}` },
      body: JSON.stringify({ prompt: 'b', max_tokens: LONG, stream: true }),
      signal: b.signal,
    });
    await waitFor('two requests in flight', () => inFlight() === 2);
    const third = await call(s, 'POST', '/chat/completions', {
      messages: [{ role: 'user', content: 'c' }],
    });
    assert.equal(third.status, 429);
    assert.ok(isErrorObject(third.body));
    assert.equal(third.body.error.type, 'rate_limit_error');
    assert.equal(third.headers.get('retry-after'), '1');
    a.abort();
    b.abort();
    await queued.catch(() => undefined);
    await waitFor('slots to be freed', () => inFlight() === 0);
    const again = await call(s, 'POST', '/completions', { prompt: 'd', max_tokens: 2 });
    assert.equal(again.status, 200);
  });
});
