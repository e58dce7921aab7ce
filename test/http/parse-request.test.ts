// The request parser/validator of the HTTP endpoint, alone (pure, milliseconds): field checks name
// the param, and a seeded fuzz of malformed JSON and wrong-typed bodies never throws and always
// yields a 400 OpenAI error object (or, for bodies that happen to be valid, a well-formed request).
import * as assert from 'node:assert/strict';
import { MAX_TOKENS_LIMIT } from '../../src/sidecar/generation';
import {
  DEFAULT_CHAT_MAX_TOKENS,
  DEFAULT_COMPLETION_MAX_TOKENS,
  parseChatRequest,
  parseCompletionRequest,
  type Parsed,
} from '../../src/sidecar/http/parse-request';
import type { ApiRequest } from '../../src/sidecar/http/openai-types';
import { isErrorObject, prng } from './helpers';

const chat = (body: unknown) => parseChatRequest(JSON.stringify(body));
const completion = (body: unknown) => parseCompletionRequest(JSON.stringify(body));
const user = [{ role: 'user', content: 'hi' }];

function expectError(r: Parsed<ApiRequest>, param: string | null, pattern?: RegExp): void {
  assert.equal(r.ok, false, 'expected a validation error');
  if (r.ok) return;
  assert.equal(r.error.status, 400);
  assert.equal(r.error.param, param);
  assert.ok(isErrorObject(r.error.toBody()));
  if (pattern) assert.match(r.error.message, pattern);
}

