// The lifecycle owner against a real child process (test/unit/fixtures/fake-sidecar.js speaking
// the protocol): lazy start, requests and streams, graceful stop, crash → backoff restart,
// load error → failed state with actions, crash loop → failed.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Backoff } from '../../src/client/backoff';
import { launchSidecar } from '../../src/client/launch';
import {
  EngineUnavailableError,
  Supervisor,
  type SupervisorState,
} from '../../src/client/supervisor';
import { DEFAULT_CONFIG } from '../../src/config/schema';
import { initializeParams } from '../../src/config/engine-params';
import { chatRequest, completeRequest, type EngineStatus } from '../../src/protocol';
import { MemoryLogger } from '../../src/util/logger';
import { repoRoot } from './helpers';

const FAKE = path.join(repoRoot(), 'test/unit/fixtures/fake-sidecar.js');

function make(
  env: Record<string, string> = {},
  backoff = new Backoff({ initialMs: 20, maxMs: 100, maxCrashes: 3, windowMs: 60_000 }),
) {
  const log = new MemoryLogger();
  const stderr: string[] = [];
  const states: SupervisorState['kind'][] = [];
  const sup = new Supervisor({
    launch: () =>
      spawn(process.execPath, [FAKE], {
        env: { ...process.env, NODE_PATH: path.join(repoRoot(), 'node_modules'), ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    initializeParams: () => initializeParams(DEFAULT_CONFIG),
    log,
    sidecarLog: (l) => stderr.push(l),
    backoff,
    stopGraceMs: 300,
  });
  sup.onDidChangeState((s) => states.push(s.kind));
  return { sup, log, stderr, states };
}

function waitFor(
  sup: Supervisor,
  kind: SupervisorState['kind'],
  ms = 5000,
): Promise<SupervisorState> {
  if (sup.state.kind === kind) return Promise.resolve(sup.state);
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`state ${kind} not reached; now ${sup.state.kind}`)),
      ms,
    );
    const sub = sup.onDidChangeState((s) => {
      if (s.kind === kind) {
        clearTimeout(t);
        sub.dispose();
        resolve(s);
      }
    });
  });
}

describe('supervisor (fake sidecar process)', function () {
  this.timeout(15000);
  let current: Supervisor | undefined;
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });

  it('starts lazily on the first request, forwards stderr and status, and answers', async () => {
    const { sup, stderr, states } = make();
    current = sup;
    assert.equal(sup.state.kind, 'idle');
    const statuses: (EngineStatus | undefined)[] = [];
    sup.onDidChangeStatus((s) => statuses.push(s));
    const r = await sup.request(completeRequest, {
      prefix: 'int f() {',
      suffix: '',
      languageId: 'c',
      streamId: 's1',
      maxTokens: 8,
    });
    assert.equal(r.text, 'return 42;\n}');
    assert.deepEqual(states.slice(0, 2), ['starting', 'running']);
    assert.ok(statuses.some((s) => s?.health === 'ready'));
    assert.ok(
      stderr.some((l) => l.includes('listening')),
      stderr.join('\n'),
    );
    const init = stderr.find((l) => l.includes('initialize'));
    assert.ok(init && init.includes('"offload"'), 'initialize carries the offload options');
  });

  it('routes stream chunks to the request that owns them', async () => {
    const { sup } = make();
    current = sup;
    const got: string[] = [];
    const sub = sup.onStream('chat-1', (c) => got.push(c.delta));
    const r = await sup.request(chatRequest, {
      messages: [{ role: 'user', content: 'hi' }],
      streamId: 'chat-1',
      maxTokens: 9,
    });
    sub.dispose();
    assert.equal(got.join(''), r.text);
  });

  it('restarts with backoff after the sidecar is killed', async () => {
    const { sup, log } = make();
    current = sup;
    await sup.start();
    const pid = sup.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    await waitFor(sup, 'restarting');
    assert.equal(sup.status, undefined, 'no stale counters after a crash');
    await waitFor(sup, 'running');
    assert.notEqual(sup.pid, pid);
    assert.ok(log.lines.some((l) => /exited unexpectedly \(signal SIGKILL\)/.test(l)));
  });

  it('goes to failed with Select Model when the model does not load, and does not retry', async () => {
    const { sup, states } = make({
      FAKE_FAIL_INIT: 'config.json not found in /nope: choose a Hugging Face model folder',
    });
    current = sup;
    await assert.rejects(sup.start(), EngineUnavailableError);
    const s = sup.state;
    assert.equal(s.kind, 'failed');
    if (s.kind === 'failed') {
      assert.match(s.reason, /config\.json not found/);
      assert.ok(s.actions.includes('selectModel'));
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!states.includes('restarting'));
    await assert.rejects(sup.connection(), /not running: config\.json/);
  });

  it('stops retrying after a crash loop', async () => {
    const { sup } = make({ FAKE_CRASH_ON_INIT: '1' });
    current = sup;
    await assert.rejects(sup.start());
    const s = await waitFor(sup, 'failed');
    assert.ok(s.kind === 'failed' && /crashed 3 times/.test(s.reason), JSON.stringify(s));
  });

  it('kills a sidecar that ignores shutdown after the grace period', async () => {
    const { sup, log } = make({ FAKE_IGNORE_SHUTDOWN: '1' });
    current = sup;
    await sup.start();
    const t0 = Date.now();
    await sup.stop();
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(sup.pid, undefined);
    assert.ok(
      log.lines.some((l) => /did not exit within 300 ms; killing it/.test(l)),
      log.lines.join('\n'),
    );
  });

  it('stops gracefully and answers no more', async () => {
    const { sup, log } = make();
    current = sup;
    await sup.start();
    await sup.stop();
    assert.ok(
      log.lines.some((l) => /sidecar stopped \(exit code 0\)/.test(l)),
      log.lines.join('\n'),
    );
    await assert.rejects(sup.connection(), /stopped/);
  });

  it('reports a missing sidecar script with the fix', () => {
    assert.throws(() => launchSidecar('/nonexistent/sidecar.js'), /run "npm run build"/);
  });
});
