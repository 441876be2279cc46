// Watch callbacks that record, written once. They never assert inside the callback: an assertion thrown there is
// rethrown by the client on a later tick and kills the whole test file instead of failing one test. Errors are
// recorded and the test asserts on them.

import type { Response } from '../../src/index';

export type Seen = { type: number; key: string; value: string; rev: number };

/** A watch callback that records every Response, a flat list of its events, and every error Response. */
export function recorder() {
  const all: Response[] = [];
  const events: Seen[] = [];
  const errors: string[] = [];
  const cb = (r: Response) => {
    all.push(r);
    if (!r.is_ok()) errors.push(`watch error ${r.error_code()} ${r.error_message()}`);
    for (const e of r.events()) events.push({ type: e.event_type(), key: e.kv().key(), value: e.kv().as_string(), rev: e.kv().modified_index() });
  };
  return { all, events, errors, cb, keys: () => events.map((e) => e.key), values: () => events.map((e) => e.value) };
}

/** The recorder's error Responses as one message, or '' when there were none (for `assert.is(noErrors(..), '')`). */
export function errorsOf(rec: { errors: string[] }): string {
  return rec.errors.join('; ');
}

/**
 * A watch callback that appends each event's value to `into`, and an error Response as `watch error <code>
 * <message>` in its place: a test that compares `into` with the values it expects then fails on that test, naming
 * the error, instead of an assertion thrown inside the callback killing the file.
 */
export function valuesInto(into: string[]): (r: Response) => void {
  return (r) => {
    if (!r.is_ok()) into.push(`watch error ${r.error_code()} ${r.error_message()}`);
    for (const e of r.events()) into.push(e.kv().as_string());
  };
}
