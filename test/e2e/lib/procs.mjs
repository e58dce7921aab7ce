// Child processes for the end-to-end run: each one in its own process group, logged to a file,
// killed by process group (never by name) when the run ends, however it ends.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const started = new Set();

/** Spawns `cmd args` detached (new process group), stdout+stderr appended to `logFile`. */
export function startGroup(name, cmd, args, { env, cwd, logFile } = {}) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const proc = { name, child, pid: child.pid, logFile, exited: false, exitCode: null };
  child.on('exit', (code, signal) => {
    proc.exited = true;
    proc.exitCode = code ?? signal;
  });
  child.on('error', (err) => {
    proc.exited = true;
    proc.exitCode = String(err);
  });
  started.add(proc);
  return proc;
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM the process group, SIGKILL it after `graceMs` if anything in it is still alive. */
export async function killGroup(proc, graceMs = 3000) {
  if (!proc || !proc.pid) return;
  started.delete(proc);
  if (!groupAlive(proc.pid)) return;
  try {
    process.kill(-proc.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && groupAlive(proc.pid)) await sleep(100);
  if (groupAlive(proc.pid)) {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Synchronous last-resort kill of everything still registered (for process 'exit'). */
export function killAllSync() {
  for (const proc of started) {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  started.clear();
}

export async function killAll() {
  await Promise.all([...started].map((p) => killGroup(p)));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function httpStatus(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Waits until `url` answers 200, the process dies (throws with its log tail) or time runs out. */
export async function waitForHttp(url, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc?.exited) {
      throw new Error(
        `${proc.name} exited (${proc.exitCode}) before ${url} answered:\n${tail(proc.logFile)}`,
      );
    }
    if ((await httpStatus(url)) === 200) return;
    await sleep(250);
  }
  throw new Error(
    `${url} did not answer 200 within ${timeoutMs / 1000} s:\n${tail(proc?.logFile)}`,
  );
}

export function tail(file, lines = 30) {
  if (!file || !fs.existsSync(file)) return '(no log)';
  const all = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** Runs a command to completion (inheriting nothing interactive); throws with its output on failure. */
export function runSync(cmd, args, { env, cwd, timeoutMs = 600_000, label } = {}) {
  const r = spawnSync(cmd, args, {
    env,
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error || r.status !== 0) {
    const why = r.error ? String(r.error) : `exit ${r.status ?? r.signal}`;
    throw new Error(
      `${label ?? cmd} failed (${why}):\n${out.trimEnd().split('\n').slice(-40).join('\n')}`,
    );
  }
  return out;
}

/** Pids of processes whose command line contains `needle`, limited to descendants of `rootPid`. */
export function descendantsMatching(rootPid, needle) {
  const out = [];
  const children = new Map();
  const cmdline = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
      cmdline.set(Number(d), fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      /* process went away */
    }
  }
  const stack = [rootPid];
  while (stack.length) {
    const pid = stack.pop();
    for (const c of children.get(pid) ?? []) {
      if ((cmdline.get(c) ?? '').includes(needle)) out.push(c);
      stack.push(c);
    }
  }
  return out;
}
