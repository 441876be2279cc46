// User callbacks of Registration and Discovery: subscribe/unsubscribe, and calls that a throwing callback
// cannot break.

import { callUser } from '../user-code';

/** @internal One kind of callback (`onLost`, `onOnline`, …): its subscribers, called in subscription order. */
export class Callbacks<F extends (...args: never[]) => void> {
  private readonly subscribers = new Set<F>();

  /** @param what the subscribing method's name, for the TypeError. */
  constructor(private readonly what: string) {}

  /** Subscribes `cb`; returns the unsubscribe function. @throws TypeError if `cb` is not a function. */
  add(cb: F): () => void {
    if (typeof cb !== 'function') throw new TypeError(`${this.what} callback must be a function`);
    this.subscribers.add(cb);
    return () => void this.subscribers.delete(cb);
  }

  /** Calls every subscriber (those subscribed now) with `args`, each through {@link callUser}. */
  call(...args: Parameters<F>): void {
    for (const cb of [...this.subscribers]) callUser(() => cb(...args));
  }
}

/**
 * @internal A registration's callbacks (`onLost`, `onRestored`, `onReplaced`), with the rule that `onLost` and
 * `onRestored` alternate: a second loss before the restore is not reported, nor a restore without a loss.
 */
export class RegistrationEvents {
  readonly lost = new Callbacks<(error: Error) => void>('onLost');
  readonly restored = new Callbacks<() => void>('onRestored');
  readonly replaced = new Callbacks<(error: Error) => void>('onReplaced');
  /** `onLost` was reported and `onRestored` not yet. */
  private lostReported = false;

  reportLost(err: Error): void {
    if (this.lostReported) return;
    this.lostReported = true;
    this.lost.call(err);
  }

  reportRestored(): void {
    if (!this.lostReported) return;
    this.lostReported = false;
    this.restored.call();
  }
}
