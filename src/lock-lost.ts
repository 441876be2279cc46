// Who hears that a lock taken with Client.lock() was lost with its lease.

/** A listener of {@link Client.onLockLost}. */
export type LockLostListener = (lockKey: string, error: Error) => void;

/**
 * @internal The onLockLost listeners of one client. A loss is never silent: with no listener it becomes a
 * process warning (code `ETCD_APIV3_LOCK_LOST`).
 */
export class LockLostListeners {
  private readonly listeners = new Set<LockLostListener>();

  /** Adds `listener`; returns the function that removes it. */
  add(listener: LockLostListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** The lock `lockKey` was lost because its lease ended with `error`: tells every listener once. */
  emit(lockKey: string, error: Error): void {
    if (this.listeners.size === 0) {
      process.emitWarning(`the lease of lock ${JSON.stringify(lockKey)} was lost, and the lock with it: ${error.message}`, {
        code: 'ETCD_APIV3_LOCK_LOST',
      });
      return;
    }
    for (const l of [...this.listeners]) {
      try {
        l(lockKey, error);
      } catch (err) {
        // A listener's own failure must not stop the others; it surfaces like any uncaught error.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
