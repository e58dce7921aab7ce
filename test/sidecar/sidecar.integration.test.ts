// The real bundled sidecar (dist/sidecar.js) with the real addon and real models, over JSON-RPC.
// Models: a golden fixture's weights + the stand-in tokenizer cut to its vocabulary (until the
// embedded model lands), and a synthetic slow model for cancellation and throttling.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc/node';
import {
  LocalMoeErrorCodes,
  PROTOCOL_VERSION,
  chatRequest,
  completeRequest,
  healthRequest,
  initializeRequest,
  shutdownRequest,
  type InitializeParams,
} from '../../src/protocol';
import { ModelTokenizer } from '../../src/sidecar/tokenizer';
import { addon } from '../addon/helpers';
import { repoRoot } from './helpers/repo';
import { startSidecar, type SidecarUnderTest } from './helpers/sidecar-process';
import { makeTinyModel, writeStandInTokenizer } from './helpers/stand-in-tokenizer';
import { SLOW_SHAPE, writeSyntheticModel } from './helpers/synthetic-model';

const init = (modelPath: string): InitializeParams => ({
  protocolVersion: PROTOCOL_VERSION,
  modelPath,
  device: 'auto',
  threads: 1,
  maxContext: 4096,
});

async function expectResponseError(
  p: Promise<unknown>,
  code: number,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ResponseError, `expected a ResponseError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

/** Greedy text computed in-process (addon + tokenizer, one-shot decode) to compare with the sidecar's. */
async function referenceContinuation(
  modelDir: string,
  promptIds: number[],
  maxNewTokens: number,
): Promise<string> {
  const tok = ModelTokenizer.load(modelDir);
  const engine = await addon().load({ modelDir, threads: 1 });
  try {
    const r = await engine.generate({ prompt: promptIds, maxNewTokens }, () => undefined);
    const full = tok.decode([...promptIds, ...r.tokens]);
    const prompt = tok.decode(promptIds);
    assert.ok(full.startsWith(prompt));
    return full.slice(prompt.length);
  } finally {
    engine.unload();
  }
}

describe('sidecar over JSON-RPC (tiny golden model)', function () {
  this.timeout(60000);
  let tmp: string;
  let tiny: string;
  let sidecar: SidecarUnderTest;

  before(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'localmoe-sidecar-'));
    tiny = makeTinyModel(path.join(tmp, 'tiny'));
    sidecar = startSidecar();
  });
  after(async () => {
    await sidecar?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('answers health before a model is loaded', async () => {
    const h = await sidecar.connection.sendRequest(healthRequest);
    assert.equal(h.ok, false);
    assert.equal(h.busy, false);
  });

  it('rejects generation before initialize with NotInitialized', async () => {
    await expectResponseError(
      sidecar.connection.sendRequest(completeRequest, {
        prefix: 'x',
        suffix: '',
        languageId: 'c',
        streamId: 's0',
        maxTokens: 2,
      }),
      LocalMoeErrorCodes.NotInitialized,
      /initialize/,
    );
  });

  it('a bad model path is a clear error response; the sidecar stays alive', async () => {
    const missing = path.join(tmp, 'no-such-model');
    await expectResponseError(
      sidecar.connection.sendRequest(initializeRequest, init(missing)),
      LocalMoeErrorCodes.ModelLoadFailed,
      /no-such-model/,
    );
    const noConfig = path.join(tmp);
    await expectResponseError(
      sidecar.connection.sendRequest(initializeRequest, init(noConfig)),
      LocalMoeErrorCodes.ModelLoadFailed,
      /config\.json/,
    );
    assert.equal(sidecar.statuses.at(-1)?.status.health, 'error');
    const h = await sidecar.connection.sendRequest(healthRequest);
    assert.equal(h.ok, false);
  });

  it('malformed params get InvalidParams naming the field', async () => {
    await expectResponseError(
      sidecar.connection.sendRequest(initializeRequest, { ...init(tiny), device: 'tpu' as never }),
      -32602,
      /device/,
    );
  });

  it('initialize loads the model and reports it', async () => {
    const r = await sidecar.connection.sendRequest(initializeRequest, init(tiny));
    assert.equal(r.protocolVersion, PROTOCOL_VERSION);
    assert.equal(r.model.architecture, 'MixtralForCausalLM');
    assert.equal(r.model.numLayers, 2);
    assert.equal(r.model.numExperts, 8);
    assert.equal(r.model.vocabSize, 512);
    assert.equal(r.model.path, tiny);
    assert.ok(r.backends.includes('cpu'));
    assert.equal(sidecar.statuses.at(-1)?.status.health, 'ready');
    assert.equal((await sidecar.connection.sendRequest(healthRequest)).ok, true);
  });

  it('complete: greedy continuation of the documented prompt, equal to the in-process reference', async () => {
    const prefix = 'def add(a, b):\n    return';
    const r = await sidecar.connection.sendRequest(completeRequest, {
      prefix,
      suffix: '\n',
      languageId: 'python',
      fileName: 'src/calc.py',
      streamId: 'c1',
      maxTokens: 12,
    });
    const tok = ModelTokenizer.load(tiny);
    const promptIds = tok.encode(`# File: src/calc.py\n# Language: python\n${prefix}`, {
      bos: true,
    });
    assert.equal(r.promptTokens, promptIds.length);
    assert.ok(r.completionTokens > 0 && r.completionTokens <= 12);
    const expected = await referenceContinuation(tiny, promptIds, 12);
    if (r.finishReason === 'length') assert.equal(r.text, expected);
    else
      assert.ok(
        expected.startsWith(r.text),
        `${JSON.stringify(r.text)} vs ${JSON.stringify(expected)}`,
      );
    assert.ok(r.ttftMs > 0);
    // The real engine's time covers its time to first token (prefill + decode of the request).
    assert.ok(r.engineMs !== undefined && r.engineMs >= r.ttftMs, JSON.stringify(r));
    await new Promise((res) => setImmediate(res));
    const streamed = sidecar.chunks.filter((c) => c.streamId === 'c1').map((c) => c.delta);
    assert.equal(streamed.join(''), r.text, 'completions stream as well');
  });

  it('chat: stream notifications concatenate to the final text (the in-process reference)', async () => {
    const streamId = 'chat-1';
    const r = await sidecar.connection.sendRequest(chatRequest, {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Write a loop' },
      ],
      streamId,
      maxTokens: 40,
    });
    await new Promise((res) => setImmediate(res)); // notifications sent before the response are in order; let them land
    const streamed = sidecar.chunks.filter((c) => c.streamId === streamId).map((c) => c.delta);
    assert.equal(streamed.join(''), r.text);
    assert.ok(streamed.length > 1, `streamed in ${streamed.length} chunks`);
    const tok = ModelTokenizer.load(tiny);
    const promptIds = tok.encode('<s>[INST] Be brief.\n\nWrite a loop [/INST]', { bos: false });
    assert.equal(r.promptTokens, promptIds.length);
    const engine = await addon().load({ modelDir: tiny, threads: 1 });
    try {
      const ref = await engine.generate({ prompt: promptIds, maxNewTokens: 40 }, () => undefined);
      assert.equal(r.completionTokens, ref.tokens.length);
      assert.equal(r.text, tok.decode(ref.tokens));
    } finally {
      engine.unload();
    }
  });

  it('text stop sequences end the reply before the stop', async () => {
    const free = await sidecar.connection.sendRequest(chatRequest, {
      messages: [{ role: 'user', content: 'hi' }],
      streamId: 's-free',
      maxTokens: 40,
    });
    const chars = [...free.text].filter((c) => c !== '\uFFFD');
    assert.ok(chars.length > 3, 'need some text to pick a stop from');
    const stop = chars[3];
    const stopped = await sidecar.connection.sendRequest(chatRequest, {
      messages: [{ role: 'user', content: 'hi' }],
      streamId: 's-stop',
      maxTokens: 40,
      stop: [stop],
    });
    assert.equal(stopped.finishReason, 'stop');
    assert.equal(stopped.text, free.text.slice(0, free.text.indexOf(stop)));
  });
});

