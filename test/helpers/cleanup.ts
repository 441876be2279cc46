// Closing what a test opened, whatever happens in it: a watcher, client or stream left open by a failing test
// must not fail (or crash) the next one. Register `closeOwned` as the suite's `after.each` (uvu runs it after a
// failed test too) and wrap what each test opens in `owned(...)`.

type Closable = { Cancel(): unknown } | { close(): unknown };

const open: Closable[] = [];

/** Returns `x`, to be closed (Cancel() if it has one, else close()) after the current test. */
export function owned<T extends Closable>(x: T): T {
  open.push(x);
  return x;
}

/**
 * Closes everything `owned` since the last call, newest first. A close that throws is ignored: the test's own
 * assertions already decided its result, and a second close of something the test closed itself is harmless.
 */
export async function closeOwned(): Promise<void> {
  for (const x of open.splice(0).reverse()) {
    try {
      await ('Cancel' in x ? x.Cancel() : x.close());
    } catch {
      // already closed, or its client is: nothing left to release
    }
  }
}