describe('HTTP request parser', () => {
  it('normalises a valid chat request with OpenAI defaults', () => {
    const r = chat({ model: 'x', messages: user });
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      kind: 'chat',
      model: 'x',
      messages: [{ role: 'user', content: 'hi' }],
      stream: false,
      includeUsage: false,
      sampling: {
        maxTokens: DEFAULT_CHAT_MAX_TOKENS,
        temperature: 1,
        topP: 1,
        seed: undefined,
        stop: [],
      },
    });
  });

  it('reads every supported field, text parts and the developer role', () => {
    const r = chat({
      messages: [
        {
          role: 'developer',
          content: [
            { type: 'text', text: 'be ' },
            { type: 'text', text: 'brief' },
          ],
        },
        { role: 'user', content: 'q' },
        { role: 'assistant', content: null },
      ],
      max_completion_tokens: 7,
      temperature: 0,
      top_p: 0.5,
      seed: 3,
      stop: '\n',
      stream: true,
      stream_options: { include_usage: true },
      n: 1,
      presence_penalty: 0,
      user: 'ignored',
    });
    assert.ok(r.ok);
    assert.deepEqual(r.value.kind === 'chat' && r.value.messages, [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '' },
    ]);
    assert.deepEqual(r.value.sampling, {
      maxTokens: 7,
      temperature: 0,
      topP: 0.5,
      seed: 3,
      stop: ['\n'],
    });
    assert.equal(r.value.stream, true);
    assert.equal(r.value.includeUsage, true);
  });

  it('accepts text, token-id and one-element batch prompts', () => {
    for (const [prompt, want] of [
      ['def f(', 'def f('],
      [
        [1, 2, 3],
        [1, 2, 3],
      ],
      [['only'], 'only'],
      [[[5, 6]], [5, 6]],
    ] as const) {
      const r = completion({ prompt });
      assert.ok(r.ok, JSON.stringify(prompt));
      assert.deepEqual(r.value.kind === 'completion' && r.value.prompt, want);
      assert.equal(r.value.sampling.maxTokens, DEFAULT_COMPLETION_MAX_TOKENS);
    }
  });

  it('names the param of each wrong type or value', () => {
    expectError(chat({ messages: 'hi' }), 'messages', /array/);
    expectError(chat({}), 'messages');
    expectError(chat({ messages: [] }), 'messages', /at least one/);
    expectError(chat({ messages: [42] }), 'messages.0');
    expectError(
      chat({ messages: [{ role: 'tool', content: 'x' }] }),
      'messages.0.role',
      /tool calls/,
    );
    expectError(chat({ messages: [{ role: 'user', content: 5 }] }), 'messages.0.content');
    expectError(
      chat({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }),
      'messages.0.content.0',
    );
    expectError(chat({ messages: user, max_tokens: 'x' }), 'max_tokens', /integer/);
    expectError(chat({ messages: user, max_tokens: 1.5 }), 'max_tokens');
    expectError(chat({ messages: user, max_tokens: 0 }), 'max_tokens');
    expectError(chat({ messages: user, max_tokens: MAX_TOKENS_LIMIT + 1 }), 'max_tokens');
    expectError(chat({ messages: user, max_completion_tokens: -1 }), 'max_completion_tokens');
    expectError(chat({ messages: user, temperature: '1' }), 'temperature');
    expectError(chat({ messages: user, temperature: 2.5 }), 'temperature');
    expectError(chat({ messages: user, top_p: 0 }), 'top_p');
    expectError(chat({ messages: user, seed: -1 }), 'seed');
    expectError(chat({ messages: user, seed: 'x' }), 'seed');
    expectError(chat({ messages: user, stop: 5 }), 'stop');
    expectError(chat({ messages: user, stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', /at most 4/);
    expectError(chat({ messages: user, stream: 'yes' }), 'stream');
    expectError(
      chat({ messages: user, stream_options: { include_usage: 1 } }),
      'stream_options.include_usage',
    );
    expectError(chat({ messages: user, model: 5 }), 'model');
    expectError(completion({ prompt: 5 }), 'prompt');
    expectError(completion({}), 'prompt');
    expectError(completion({ prompt: [] }), 'prompt');
    expectError(completion({ prompt: [1, -2] }), 'prompt');
    expectError(completion({ prompt: ['a', 'b'] }), 'prompt', /one prompt/);
  });

  it('refuses what one local choice cannot honour instead of ignoring it', () => {
    expectError(chat({ messages: user, n: 2 }), 'n', /not supported/);
    expectError(chat({ messages: user, tools: [{ type: 'function' }] }), 'tools');
    expectError(chat({ messages: user, logprobs: true }), 'logprobs');
    expectError(chat({ messages: user, frequency_penalty: 0.5 }), 'frequency_penalty');
    expectError(
      chat({ messages: user, response_format: { type: 'json_object' } }),
      'response_format',
    );
    expectError(completion({ prompt: 'x', echo: true }), 'echo');
    expectError(completion({ prompt: 'x', suffix: 'y' }), 'suffix');
    expectError(completion({ prompt: 'x', best_of: 3 }), 'best_of');
    assert.ok(chat({ messages: user, tools: [], logprobs: false, n: null }).ok);
  });

  it('answers malformed JSON and non-objects with invalid_json', () => {
    for (const text of ['', '{', '{"messages": [}', 'null', '[]', '"x"', '42', 'NaN', '{"a":1}}']) {
      const r = parseChatRequest(text);
      expectError(r, null);
      assert.equal(!r.ok && r.error.code, 'invalid_json', text);
    }
  });

  describe('fuzz (seeded, bounded)', () => {
    const valid = [
      JSON.stringify({
        model: 'm',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 8,
        stream: true,
        stop: ['\n'],
      }),
      JSON.stringify({ prompt: 'def f(x):', max_tokens: 4, temperature: 0.2, top_p: 0.9, seed: 1 }),
    ];
    const alphabet = '{}[]":,0123456789.-+eE truefalsnul\\u00ff\n\t\u0000\ud800😀';
    const weird: unknown[] = [
      null,
      true,
      false,
      0,
      -1,
      1e308,
      0.5,
      2 ** 53,
      -0,
      '',
      'x',
      '1',
      [],
      [1],
      ['a'],
      {},
      { role: 'user' },
      [{ role: 'user', content: 'x' }],
      { type: 'text', text: 1 },
      '\u0000',
      'a'.repeat(300),
    ];

    function check(kind: string, text: string, r: Parsed<ApiRequest>): void {
      if (r.ok) {
        // Accepted bodies must be well-formed requests, never half-checked ones.
        const s = r.value.sampling;
        assert.ok(
          Number.isInteger(s.maxTokens) && s.maxTokens >= 1 && s.maxTokens <= MAX_TOKENS_LIMIT,
          text,
        );
        assert.ok(s.temperature >= 0 && s.temperature <= 2 && s.topP > 0 && s.topP <= 1, text);
        assert.ok(
          s.stop.every((x) => typeof x === 'string'),
          text,
        );
        if (r.value.kind === 'chat')
          assert.ok(
            r.value.messages.every(
              (m) =>
                typeof m.content === 'string' && ['system', 'user', 'assistant'].includes(m.role),
            ),
            text,
          );
        else
          assert.ok(
            typeof r.value.prompt === 'string' || r.value.prompt.every(Number.isInteger),
            text,
          );
        return;
      }
      assert.ok(r.error.status >= 400 && r.error.status < 500, `${kind}: ${text}`);
      assert.ok(isErrorObject(r.error.toBody()), `${kind}: ${text}`);
    }

    it('never throws on 4000 mutated JSON strings', () => {
      const rand = prng(0x5eed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
      let rejected = 0;
      for (let i = 0; i < 4000; i++) {
        let text = pick(valid);
        const edits = 1 + Math.floor(rand() * 4);
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(rand() * (text.length + 1));
          const op = Math.floor(rand() * 4);
          if (op === 0) text = text.slice(0, at) + text.slice(at + 1);
          else if (op === 1) text = text.slice(0, at) + pick([...alphabet]) + text.slice(at);
          else if (op === 2) text = text.slice(0, at);
          else text = text.slice(0, at) + text.slice(at, at + 8).repeat(3) + text.slice(at);
        }
        for (const parse of [parseChatRequest, parseCompletionRequest]) {
          const r = parse(text);
          if (!r.ok) rejected++;
          check('mutated', text, r);
        }
      }
      assert.ok(rejected > 6000, `most mutations must be rejected (${rejected})`);
    });

    it('never throws on 4000 wrong-typed bodies', () => {
      const rand = prng(42);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
      const keys = [
        'model',
        'messages',
        'prompt',
        'max_tokens',
        'max_completion_tokens',
        'temperature',
        'top_p',
        'seed',
        'stop',
        'stream',
        'stream_options',
        'n',
        'logprobs',
        'tools',
        'echo',
        'suffix',
        '__proto__',
        'constructor',
      ];
      let rejected = 0;
      for (let i = 0; i < 4000; i++) {
        const body = JSON.parse(pick(valid)) as Record<string, unknown>;
        const changes = 1 + Math.floor(rand() * 3);
        for (let c = 0; c < changes; c++) {
          const key = pick(keys);
          if (rand() < 0.2) delete body[key];
          else if (key === 'messages' && rand() < 0.5)
            body.messages = [
              { role: pick(['user', 'system', 'tool', 5, null]), content: pick(weird) },
            ];
          else body[key] = pick(weird);
        }
        const text = JSON.stringify(body);
        for (const parse of [parseChatRequest, parseCompletionRequest]) {
          const r = parse(text);
          if (!r.ok) rejected++;
          check('typed', text, r);
        }
      }
      assert.ok(rejected > 4000, `wrong types must be rejected (${rejected})`);
    });
  });
});
