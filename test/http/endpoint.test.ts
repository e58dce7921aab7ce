// The OpenAI-compatible endpoint over real HTTP (node's fetch) against a real SidecarServer with the
// real addon and the embedded model: routes, streaming and not, usage, stop sequences, auth, limits,
// malformed input.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { ModelTokenizer } from '../../src/sidecar/tokenizer';
import { ChatTemplate } from '../../src/sidecar/chat-template';
import {
  EMBEDDED_MODEL,
  call,
  isErrorObject,
  prng,
  sseData,
  startServer,
  waitFor,
  type ServerUnderTest,
} from './helpers';

interface Completion {
  model: string;
  object: string;
  choices: { text?: string; message?: { role: string; content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

const PROMPT = 'def fibonacci(n):';
const CHAT = [{ role: 'user', content: 'Write a Python function that adds two numbers.' }];

describe('OpenAI-compatible endpoint (embedded model, in-process server)', function () {
  this.timeout(60000);
  let s: ServerUnderTest;
  let tokenizer: ModelTokenizer;

  before(async () => {
    s = await startServer(EMBEDDED_MODEL());
    tokenizer = ModelTokenizer.load(EMBEDDED_MODEL());
  });
  after(async () => s?.stop());

  it('lists the loaded model', async () => {
    const r = await call(s, 'GET', '/models');
    assert.equal(r.status, 200);
    const body = r.body as { object: string; data: { id: string; object: string }[] };
    assert.equal(body.object, 'list');
    assert.deepEqual(
      body.data.map((m) => [m.id, m.object]),
      [['localmoe-code-tiny', 'model']],
    );
    assert.equal((await call(s, 'GET', '/models/localmoe-code-tiny')).status, 200);
    assert.equal((await call(s, 'GET', '/models/gpt-4')).status, 404);
  });

  it('completes text with usage from the engine and finish_reason length', async () => {
    const r = await call(s, 'POST', '/completions', {
      prompt: PROMPT,
      max_tokens: 12,
      temperature: 0,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const body = r.body as Completion;
    assert.equal(body.object, 'text_completion');
    assert.equal(body.model, 'localmoe-code-tiny');
    // The prompt as the sidecar tokenizes it: BOS + the text (DESIGN.md's reference ids).
    const ids = tokenizer.encode(PROMPT, { bos: true });
    assert.deepEqual(ids, [1, 801, 16182, 266, 28127, 28732, 28711, 1329]);
    assert.deepEqual(body.usage, {
      prompt_tokens: ids.length,
      completion_tokens: 12,
      total_tokens: ids.length + 12,
    });
    assert.equal(body.choices[0].finish_reason, 'length');
    assert.ok(body.choices[0].text && body.choices[0].text.length > 0);
  });

  it('streams the same text as the non-streaming answer (greedy), then usage and [DONE]', async () => {
    const request = { prompt: PROMPT, max_tokens: 16, temperature: 0 };
    const plain = ((await call(s, 'POST', '/completions', request)).body as Completion).choices[0]
      .text;
    const res = await fetch(`${s.url}/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${s.token}` },
      body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = sseData(await res.text());
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as Partial<Completion>);
    assert.ok(chunks.length > 3, 'several chunks, not one');
    const text = chunks.map((c) => c.choices?.[0]?.text ?? '').join('');
    assert.equal(text, plain);
    const usage = chunks.at(-1);
    assert.deepEqual(usage?.choices, []);
    assert.equal(usage?.usage?.completion_tokens, 16);
    assert.equal(chunks.at(-2)?.choices?.[0].finish_reason, 'length');
  });

  it('chats through the chat template, streaming and not', async () => {
    const request = { messages: CHAT, max_tokens: 40, temperature: 0 };
    const r = await call(s, 'POST', '/chat/completions', request);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const body = r.body as Completion;
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0].message?.role, 'assistant');
    const reply = body.choices[0].message?.content ?? '';
    assert.ok(reply.length > 0);
    const template = ChatTemplate.fromConfig(
      tokenizer.config,
      tokenizer.bosToken,
      tokenizer.eosToken,
      '',
    );
    const promptIds = tokenizer.encode(
      template.render([{ role: 'user', content: CHAT[0].content }]),
      { bos: false },
    );
    assert.equal(body.usage.prompt_tokens, promptIds.length);
    assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);
    assert.ok(body.usage.completion_tokens > 0 && body.usage.completion_tokens <= 40);
    assert.ok(['stop', 'length'].includes(body.choices[0].finish_reason));

    const res = await fetch(`${s.url}/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${s.token}` },
      body: JSON.stringify({ ...request, stream: true }),
    });
    const events = sseData(await res.text());
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map(
      (e) =>
        JSON.parse(e) as {
          object: string;
          choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[];
        },
    );
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), reply);
    assert.equal(chunks.at(-1)?.choices[0].finish_reason, body.choices[0].finish_reason);
  });

  it('stops at a stop sequence, which is not part of the text', async () => {
    const request = { prompt: PROMPT, max_tokens: 24, temperature: 0 };
    const full =
      ((await call(s, 'POST', '/completions', request)).body as Completion).choices[0].text ?? '';
    // A stop string taken from the middle of the greedy text: the answer must end right before it.
    const stop = full.trim().slice(2, 5);
    assert.ok(stop.length === 3, `greedy text too short: ${JSON.stringify(full)}`);
    const at = full.indexOf(stop);
    for (const stream of [false, true]) {
      const res = await fetch(`${s.url}/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${s.token}` },
        body: JSON.stringify({ ...request, stop: [stop, 'never-seen-stop'], stream }),
      });
      const raw = await res.text();
      const text = stream
        ? sseData(raw)
            .slice(0, -1)
            .map((e) => (JSON.parse(e) as Completion).choices[0]?.text ?? '')
            .join('')
        : (JSON.parse(raw) as Completion).choices[0].text;
      assert.equal(text, full.slice(0, at), `stream=${stream}`);
      if (!stream) {
        const body = JSON.parse(raw) as Completion;
        assert.equal(body.choices[0].finish_reason, 'stop');
        assert.ok(body.usage.completion_tokens < 24);
      }
    }
  });

  it('is reproducible with a seed at temperature > 0', async () => {
    const request = { prompt: PROMPT, max_tokens: 12, temperature: 1, top_p: 0.95, seed: 1234 };
    const a = (await call(s, 'POST', '/completions', request)).body as Completion;
    const b = (await call(s, 'POST', '/completions', request)).body as Completion;
    assert.equal(a.choices[0].text, b.choices[0].text);
  });

  it('serves concurrent requests through the one scheduler', async () => {
    const requests = [0, 1, 2].map((i) =>
      call(s, 'POST', '/completions', {
        prompt: `${PROMPT}\n    # step ${i}`,
        max_tokens: 6,
        temperature: 0,
      }),
    );
    const replies = await Promise.all(requests);
    for (const r of replies) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal((r.body as Completion).usage.completion_tokens, 6);
    }
  });

  it('cancels the generation when the client disconnects after the first chunks', async () => {
    const controller = new AbortController();
    const res = await fetch(`${s.url}/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${s.token}` },
      body: JSON.stringify({ prompt: PROMPT, max_tokens: 1500, temperature: 0, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /^data: \{/);
    controller.abort();
    const cancelled = () =>
      s.log.lines.find((l) =>
        /client disconnected, generation cancelled \(\d+ prompt \+ \d+ completion tokens, cancelled\)/.test(
          l,
        ),
      );
    await waitFor('the server to log the cancelled run', () => cancelled() !== undefined);
    const generated = Number(/\+ (\d+) completion tokens/.exec(cancelled()!)![1]);
    assert.ok(generated > 0 && generated < 1500, `${generated} tokens before the cancel`);
    assert.equal(s.sidecar.healthResult().busy, false);
  });

  it('answers 401 without the right bearer token', async () => {
    for (const token of [null, 'wrong-token-wrong-token', `${s.token}x`]) {
      const r = await call(s, 'POST', '/completions', { prompt: 'x' }, { token });
      assert.equal(r.status, 401, String(token));
      assert.ok(isErrorObject(r.body));
      assert.equal(r.body.error.code, 'invalid_api_key');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
    assert.equal((await call(s, 'GET', '/models', undefined, { token: null })).status, 401);
  });

  it('answers 404 and 405 for unknown routes and methods', async () => {
    const missing = await call(s, 'GET', '/nope');
    assert.equal(missing.status, 404);
    assert.ok(isErrorObject(missing.body));
    const wrong = await call(s, 'GET', '/chat/completions');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    assert.ok(isErrorObject(wrong.body));
    assert.equal((await call(s, 'DELETE', '/models')).status, 405);
  });

  it('answers 400 naming the param for malformed JSON and wrong types', async () => {
    const bad = await call(s, 'POST', '/chat/completions', undefined, { raw: '{"messages": [' });
    assert.equal(bad.status, 400);
    assert.ok(isErrorObject(bad.body));
    assert.equal(bad.body.error.code, 'invalid_json');
    for (const [route, body, param] of [
      ['/completions', { prompt: 'x', max_tokens: 'x' }, 'max_tokens'],
      ['/chat/completions', { messages: 'hello' }, 'messages'],
      ['/chat/completions', { messages: [{ role: 'user', content: 1 }] }, 'messages.0.content'],
      ['/completions', { prompt: [999999] }, 'prompt'], // token id outside the vocabulary (engine side)
    ] as const) {
      const r = await call(s, 'POST', route, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.ok(isErrorObject(r.body));
      assert.equal(r.body.error.param, param);
      assert.equal(r.body.error.type, 'invalid_request_error');
    }
  });

  it('answers 400 for a prompt that does not fit the context next to max_tokens', async () => {
    const long = 'word '.repeat(1500); // ~1500 tokens; the test server's context is 2048
    const chat = await call(s, 'POST', '/chat/completions', {
      messages: [{ role: 'user', content: long }],
      max_tokens: 1000,
    });
    assert.equal(chat.status, 400, JSON.stringify(chat.body));
    assert.ok(isErrorObject(chat.body));
    assert.equal(chat.body.error.code, 'context_length_exceeded');
    assert.equal(chat.body.error.param, 'messages');
    const text = await call(s, 'POST', '/completions', {
      prompt: long,
      max_tokens: 1000,
      stream: true,
    });
    assert.equal(text.status, 400, 'a stream that never started still gets a status');
    assert.ok(isErrorObject(text.body));
    assert.equal(text.body.error.param, 'prompt');
  });

  it('answers 413 for a body over 1 MiB, declared or chunked', async () => {
    const big = JSON.stringify({ prompt: 'x'.repeat(1100 * 1024) });
    const declared = await call(s, 'POST', '/completions', undefined, { raw: big });
    assert.equal(declared.status, 413);
    assert.ok(isErrorObject(declared.body));
    // Chunked upload (no Content-Length): the cap applies while reading.
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${s.url}/completions`);
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { Authorization: `Bearer ${s.token}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 12; i++) req.write('x'.repeat(100 * 1024));
      req.end();
    });
    assert.equal(status, 413);
    // The server is still fine.
    assert.equal((await call(s, 'GET', '/models')).status, 200);
  });

  it('survives a fuzz of bad requests over HTTP and still answers', async () => {
    const rand = prng(7);
    const pieces = [
      '{',
      '}',
      '[',
      ']',
      '"messages"',
      '"prompt"',
      ':',
      ',',
      '1',
      '"x"',
      'null',
      '\u0000',
      '😀',
      'max_tokens',
    ];
    for (let i = 0; i < 60; i++) {
      const raw = Array.from(
        { length: 1 + Math.floor(rand() * 12) },
        () => pieces[Math.floor(rand() * pieces.length)],
      ).join('');
      const route = rand() < 0.5 ? '/chat/completions' : '/completions';
      const r = await call(s, 'POST', route, undefined, { raw });
      assert.ok(r.status >= 400 && r.status < 500, `${raw} -> ${r.status}`);
      assert.ok(isErrorObject(r.body), raw);
    }
    assert.equal((await call(s, 'GET', '/models')).status, 200);
  });

  it('refuses to listen on anything but 127.0.0.1', async () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10'])
      await assert.rejects(s.sidecar.http.start({ host, port: 0 }), /binds 127\.0\.0\.1 only/);
    // A refused start leaves the running endpoint alone.
    assert.equal((await call(s, 'GET', '/models')).status, 200);
  });
});
