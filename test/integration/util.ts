// Small shared pieces for the integration suites (not a suite itself: the file name does not end in .test.ts).

import { execFileSync } from 'node:child_process';
import type { Duplex } from 'node:stream';
import type { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import type { Response, Value } from '../../src/index';

// uniquePrefix and eventually live in test/helpers/ (one copy for every test folder); re-exported for the
// files that import them from here.
export { uniquePrefix } from '../helpers/unique';
export { eventually } from '../helpers/wait';

/** Asserts the response succeeded, printing its error otherwise. */
export function ok(r: Response, what = 'call'): Response {
  assert.ok(r.is_ok(), `${what} failed: ${r.error_code()} ${r.error_message()}`);
  assert.is(r.error_code(), 0);
  assert.is(r.error_message(), '');
  return r;
}

/** Asserts a failed response with the exact code and message. */
export function failed(r: Response, code: number, message?: string | RegExp): Response {
  assert.not.ok(r.is_ok(), `expected error ${code}, got success ${r}`);
  assert.is(r.error_code(), code, `error code (message: ${r.error_message()})`);
  if (typeof message === 'string') assert.is(r.error_message(), message);
  else if (message) assert.match(r.error_message(), message);
  return r;
}

/** Asserts a Value is the default empty one. */
export function isEmptyValue(v: Value, what = 'value'): void {
  assert.is(v.key(), '', `${what}.key()`);
  assert.is(v.key_bytes().length, 0, `${what}.key_bytes()`);
  assert.is(v.as_string(), '', `${what}.as_string()`);
  assert.is(v.created_index(), 0, `${what}.created_index()`);
  assert.is(v.modified_index(), 0, `${what}.modified_index()`);
  assert.is(v.version(), 0, `${what}.version()`);
  assert.is(v.lease(), 0n, `${what}.lease()`);
}

/** Asserts a Value's key and value (as strings) and optionally its version. */
export function kvIs(v: Value, key: string, value: string, version?: number): void {
  assert.is(v.key(), key, 'key()');
  assert.is(v.as_string(), value, `as_string() of ${key}`);
  if (version !== undefined) assert.is(v.version(), version, `version() of ${key}`);
  assert.is(v.is_dir(), false);
}

export const KEY_NOT_FOUND = 'etcd-cpp-apiv3: key not found';
export const COMPARE_FAILED = 'etcd-cpp-apiv3: compare failed';
export const KEY_ALREADY_EXISTS = 'etcd-cpp-apiv3: key already exists';
export const LEASE_NOT_FOUND = 'etcdserver: requested lease not found';

/** Reads messages from an object-mode duplex one at a time, each wait bounded. */
export function reader<T>(stream: Duplex) {
  const queue: T[] = [];
  const waiters: (() => void)[] = [];
  let error: unknown;
  let ended = false;
  const wake = () => waiters.splice(0).forEach((w) => w());
  stream.on('data', (m: T) => {
    queue.push(m);
    wake();
  });
  stream.on('error', (e) => {
    error = e;
    wake();
  });
  stream.on('end', () => {
    ended = true;
    wake();
  });
  stream.on('close', () => {
    ended = true;
    wake();
  });
  return {
    get error() {
      return error;
    },
    async next(timeoutMs = 5000, what = 'a stream message'): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (queue.length > 0) return queue.shift()!;
        if (error) throw error;
        if (ended) throw new Error(`stream ended while waiting for ${what}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

// ---- etcd version gates ------------------------------------------------------------------------------------
// A test that depends on one etcd version's behaviour says so in its name and is skipped elsewhere with the reason
// printed. The version is the one of the binary the launcher starts (ETCD_BIN, else `etcd` on PATH).


let cachedVersion: [number, number, number] | undefined;

/** The [major, minor, patch] of the etcd binary the tests start. */
export function etcdVersion(): [number, number, number] {
  if (cachedVersion) return cachedVersion;
  const out = execFileSync(process.env.ETCD_BIN || 'etcd', ['--version'], { encoding: 'utf8' });
  const m = /etcd Version:\s*(\d+)\.(\d+)\.(\d+)/.exec(out);
  if (!m) throw new Error(`cannot read the etcd version from: ${out}`);
  cachedVersion = [Number(m[1]), Number(m[2]), Number(m[3])];
  return cachedVersion;
}

function cmp(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/**
 * True when the etcd under test satisfies `range`: '>=3.6', '<3.6', '>=3.5.28' (both bounds may be combined with a
 * space: '>=3.5 <3.7'; alternatives with '||', for a fix that reached several release lines:
 * '>=3.4.25 <3.5 || >=3.5.8').
 */
export function etcdSatisfies(range: string): boolean {
  if (range.includes('||')) return range.split('||').some((alt) => etcdSatisfies(alt));
  const v = etcdVersion();
  const parts = range.split(/\s+/).filter(Boolean);
  if (parts.length === 0) throw new Error(`bad etcd version range: ${range}`);
  return parts.every((part) => {
    const m = /^(>=|<=|<|>|=)?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(part);
    if (!m) throw new Error(`bad etcd version range: ${range}`);
    const want = [Number(m[2]), Number(m[3]), m[4] === undefined ? 0 : Number(m[4])];
    const c = cmp(v, want);
    switch (m[1] ?? '=') {
      case '>=': return c >= 0;
      case '>': return c > 0;
      case '<=': return c <= 0;
      case '<': return c < 0;
      default: return m[4] === undefined ? v[0] === want[0] && v[1] === want[1] : c === 0;
    }
  });
}

/**
 * Registers a test that only means something on some etcd versions. Its name carries the range
 * (`name [etcd >=3.7]`); elsewhere it is skipped and the reason is printed.
 */
export function testOnEtcd(range: string, suite: typeof uvuTest, name: string, fn: () => Promise<void> | void): void {
  const full = `${name} [etcd ${range}]`;
  if (etcdSatisfies(range)) suite(full, fn);
  else {
    console.log(`skipped: ${full} — the etcd under test is ${etcdVersion().join('.')}`);
    suite.skip(full, fn);
  }
}

// Version ranges of etcd behaviour the tests gate on (etcd-io/etcd CHANGELOGs; see README "Supported etcd versions").

/**
 * Auth hardening (CVE-2026-33413): with auth on, Compact needs root, LeaseGrant/Revoke/TimeToLive an authenticated
 * user, LeaseKeepAlive put permission on every key attached to the lease.
 */
export const ETCD_AUTH_HARDENED = '>=3.4.42 <3.5 || >=3.5.28 <3.6 || >=3.6.9';
/** Maintenance.Status needs the root role when auth is on. */
export const ETCD_STATUS_ADMIN_ONLY = '>=3.4.42 <3.5 || >=3.5.28 <3.5.32 || >=3.6.0 <3.6.12';
/**
 * A requested progress notification goes through the watch stream (ordered after earlier events) and is dropped
 * while any watcher on the stream is unsynced; before, it was answered at once, whatever the watchers' state.
 */
export const ETCD_PROGRESS_ORDERED = '>=3.4.25 <3.5 || >=3.5.8';
