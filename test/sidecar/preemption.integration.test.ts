// Issue #10 end to end: the real sidecar (dist/sidecar.js) with the real addon and the embedded
// model. A completion arriving while a chat streams preempts the chat between tokens, is answered
// first, and the chat then resumes from its KV slot: its text (greedy) and its stream are exactly
// those of the same chat run alone.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  PROTOCOL_VERSION,
  chatRequest,
  completeRequest,
  initializeRequest,
  type ChatParams,
  type GenerationResult,
} from '../../src/protocol';
import { repoRoot } from './helpers/repo';
import { startSidecar, type SidecarUnderTest } from './helpers/sidecar-process';

const CHAT: Omit<ChatParams, 'streamId'> = {
  messages: [
    {
      role: 'user',
      content: 'Write a Python function that parses a CSV file into a list of dicts.',
    },
  ],
  maxTokens: 160,
  temperature: 0,
};

describe('completion preempts a running chat (embedded model)', function () {
  this.timeout(120000);
  let sidecar: SidecarUnderTest;

  before(async () => {
    sidecar = startSidecar();
    await sidecar.connection.sendRequest(initializeRequest, {
      protocolVersion: PROTOCOL_VERSION,
      modelPath: path.join(repoRoot(), 'models', 'localmoe-code-tiny'),
      device: 'cpu',
      threads: 2,
      maxContext: 2048,
    });
  });
  after(async () => {
    await sidecar?.stop();
  });

  const streamed = (streamId: string) =>
    sidecar.chunks
      .filter((c) => c.streamId === streamId)
      .map((c) => c.delta)
      .join('');

  it('answers the completion first; the chat text equals the unpreempted chat', async () => {
    const alone = await sidecar.connection.sendRequest(chatRequest, { ...CHAT, streamId: 'alone' });
    assert.ok(
      alone.completionTokens >= 40,
      `the reference chat is long enough to be preempted (${alone.completionTokens} tokens)`,
    );
    assert.equal(streamed('alone'), alone.text);

    // The same chat again; once it has streamed some text, a completion arrives.
    const order: string[] = [];
    const chat = sidecar.connection
      .sendRequest(chatRequest, { ...CHAT, streamId: 'preempted' })
      .then((r) => {
        order.push('chat');
        return r;
      });
    const started = Date.now();
    while (streamed('preempted').length < 20) {
      assert.ok(Date.now() - started < 60000, 'the chat streams');
      await new Promise((r) => setTimeout(r, 2));
    }
    const completion: GenerationResult = await sidecar.connection.sendRequest(completeRequest, {
      prefix: 'def parse_csv(path):\n    rows = []\n    with open(path) as f:\n        ',
      suffix: '\n    return rows\n',
      languageId: 'python',
      fileName: 'csv_util.py',
      maxTokens: 12,
      temperature: 0,
      streamId: 'completion',
    });
    order.push('completion');
    const preempted = await chat;

    assert.deepEqual(order, ['completion', 'chat'], 'the completion did not wait for the chat');
    assert.ok(completion.completionTokens > 0);
    assert.equal(preempted.text, alone.text, 'preemption changed the chat text');
    assert.equal(preempted.completionTokens, alone.completionTokens);
    assert.equal(preempted.finishReason, alone.finishReason);
    assert.equal(streamed('preempted'), preempted.text, 'the stream has no gap or duplicate');

    // The engine's counters: the second chat reused the first one's prompt (P - 1 tokens, slot 1),
    // and its resume reused prompt + the tokens generated before the preemption (slot 1 again;
    // the completion ran in slot 0). Without a resume from the slot the sum stays at P - 1 + 0.
    const P = alone.promptTokens;
    let reused = 0;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      reused = sidecar.statuses.at(-1)?.status.counters?.reusedPromptTokens ?? 0;
      if (reused > 2 * (P - 1)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(reused > 2 * (P - 1), `reused ${reused} prompt tokens (prompt ${P})`);
  });
});
