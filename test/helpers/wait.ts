// Waiting in tests, written once: a bounded poll, a bounded promise, and the one named pause for "let time pass".
// No test sleeps to synchronise with the client: it waits on a signal (a counter, a callback, etcd's state) with a
// bound loose enough for a shared, loaded 2-core machine, and fails with `what` when the bound is hit.

/** Resolves with `p`, or rejects with "timed out after <ms> ms: <what>" if it does not settle within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))),
  ]);
}

/**
 * Bounded poll: resolves with fn()'s first truthy value; a throw from fn counts as "not yet" and is named in the
 * timeout message. Throws after `timeoutMs`.
 */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  timeoutMs: number,
  what: string,
  intervalMs = 25,
): Promise<T> {
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

/**
 * Lets time pass on purpose: to show that nothing happens in a while, or to be the outage itself. Never use it to
 * wait for something to happen (use `eventually` or `within`); `why` says which of the two it is, for the reader.
 */
export function pause(ms: number, why: string): Promise<void> {
  void why;
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Lets callbacks already queued run (a few event-loop turns and a short timer), so that a count read afterwards
 * would see a duplicate call that was queued behind the first one.
 */
export async function settle(ms = 50): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, ms));
}

/** Tracks whether a promise has settled, without awaiting it (its rejection is observed, not unhandled). */
export function pending<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => (done = true));
  promise.catch(() => undefined);
  return { promise, settled: () => done };
}
