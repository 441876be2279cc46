// One registered instance and the state machine that keeps its key in etcd: the states and the moves between
// them are a table (TRANSITIONS), and every move goes through Registration.goto(), which checks and traces it
// (ETCD_APIV3_TRACE=discovery). Built on the public client API only (leases, KeepAlive, Transaction, Watcher),
// reached through RegistrationPorts (registration-ports.ts) so that the machine can be unit-tested with a fake.

import { ClientClosedError, EventType, type Response, type Value } from '../core';
import { AlreadyRegisteredError, KeyDeletedError, RegistrationReplacedError } from '../errors';
import { trace } from '../trace';
import { Backoff } from './backoff';
import { RegistrationEvents } from './callbacks';
import { etcdError, type Claim } from './claim';
import { OwnKeyWatch } from './own-key-watch';
import type { LeaseKeeper, RegistrationPorts } from './registration-ports';

export type LostCallback = (error: Error) => void;
export type RestoredCallback = () => void;
export type ReplacedCallback = (error: Error) => void;

/** @internal Where a registration stands; see {@link Registration} for what each state means. */
export type RegistrationState = 'establishing' | 'active' | 'repairing' | 'restoring' | 'closed';

/**
 * @internal The moves a registration may make, from → to. Any other move is a bug, and goto() throws on it.
 *
 * | from         | to         | when                                                                    |
 * | ------------ | ---------- | ----------------------------------------------------------------------- |
 * | establishing | active     | the first write is done                                                 |
 * | establishing | closed     | the first write failed or found the key taken                           |
 * | active       | repairing  | the key was deleted under the live lease, or the own-key watch ended    |
 * | active       | restoring  | the lease was lost                                                      |
 * | repairing    | active     | the key is written again (or found ours)                                |
 * | repairing    | restoring  | the lease was lost meanwhile                                            |
 * | restoring    | active     | a new lease is granted and the key written under it                     |
 * | any but closed | closed   | close(), or someone else took the key over                             |
 */
export const TRANSITIONS: Readonly<Record<RegistrationState, readonly RegistrationState[]>> = {
  establishing: ['active', 'closed'],
  active: ['repairing', 'restoring', 'closed'],
  repairing: ['active', 'restoring', 'closed'],
  restoring: ['active', 'closed'],
  closed: [],
};

/**
 * One registered instance: its key exists in etcd while this object is open.
 *
 * States (every move is checked against TRANSITIONS in src/discovery/registration.ts): `establishing → active
 * ⇄ repairing`, `active ⇄ restoring`, and from any of them `→ closed`.
 * - **active**: the key is attached to `leaseId`, refreshed by a KeepAlive, and the registration watches its
 *   own key (a Watcher, which resumes by itself after disconnects and etcd restarts). Disconnects and etcd
 *   restarts that keep the lease change nothing.
 * - **restoring**: the lease was lost (the KeepAlive stopped: an outage longer than the TTL, a revoke by
 *   someone else, an etcd that lost it). `onLost` callbacks get the KeepAlive's error; then, with backoff
 *   (100 ms → 2 s), it grants a new lease and writes the key again under it — if the key is absent or still
 *   held by the lost lease — until that works: then `onRestored` callbacks run and `leaseId` is the new lease.
 * - **repairing**: the key was deleted (`etcdctl del`, another client) while the lease still lives. With the
 *   same backoff it writes the key again under the same lease, if the key is still absent; `onLost` (an Error
 *   naming the key) and `onRestored` are reported once that write is done or has failed once for another
 *   reason than a lost lease (so watchers of the prefix see offline, then online again). If the write finds
 *   the lease gone, this is a lease loss (above), reported once, with the KeepAlive's error.
 * - **taken over** (→ closed): someone else wrote the key under another lease, or under none (a registration
 *   of the same instance with `replace: true`, here or in another process, or a plain put). The last writer
 *   wins and this registration steps aside rather than fight over the key: it never writes the key again,
 *   `onReplaced` callbacks get an Error naming the new holder, and it closes itself (stops its KeepAlive and
 *   revokes its lease, which no longer holds the key). This holds whether or not this registration was made
 *   with `replace`. A write under this registration's own lease (say, an operator editing the value with
 *   `etcdctl put --lease`) is not a takeover and is left as it is.
 * - **closed**: `close()` stops the KeepAlive and the watch and revokes the lease, so the key disappears at
 *   once.
 * `onLost` and `onRestored` alternate: a second loss before the restore is not reported again.
 * If the client is closed, the KeepAlive and the watch stop and the key expires after the TTL; nothing is
 * reported. Nothing here ever produces an unhandled rejection, and nothing keeps the process alive once the
 * registration or its client is closed.
 */
