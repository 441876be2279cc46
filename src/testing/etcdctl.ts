// Running etcdctl (API v3) against a kit-started etcd: the endpoints, TLS flags and root credentials are
// filled in, the environment is scrubbed of ETCD*_ variables, and a non-zero exit is a result, not an error.
import { spawn } from 'node:child_process';
import { RingBuffer, childEnv } from './util';

export interface EtcdctlOptions {
  /** Written to etcdctl's stdin (e.g. the value for `put KEY` without a value argument). */
  input?: Buffer | string;
  /** Extra environment, merged over a copy of process.env without ETCD*_ variables. */
  env?: NodeJS.ProcessEnv;
  /** The endpoints passed with --endpoints (default: every member's). */
  endpoints?: string[];
  /** Kill etcdctl after this many ms (default 30 000); the result then has code 128+9 and says so in stderr. */
  timeoutMs?: number;
  /** Run without the root credentials of an `auth: true` etcd (default: with them). */
  noAuth?: boolean;
  /** 'buffer': stdout as the raw bytes (for binary values); default: a UTF-8 string. */
  encoding?: 'utf8' | 'buffer';
}

/** What etcdctl did. `stdout` is a string unless `encoding: 'buffer'` was asked for. */
export interface EtcdctlResult<Out extends string | Buffer = string> {
  code: number;
  stdout: Out;
  stderr: string;
}

/** How to reach one etcd with etcdctl. */
export interface EtcdctlTarget {
  bin: string | undefined;
  endpoints: string[];
  /** TLS flags (--cacert, --cert, --key, …). */
  tlsArgs: string[];
  /** 'user:password' for --user, when auth is on. */
  user?: string;
}

/** Runs `etcdctl --endpoints=… [tls] [--user] ...args`. Rejects only when etcdctl cannot be started. */
export function runEtcdctl(target: EtcdctlTarget, args: string[], opts: EtcdctlOptions = {}): Promise<EtcdctlResult<string | Buffer>> {
  const bin = target.bin;
  if (!bin) return Promise.reject(new Error('etcdctl not found: install it beside etcd, put it on PATH, or set ETCDCTL_BIN'));
  const endpoints = (opts.endpoints ?? target.endpoints).join(',');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const auth = target.user && !opts.noAuth ? [`--user=${target.user}`] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [`--endpoints=${endpoints}`, ...target.tlsArgs, ...auth, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: childEnv({ ETCDCTL_API: '3', ...opts.env }),
    });
    const out: Buffer[] = [];
    const err = new RingBuffer(64 * 1024);
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      err.push(Buffer.from(`\n[etcdctl killed after ${timeoutMs} ms]\n`));
      child.kill('SIGKILL');
    }, timeoutMs);
    timer.unref();
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({
        stdout: opts.encoding === 'buffer' ? stdout : stdout.toString('utf8'),
        stderr: err.toString(),
        code: code ?? (sig === 'SIGKILL' ? 137 : 128),
      });
    });
    child.stdin!.on('error', () => {}); // EPIPE when etcdctl exits before reading its input
    child.stdin!.end(opts.input);
  });
}
