// Small shared pieces for the integration suites (not a suite itself: the file name does not end in .test.ts).

import * as assert from 'uvu/assert';
import type { Response, Value } from '../../src/index';

let seq = 0;

/** A key prefix no other test (or run) uses: `/it/<topic>/<pid>-<n>-<random>/`. */
export function uniquePrefix(topic: string): string {
  return `/it/${topic}/${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}/`;
}

/** Bounded poll: resolves with fn()'s first truthy value, throws after timeoutMs. */
export async function eventually<T>(fn: () => Promise<T | undefined | false | null> | T | undefined | false | null, timeoutMs: number, what: string, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

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