export class Registration {
  private state: RegistrationState = 'establishing';
  private lease = 0n;
  private keepAlive: LeaseKeeper | undefined;
  /** Owned by the newest KeepAlive: aborted when another one starts, so only the newest one's loss counts. */
  private leaseOwner: AbortController | undefined;
  /** The current KeepAlive stopped before this registration (re)became active: activate() reports it. */
  private earlyLoss: Error | undefined;
  private readonly events = new RegistrationEvents();
  /** The watch on this registration's key, while active or repairing. */
  private own: OwnKeyWatch | undefined;
  /** The revision of the last deletion of the key the watch reported. */
  private deletedAt = 0;
  /** The restore or repair loop running now; aborting it ends that loop, its pause included. */
  private loop: AbortController | undefined;
  private restoring: Promise<void> | undefined;
  private repairing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  /** @internal Made by {@link Registry.register}. */
  constructor(
    private readonly ports: RegistrationPorts,
    /** The service name. */
    readonly service: string,
    /** The instance name (the address, in the go-endpoints layout). */
    readonly instance: string,
    /** The registered address. */
    readonly address: string,
    /** The etcd key of this instance. */
    readonly key: string,
    private readonly value: string,
    private readonly ttl: number,
    private readonly onClosed: (r: Registration) => void,
  ) {}

  /** The lease the key is attached to now (it changes when the registration is restored). */
  get leaseId(): bigint {
    return this.lease;
  }

  /** True once `close()` was called, or the key was taken over by someone else. */
  get closed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Calls `cb(error)` each time the registration is lost — its lease lost, or its key deleted while the lease
   * lives — before it writes the key again. Returns an unsubscribe function.
   */
  onLost(cb: LostCallback): () => void {
    return this.events.lost.add(cb);
  }

  /** Calls `cb()` each time the registration is back after a loss. Returns an unsubscribe function. */
  onRestored(cb: RestoredCallback): () => void {
    return this.events.restored.add(cb);
  }

  /**
   * Calls `cb(error)` once if someone else takes the key over (writes it under another lease or none): this
   * registration has then ended for good (`closed` is true) and does not write the key again. Returns an
   * unsubscribe function.
   */
  onReplaced(cb: ReplacedCallback): () => void {
    return this.events.replaced.add(cb);
  }

