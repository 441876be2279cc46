// Child node processes running TypeScript through tsx, written once: for tests that prove a process exits by itself
// (nothing left holding the event loop) or that need a registrant that can be killed.

import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

/** The repository root (children run there, so `require('./src/index.ts')` works). */
export const ROOT = path.resolve(__dirname, '../..');

/** How a child ended: its exit code (null when a signal ended it), the signal, whether we had to kill it, output. */
export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it had not exited after `timeoutMs` and was killed (SIGKILL). */
  hung: boolean;
  out: string;
  err: string;
}

export interface ChildOptions {
  /** Program text (`node -e`), or `file`: a script path. */
  code?: string;
  file?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** 'inherit' shows the child's output in the test log instead of collecting it. */
  stdio?: 'pipe' | 'inherit';
}

/** A running child with its output collected as it comes. */
export interface RunningChild {
  child: ChildProcess;
  readonly out: string;
  readonly err: string;
  /** Resolves once it exited, with its code (null: ended by a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL unless it has already exited. */
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `node -r tsx/cjs` on the program or file, in the repository root. */
export function startChild(opts: ChildOptions): RunningChild {
  const argv = ['-r', 'tsx/cjs', ...(opts.code !== undefined ? ['-e', opts.code] : [opts.file!]), ...(opts.args ?? [])];
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: opts.env ?? process.env,
    stdio: opts.stdio === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    child,
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    exited,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Runs a child to its end; after `timeoutMs` it is killed and reported `hung`. */
export async function runChild(opts: ChildOptions & { timeoutMs: number }): Promise<ChildResult> {
  const c = startChild(opts);
  let timer: NodeJS.Timeout | undefined;
  const hung = await Promise.race([
    c.exited.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), opts.timeoutMs))),
  ]);
  clearTimeout(timer);
  if (hung) c.kill();
  const { code, signal } = await c.exited;
  return { code, signal, hung, out: c.out, err: c.err };
}
