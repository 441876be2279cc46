// Nothing the kit starts may outlive the test process, however that process ends. Two layers:
//
// - In-process: an 'exit' listener kills every live etcd process group and removes every temporary
//   directory synchronously. 'exit' runs on process.exit(), on an uncaught exception and when the event loop
//   runs dry (the kit's children and sockets are unref'd, so a forgotten etcd does not keep the process up).
// - Out of process: a small watchdog (a detached node process, in its own session) reads registrations from
//   a pipe to us. When the pipe closes — which happens however we die, signals and SIGKILL included — it kills
//   the registered process groups and removes the registered directories, then exits. No signal handlers
//   are installed, so test runners keep their own SIGINT/SIGTERM behaviour.
//
// Every etcd runs as the leader of its own process group (spawned detached), so killing the group cannot
// touch anything else and a Ctrl-C in the terminal reaches the runner, not etcd.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';

const pids = new Set<number>();
const dirs = new Set<string>();
let watchdog: ChildProcess | undefined;
let hooked = false;

// The watchdog's program. One JSON array per line: ["+p", pid], ["-p", pid], ["+d", dir], ["-d", dir].
const WATCHDOG = `
const fs = require('fs');
const pids = new Set(), dirs = new Set();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  for (let i; (i = buf.indexOf('\\n')) >= 0; ) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    try {
      const [op, arg] = JSON.parse(line);
      if (op === '+p') pids.add(arg); else if (op === '-p') pids.delete(arg);
      else if (op === '+d') dirs.add(arg); else if (op === '-d') dirs.delete(arg);
    } catch {}
  }
});
let done = false;
const reap = () => {
  if (done) return; done = true;
  for (const p of pids) { try { process.kill(-p, 'SIGKILL'); } catch {} }
  for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }); } catch {} }
  process.exit(0);
};
process.stdin.on('end', reap);
process.stdin.on('close', reap);
process.stdin.on('error', reap);
for (const s of ['SIGINT', 'SIGHUP', 'SIGTERM']) process.on(s, reap);
`;

function send(op: string, arg: string | number): void {
  if (!watchdog) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      // Plain node: without NODE_OPTIONS the parent's --require/--import hooks (tsx, test runners) stay out.
      env: { PATH: process.env.PATH ?? '' },
    });
    watchdog.on('error', () => {});
    watchdog.stdin!.on('error', () => {});
    watchdog.unref();
    (watchdog.stdin as unknown as net.Socket).unref?.();
  }
  watchdog.stdin!.write(JSON.stringify([op, arg]) + '\n');
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', reapNow);
}

/** Kills every registered process group and removes every registered directory, synchronously. */
export function reapNow(): void {
  for (const p of pids) {
    try {
      process.kill(-p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  pids.clear();
  for (const d of dirs) removeDir(d);
  dirs.clear();
}

function removeDir(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  } catch {
    /* best effort: the watchdog tries again */
  }
}

/** Registers a process group (the pid of a child spawned with `detached: true`) to be killed if we die. */
export function trackProcessGroup(pid: number): void {
  hook();
  pids.add(pid);
  send('+p', pid);
}

/** The group ended on its own: forget it (its pid may be reused by an unrelated process). */
export function untrackProcessGroup(pid: number): void {
  if (!pids.delete(pid)) return;
  send('-p', pid);
}

/** Registers a directory to be removed when we end. */
export function trackDir(dir: string): void {
  hook();
  dirs.add(dir);
  send('+d', dir);
}

/** Removes a tracked directory now and forgets it. Idempotent. */
export function releaseDir(dir: string): void {
  removeDir(dir);
  if (dirs.delete(dir)) send('-d', dir);
}
