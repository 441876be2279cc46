// The one retry loop of registration and discovery: try, and on failure pause with a growing delay that
// does not keep the process alive and that the owner cuts short when it closes.

import { backoffDelay, DISCOVERY_RETRY, sleep } from '../backoff';

/** Backoff between attempts while etcd is unreachable: the DISCOVERY_RETRY policy, 100 ms doubling to 2 s, ±25 % jitter. */
export function retryDelayMs(attempt: number): number {
  return backoffDelay(DISCOVERY_RETRY, attempt);
}

/**
 * @internal Runs attempts with backoff. `run(keepGoing, attempt)` calls `attempt(0)`, `attempt(1)`, … until one
 * resolves true (done) or `keepGoing()` turns false (checked before every attempt and after every failed one);
 * between two attempts it pauses `retryDelayMs(n)` on an unref'd timer. `wake()` ends the current pause at
 * once — the owner calls it after making `keepGoing()` false (on close), so the loop ends without waiting.
 * `attempt` must not reject. One loop at a time per instance.
 */
export class Backoff {
  private cut: (() => void) | undefined;

  async run(keepGoing: () => boolean, attempt: (n: number) => Promise<boolean>): Promise<void> {
    for (let n = 0; keepGoing(); n++) {
      if (await attempt(n)) return;
      if (!keepGoing()) return;
      await this.pause(retryDelayMs(n));
    }
  }

  /** Ends the current pause, if any, at once. */
  wake(): void {
    this.cut?.();
  }

  private async pause(ms: number): Promise<void> {
    const cut = new AbortController();
    this.cut = () => cut.abort();
    await sleep(ms, cut.signal, { ref: false });
    this.cut = undefined;
  }
}