  /**
   * Deregisters: stops the KeepAlive and the watch and revokes the lease, so the key disappears at once.
   * Idempotent; always resolves (if the revoke fails — client closed, lease gone, etcd unreachable — the key
   * still expires within the TTL, as nothing refreshes it any more). After a takeover it resolves once the
   * registration has finished stepping aside, and leaves the new holder's key alone.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** `await using reg = await registry.register(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal First registration: lease, create-if-absent (or put with `replace`), keepalive, watch (acknowledged). */
  async establish(replace: boolean): Promise<void> {
    const ka = await this.startKeepAlive();
    const id = ka.Lease();
    let failure: Error | undefined;
    let revision = 0;
    try {
      if (replace) {
        const r = await this.ports.put(this.key, this.value, id);
        if (r.is_ok()) revision = r.index();
        else failure = etcdError('cannot register', this.describe(), r);
      } else {
        const c = await this.claim(id);
        if (c.kind === 'written' || c.kind === 'mine') revision = c.revision;
        else if (c.kind === 'failed') failure = c.error;
        else {
          failure = new AlreadyRegisteredError(
            `${this.describe()} is already registered (key ${this.key} exists); pass { replace: true } to take it over`,
          );
        }
      }
    } catch (err) {
      failure = err as Error;
    }
    if (failure) {
      this.goto('closed', `first write failed: ${failure.message}`);
      ka.Cancel();
      await this.ports.revoke(id);
      throw failure;
    }
    this.activate(ka, revision);
    // Resolve once etcd watches the key too — or after a TTL at most, should the connection drop just now (the
    // watch then starts when it is back; one that ends before starting is looked after by watch()).
    const w = this.own?.watch;
    if (w) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.ttl * 1000)).unref());
      await Promise.race([w.ready().catch(() => {}), late]);
      clearTimeout(timer);
    }
  }

  /**
   * The one place the state changes: checks the move against TRANSITIONS and traces it.
   * @throws Error for a move the table does not allow (a bug here, never the user's doing).
   */
  private goto(next: RegistrationState, why: string): void {
    const from = this.state;
    if (!TRANSITIONS[from].includes(next)) {
      throw new Error(`registration ${this.key}: no move from ${from} to ${next} (${why})`);
    }
    trace('discovery', `${this.describe()} (lease ${this.lease}): ${from} → ${next}: ${why}`);
    this.state = next;
  }

  private describe(): string {
    return `service '${this.service}' instance '${this.instance}'`;
  }

  private claim(lease: bigint, from?: bigint): Promise<Claim> {
    return this.ports.claim(this.describe(), this.key, this.value, lease, from);
  }

  /** Grants a lease and keeps it alive; from now on only this KeepAlive's loss counts. */
  private async startKeepAlive(): Promise<LeaseKeeper> {
    this.leaseOwner?.abort();
    const owner = (this.leaseOwner = new AbortController());
    this.earlyLoss = undefined;
    return this.ports.keepAlive(this.ttl, (err) => {
      if (!owner.signal.aborted) this.keepAliveStopped(err);
    });
  }

  private keepAliveStopped(err: Error): void {
    if (this.state === 'closed') return;
    if (this.state !== 'active' && this.state !== 'repairing') {
      this.earlyLoss = err; // seen by activate()
      return;
    }
    this.lost(err);
  }

  /** The key is written under `ka`'s lease as of `revision`: active, watching from there. */
  private activate(ka: LeaseKeeper, revision: number): void {
    this.keepAlive = ka;
    this.lease = ka.Lease();
    this.goto('active', `key written at revision ${revision}`);
    this.watch(revision + 1);
    this.events.reportRestored();
    const early = this.earlyLoss;
    if (early && this.state === 'active') this.lost(early);
  }

  /** Starts a restore or repair loop, ending the one before: its signal, and a backoff the abort cuts short. */
  private newLoop(): { signal: AbortSignal; backoff: Backoff } {
    this.loop?.abort();
    const loop = (this.loop = new AbortController());
    const backoff = new Backoff();
    loop.signal.addEventListener('abort', () => backoff.wake(), { once: true });
    return { signal: loop.signal, backoff };
  }

  // ---- watching the key -------------------------------------------------------------------------------------

  private watch(fromRevision: number): void {
    this.own = OwnKeyWatch.start(this.ports, this.key, fromRevision, (r) => this.onWatch(r), (cancelled) => {
      this.own = undefined;
      // Cancelled without us: the client was closed. Otherwise etcd ended the watch (its resume revision was
      // compacted): look at the key again and watch from there (a repair already running does that).
      if (!cancelled && this.state === 'active') this.repair(undefined);
    });
  }

  /** Stops the own-key watch, if any: silenced now, cancelled when the promise resolves (never rejects). */
  private stopWatching(): Promise<void> | undefined {
    const o = this.own;
    this.own = undefined;
    return o?.stop();
  }

  private onWatch(r: Response): void {
    // An error Response (code 11 on compaction) is the watcher's last word; Wait() then looks again.
    if (!r.is_ok()) return;
    for (const e of r.events()) {
      if (this.state !== 'active' && this.state !== 'repairing') return;
      const kv = e.kv();
      if (e.event_type() === EventType.DELETE_) {
        this.deletedAt = Math.max(this.deletedAt, kv.modified_index());
        if (this.state === 'active') {
          this.repair(new KeyDeletedError(`${this.describe()}: key ${this.key} was deleted while its lease ${this.lease} was alive; writing it again`));
        }
      } else if (e.event_type() === EventType.PUT && kv.lease() !== this.lease) {
        this.takenOver(kv);
      }
    }
  }

  /**
   * Writes the key again under the current lease if it is absent, with backoff; `deleted` is the loss to
   * report (undefined when the watch ended and the key is only looked at again).
   */
  private repair(deleted: Error | undefined): void {
    this.goto('repairing', deleted ? 'key deleted' : 'own-key watch ended');
    const lease = this.lease;
    const { signal, backoff } = this.newLoop();
    const live = (): boolean => !signal.aborted && this.state === 'repairing';
    this.repairing = backoff.run(live, async () => {
      let c: Claim;
      try {
        c = await this.claim(lease);
      } catch (err) {
        return err instanceof ClientClosedError; // closed: the KeepAlive stopped too; else try again
      }
      if (!live()) return true;
      switch (c.kind) {
        case 'written':
        case 'mine':
          if (this.deletedAt > c.revision) return false; // deleted again since: once more
          if (c.kind === 'written') {
            this.events.reportLost(deleted ?? new KeyDeletedError(`${this.describe()}: key ${this.key} was found deleted while its lease ${lease} was alive; writing it again`));
            if (!live()) return true; // an onLost callback closed it
          }
          this.goto('active', `key ${c.kind === 'written' ? 'written again' : 'found ours'} at revision ${c.revision}`);
          if (!this.own) this.watch(c.revision + 1);
          this.events.reportRestored();
          return true;
        case 'held':
          this.takenOver(c.holder);
          return true;
        case 'absent':
          return false;
        case 'failed':
          if (c.leaseGone) {
            // The deletion came from the lease's end: let the KeepAlive find out now and report it (→ restoring).
            this.keepAlive?.Check().catch(() => {});
          } else if (deleted) {
            this.events.reportLost(deleted);
          }
          return false;
      }
    });
  }

  // ---- lease loss -------------------------------------------------------------------------------------------

  private lost(err: Error): void {
    this.goto('restoring', `lease ${this.lease} lost: ${err.message}`);
    this.keepAlive = undefined;
    void this.stopWatching();
    this.events.reportLost(err);
    this.restoring = this.restore();
  }

  /**
   * Re-grants and writes the key again with backoff until it works, the registration is closed, the client is,
   * or someone else turns out to hold the key. Starting it ends a repair loop in progress.
   */
  private restore(): Promise<void> {
    const old = this.lease;
    const { signal, backoff } = this.newLoop();
    const live = (): boolean => !signal.aborted && this.state === 'restoring';
    return backoff.run(live, async () => {
      let ka: LeaseKeeper | undefined;
      try {
        ka = await this.startKeepAlive();
        if (live()) {
          let c = await this.claim(ka.Lease());
          // Still held by the lost lease (etcd has not expired it yet): ours to move to the new lease.
          if (c.kind === 'held' && c.holder.lease() === old && live()) c = await this.claim(ka.Lease(), old);
          if (live() && (c.kind === 'written' || c.kind === 'mine')) {
            void this.ports.revoke(old); // if it still exists somewhere, it holds nothing of ours now
            this.activate(ka, c.revision);
            return true;
          }
          if (live() && c.kind === 'held') this.takenOver(c.holder);
        }
      } catch (err) {
        if (err instanceof ClientClosedError) {
          ka?.Cancel();
          return true; // the client is gone: nothing left to restore with
        }
      }
      if (ka) {
        ka.Cancel();
        await this.ports.revoke(ka.Lease());
      }
      return false;
    });
  }

  // ---- the end ----------------------------------------------------------------------------------------------

  /** Someone else holds the key now: step aside for good (see the class comment). */
  private takenOver(holder: Value): void {
    if (this.state === 'closed') return;
    const by = holder.lease() === 0n ? 'no lease' : `lease ${holder.lease()}`;
    const err = new RegistrationReplacedError(
      `${this.describe()} was taken over: key ${this.key} was written by someone else (now ${JSON.stringify(holder.as_string())} under ${by}); this registration has ended`,
    );
    void this.close();
    this.events.replaced.call(err);
  }

  private shutdown(): Promise<void> {
    if (this.state !== 'closed') this.goto('closed', 'closed');
    this.loop?.abort();
    this.keepAlive?.Cancel();
    const stopped = this.stopWatching();
    return (async () => {
      await stopped;
      await this.restoring;
      await this.repairing;
      await this.ports.revoke(this.lease);
      this.onClosed(this);
    })();
  }
}
