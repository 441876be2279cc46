// Assertions on what is thrown, written once.

import * as assert from 'uvu/assert';

type ErrorClass<E extends Error = Error> = new (...a: never[]) => E;

/**
 * Asserts that `fn` throws synchronously exactly `cls` (TypeError is not RangeError) with a message matching `re`.
 * A returned promise is not a throw: it fails the assertion (and its rejection is observed).
 */
export function throwsKind(fn: () => unknown, cls: ErrorClass, re?: RegExp, what = ''): void {
  let caught: unknown;
  let threw = false;
  let returned: unknown;
  try {
    returned = fn();
  } catch (e) {
    caught = e;
    threw = true;
  }
  if (returned instanceof Promise) returned.catch(() => undefined);
  const at = what ? `${what}: ` : '';
  assert.ok(threw, `${at}expected a synchronous ${cls.name}, got ${returned instanceof Promise ? 'a promise' : `no throw (${String(returned)})`}`);
  assert.ok(caught instanceof Error, `${at}expected ${cls.name}, got ${String(caught)}`);
  assert.is((caught as Error).constructor, cls, `${at}expected ${cls.name}, got ${(caught as Error).constructor.name}: ${(caught as Error).message}`);
  if (re) assert.match((caught as Error).message, re, `${at}message`);
}

/** Awaits `p`, asserts it rejects with an instance of `cls`, and returns the error. */
export async function rejection<E extends Error>(p: Promise<unknown>, cls: ErrorClass<E>, what = 'the call'): Promise<E> {
  let caught: unknown;
  let rejected = false;
  try {
    await p;
  } catch (e) {
    caught = e;
    rejected = true;
  }
  assert.ok(rejected, `${what}: expected a rejection with ${cls.name}, got success`);
  assert.ok(caught instanceof cls, `${what}: expected ${cls.name}, got ${String(caught)}`);
  return caught as E;
}

/** `rejection` without the result, for tests that only care that it rejects with `cls`. */
export async function rejectsWith(p: Promise<unknown>, cls: ErrorClass, what: string): Promise<void> {
  await rejection(p, cls, what);
}

/** `throwsKind` checking that the message contains every one of `parts` (plain substrings, not patterns). */
export function throwsNaming(fn: () => unknown, cls: ErrorClass, ...parts: string[]): void {
  let message = '';
  throwsKind(() => {
    try {
      return fn();
    } catch (e) {
      message = e instanceof Error ? e.message : '';
      throw e;
    }
  }, cls);
  for (const p of parts) assert.ok(message.includes(p), `message ${JSON.stringify(message)} should contain ${JSON.stringify(p)}`);
}
