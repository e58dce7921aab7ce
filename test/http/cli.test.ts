// `localmoe serve` (dist/sidecar.js with arguments, as package.json "bin" runs it): prints where it
// serves, takes its token from LOCALMOE_API_TOKEN, refuses non-loopback hosts, exits on SIGTERM.
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { addonFile } from '../sidecar/helpers/repo';
import { sidecarScript } from '../sidecar/helpers/sidecar-process';
import { EMBEDDED_MODEL, call, waitFor } from './helpers';

interface Run {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [sidecarScript(), ...args], {
    env: { ...process.env, LOCALMOE_ADDON: addonFile(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

describe('localmoe serve (CLI)', function () {
  this.timeout(60000);
  const running: Run[] = [];
  after(() => running.forEach((r) => r.child.exitCode === null && r.child.kill()));

  it('serves the model with the token from LOCALMOE_API_TOKEN and stops on SIGTERM', async () => {
    const token = 'cli-test-token-0123456789';
    const run = cli(['serve', '--model', EMBEDDED_MODEL(), '--port', '0', '--threads', '1'], {
      LOCALMOE_API_TOKEN: token,
    });
    running.push(run);
    await waitFor('the URL on stdout', () => /Token:/.test(run.out()), 30000);
    const url = /at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(run.out())?.[1];
    assert.ok(url, run.out());
    assert.ok(!run.out().includes(token), 'a token from the environment is not echoed');
    assert.match(run.out(), /from LOCALMOE_API_TOKEN/);
    const models = await call({ url, token }, 'GET', '/models');
    assert.equal(models.status, 200);
    assert.equal((await call({ url, token: 'x' }, 'GET', '/models')).status, 401);
    const r = await call({ url, token }, 'POST', '/completions', {
      prompt: 'import os',
      max_tokens: 3,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
  });

  it('prints a random token when none is set', async () => {
    const run = cli(['serve', '--model', EMBEDDED_MODEL(), '--port=0', '--threads=1'], {
      LOCALMOE_API_TOKEN: '',
    });
    running.push(run);
    await waitFor('the token on stdout', () => /Token: \S+/.test(run.out()), 30000);
    const token = /Token: (\S+)/.exec(run.out())![1];
    const url = /at (http:\S+\/v1)/.exec(run.out())![1];
    assert.equal((await call({ url, token }, 'GET', '/models')).status, 200);
    run.child.kill('SIGTERM');
    await run.exited;
  });

  it('refuses a non-loopback host, and bad arguments, with a message and an exit code', async () => {
    const exposed = cli(['serve', '--model', EMBEDDED_MODEL(), '--host', '0.0.0.0']);
    assert.equal(await exposed.exited, 1);
    assert.match(exposed.err(), /binds 127\.0\.0\.1 only/);
    const bad = cli(['serve', '--port', 'eighty']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.err(), /--port must be an integer/);
    const unknown = cli(['bogus']);
    assert.equal(await unknown.exited, 2);
    const help = cli(['serve', '--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.out(), /Usage: localmoe serve/);
  });
});