describe('sidecar over JSON-RPC (slow synthetic model)', function () {
  this.timeout(60000);
  let tmp: string;
  let sidecar: SidecarUnderTest;

  before(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'localmoe-sidecar-slow-'));
    writeSyntheticModel(tmp);
    writeStandInTokenizer(tmp, SLOW_SHAPE.vocab);
    sidecar = startSidecar();
    await sidecar.connection.sendRequest(initializeRequest, init(tmp));
  });
  after(async () => {
    await sidecar?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('client cancel ($/cancelRequest) stops a streaming chat promptly', async () => {
    const source = new CancellationTokenSource();
    const streamId = 'long-chat';
    const pending = sidecar.connection.sendRequest(
      chatRequest,
      { messages: [{ role: 'user', content: 'Tell me everything' }], streamId, maxTokens: 3000 },
      source.token,
    );
    // Cancel mid-stream: once text has arrived (not after a fixed delay: the machine may be busy).
    const deadline = Date.now() + 20000;
    while (!sidecar.chunks.some((c) => c.streamId === streamId) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const cancelledAt = Date.now();
    source.cancel();
    const r = await pending;
    assert.equal(r.finishReason, 'cancelled');
    assert.ok(r.completionTokens > 0 && r.completionTokens < 3000, `${r.completionTokens} tokens`);
    assert.ok(Date.now() - cancelledAt < 2000, 'answered soon after the cancel');
    const streamed = sidecar.chunks.filter((c) => c.streamId === streamId).map((c) => c.delta);
    assert.equal(streamed.join(''), r.text, 'partial text = what was streamed');
  });

  it('a newer completion cancels an older one still running', async () => {
    const params = { prefix: 'int main() {', suffix: '', languageId: 'c', maxTokens: 3000 };
    const older = sidecar.connection.sendRequest(completeRequest, { ...params, streamId: 'old' });
    await new Promise((r) => setTimeout(r, 150));
    const newer = sidecar.connection.sendRequest(completeRequest, {
      ...params,
      streamId: 'new',
      maxTokens: 5,
    });
    const [o, n] = await Promise.all([older, newer]);
    assert.equal(o.finishReason, 'cancelled');
    assert.ok(o.completionTokens < 3000);
    assert.equal(n.finishReason, 'length');
    assert.equal(n.completionTokens, 5);
  });

  it('timeBudgetMs ends a long completion with finishReason time', async () => {
    const started = Date.now();
    const r = await sidecar.connection.sendRequest(completeRequest, {
      prefix: 'x',
      suffix: '',
      languageId: 'c',
      streamId: 'budget',
      maxTokens: 3000,
      timeBudgetMs: 200,
    });
    assert.equal(r.finishReason, 'time');
    assert.ok(r.completionTokens < 3000);
    // 3000 tokens take > 10 s on this model; the budget ends it after ~200 ms (slack for busy CI).
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  });

  it('a completion preempts the running chat and runs before queued ones; status notifications stay within 4/s', async () => {
    const before = sidecar.statuses.length;
    const t0 = Date.now();
    const chat1 = sidecar.connection.sendRequest(chatRequest, {
      messages: [{ role: 'user', content: 'a' }],
      streamId: 'q1',
      maxTokens: 150,
    });
    const chat2 = sidecar.connection.sendRequest(chatRequest, {
      messages: [{ role: 'user', content: 'b' }],
      streamId: 'q2',
      maxTokens: 5,
    });
    const done: string[] = [];
    await new Promise((r) => setTimeout(r, 50));
    const comp = sidecar.connection.sendRequest(completeRequest, {
      prefix: 'x',
      suffix: '',
      languageId: 'c',
      streamId: 'q3',
      maxTokens: 5,
    });
    await Promise.all([
      chat1.then(() => done.push('chat1')),
      chat2.then(() => done.push('chat2')),
      comp.then(() => done.push('comp')),
    ]);
    // The completion pauses chat1 between tokens (issue #10); chat1 resumes, then chat2 runs.
    assert.deepEqual(done, ['comp', 'chat1', 'chat2']);
    const statuses = sidecar.statuses.slice(before);
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(statuses.some((s) => s.status.health === 'busy' && s.status.counters !== undefined));
    assert.equal(statuses.at(-1)?.status.health, 'ready');
    // Throttled notifications (4/s) plus one per busy/ready change.
    assert.ok(
      statuses.length <= Math.ceil(seconds * 4) + 4,
      `${statuses.length} statuses in ${seconds.toFixed(2)} s`,
    );
    const last = statuses.at(-1)?.status.counters;
    assert.ok(last && last.generatedTokens > 0 && last.expertUsage.length === SLOW_SHAPE.layers);
  });
});

describe('sidecar process lifecycle', function () {
  this.timeout(30000);

  it('the client sees the exit when the process is killed', async () => {
    const sidecar = startSidecar();
    await sidecar.connection.sendRequest(healthRequest);
    let closed = false;
    sidecar.connection.onClose(() => (closed = true));
    sidecar.child.kill('SIGKILL');
    const exit = await sidecar.exited;
    assert.equal(exit.signal, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(closed, 'connection reported close');
    sidecar.connection.dispose();
  });

  it('LOCALMOE_MODEL is the model when initialize names none', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'localmoe-env-'));
    const tiny = makeTinyModel(path.join(tmp, 'tiny-from-env'));
    const sidecar = startSidecar({ LOCALMOE_MODEL: tiny });
    try {
      // threads 0 and maxContext 0 mean engine defaults.
      const r = await sidecar.connection.sendRequest(initializeRequest, {
        ...init(''),
        threads: 0,
        maxContext: 0,
      });
      assert.equal(r.model.path, tiny);
      assert.equal(r.model.name, 'tiny-from-env');
    } finally {
      await sidecar.stop();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('shutdown answers, then the process exits with code 0', async () => {
    const sidecar = startSidecar();
    await sidecar.connection.sendRequest(shutdownRequest);
    const exit = await sidecar.exited;
    assert.equal(exit.code, 0);
    sidecar.connection.dispose();
  });

  it('closing stdin (editor gone) makes the sidecar exit', async () => {
    const sidecar = startSidecar();
    await sidecar.connection.sendRequest(healthRequest);
    sidecar.child.stdin.end();
    const exit = await sidecar.exited;
    assert.equal(exit.code, 0);
    assert.match(sidecar.stderr(), /sidecar started/);
    sidecar.connection.dispose();
  });
});

describe('sidecar with the embedded model (models/localmoe-code-tiny)', function () {
  this.timeout(120000);
  let sidecar: SidecarUnderTest;

  before(function () {
    // The model developer is still training it: until its files land this suite is pending, and the
    // tiny golden model above covers the same paths with a stand-in tokenizer.
    if (!existsSync(path.join(repoRoot(), 'models', 'localmoe-code-tiny', 'config.json')))
      this.skip();
    sidecar = startSidecar({ LOCALMOE_MODEL: '' });
  });
  after(async () => {
    await sidecar?.stop();
  });

  it('initialize with no path loads the embedded model and its 32000-token tokenizer', async () => {
    const r = await sidecar.connection.sendRequest(initializeRequest, init(''));
    assert.equal(r.model.name, 'localmoe-code-tiny');
    assert.equal(r.model.architecture, 'MixtralForCausalLM');
    assert.equal(r.model.vocabSize, 32000);
  });

  it('completes code and streams chat', async () => {
    const c = await sidecar.connection.sendRequest(completeRequest, {
      prefix: 'def fibonacci(n):\n    ',
      suffix: '',
      languageId: 'python',
      fileName: 'fib.py',
      streamId: 'emb-c',
      maxTokens: 16,
    });
    assert.ok(c.completionTokens > 0);
    assert.ok(['stop', 'length'].includes(c.finishReason));
    const streamId = 'emb-chat';
    const chat = await sidecar.connection.sendRequest(chatRequest, {
      messages: [{ role: 'user', content: 'Write a Python function that reverses a string.' }],
      streamId,
      maxTokens: 32,
    });
    await new Promise((res) => setImmediate(res));
    assert.equal(
      sidecar.chunks
        .filter((x) => x.streamId === streamId)
        .map((x) => x.delta)
        .join(''),
      chat.text,
    );
    assert.ok(chat.completionTokens > 0);
  });
});
