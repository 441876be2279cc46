// Service registration: one key per instance under a lease this process keeps alive, so the key vanishes
// when the process dies and comes back by itself when the lease is lost or the key deleted. Built on the
// public client API only (leases, KeepAlive, Transaction, Watcher).

import {
  Client,
  ClientClosedError,
  ERROR_COMPARE_FAILED,
  ERROR_GRPC_NOT_FOUND,
  EventType,
  KeepAlive,
  Transaction,
  Watcher,
  type Response,
  type Value,
} from '../core';
import { AlreadyRegisteredError, ClosedError, EtcdError, KeyDeletedError, RegistrationReplacedError } from '../errors';
import { toOptionalBool, toPositiveTtl } from '../args';
import { checkClient, checkOptions } from './args';
import { Backoff } from './backoff';
import { Callbacks } from './callbacks';
import { encodeValue, instanceKey, toFormat, toName, toPrefix, type DiscoveryFormat } from './layout';

export interface RegistryOptions {
  /** Keys are `<prefix>/<service>/<instance>`; default '/service'. */
  prefix?: string;
  /** Lease TTL in seconds (default 3): how long a crashed process's instances stay visible. */
  ttl?: number;
  /** 'plain' (default) or Go's 'go-endpoints' layout. */
  format?: DiscoveryFormat;
}

export interface RegisterOptions {
  /** Any JSON value, stored beside the address and reported by Discovery. */
  metadata?: unknown;
  /** Take over the key if it already exists (default false: refuse). */
  replace?: boolean;
  /** This registration's lease TTL in seconds (default: the registry's). */
  ttl?: number;
}

export type LostCallback = (error: Error) => void;
export type RestoredCallback = () => void;
export type ReplacedCallback = (error: Error) => void;

const DEFAULT_TTL = 3;

/** Revokes a lease and ignores the outcome (gone already, client closed, network down: it expires anyway). */
function revokeQuietly(client: Client, id: bigint): Promise<void> {
  try {
    return client.leaserevoke(id).then(
      () => {},
      () => {},
    );
  } catch {
    return Promise.resolve();
  }
}

/**
 * Registers service instances in etcd. Each registration is one key under its own lease, kept
 * alive by this process; see {@link Registration} for what happens on lease loss and close.
 */
export class Registry {
  private readonly client: Client;
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly format: DiscoveryFormat;
  private readonly live = new Set<Registration>();
  private closing: Promise<void> | undefined;

  /** @throws TypeError / RangeError for a bad client or option. */
  constructor(client: Client, options: RegistryOptions = {}) {
    this.client = checkClient(client);
    checkOptions(options);
    this.prefix = toPrefix(options.prefix);
    this.ttl = options.ttl === undefined ? DEFAULT_TTL : toPositiveTtl(options.ttl);
    this.format = toFormat(options.format);
  }

  /**
   * Registers `instance` of `service` at `address`: key `<prefix>/<service>/<instance>` (plain layout) or
   * `<prefix>/<service>/<address>` (go-endpoints: there the instance name is the address and the `instance`
   * argument is not used), under a new lease of `ttl` seconds kept alive by this process and watched by the
   * registration (see {@link Registration}). Resolves once the key is written and etcd watches it.
   *
   * Refuses (rejects with AlreadyRegisteredError naming service, instance and key) when the key exists
   * already, unless `replace: true`. Rejects with ClientClosedError if the client is closed, with ClosedError
   * if the Registry is, with an EtcdError (etcd's `code` and `details`) if etcd refused, or with the
   * KeepAliveError of the lease grant. A failed registration leaves nothing behind (its lease is
   * revoked).
   * @throws TypeError / RangeError (synchronously) for bad arguments or metadata that is not JSON.
   */
  register(service: string, instance: string, address: string, options: RegisterOptions = {}): Promise<Registration> {
    const svc = toName('service', service);
    if (typeof address !== 'string' || address === '') throw new TypeError(`address must be a non-empty string, got ${JSON.stringify(address) ?? typeof address}`);
    let name: string;
    if (this.format === 'plain') name = toName('instance', instance);
    else {
      if (typeof instance !== 'string') throw new TypeError(`instance must be a string, got ${instance === null ? 'null' : typeof instance}`);
      name = address;
    }
    checkOptions(options);
    const ttl = options.ttl === undefined ? this.ttl : toPositiveTtl(options.ttl);
    const replace = toOptionalBool('replace', options.replace);
    const value = encodeValue(this.format, address, options.metadata);
    const key = instanceKey(this.prefix, svc, name);
    if (this.closing) return Promise.reject(new ClosedError('this Registry is closed'));
    const reg = new Registration(this.client, svc, name, address, key, value, ttl, (r) => this.live.delete(r));
    return reg.establish(replace).then(async () => {
      if (this.closing) {
        await reg.close();
        throw new ClosedError('this Registry is closed');
      }
      this.live.add(reg);
      return reg;
    });
  }

  /** Closes every registration this registry made (each revokes its lease). Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all([...this.live].map((r) => r.close())).then(() => {});
    return this.closing;
  }

  /** `await using registry = new Registry(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** What a conditional write of the key found: see {@link Registration.claim}. */
type Claim =
  | { kind: 'written'; revision: number }
  | { kind: 'mine'; revision: number }
  | { kind: 'held'; holder: Value }
  | { kind: 'absent' }
  | { kind: 'failed'; error: Error; leaseGone: boolean };

/**
 * One registered instance: its key exists in etcd while this object is open.
 *
 * States: `establishing → active ⇄ repairing`, `active ⇄ restoring`, and from any of them `→ closed`.
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
  private state: 'establishing' | 'active' | 'repairing' | 'restoring' | 'closed' = 'establishing';
  private lease = 0n;
  private keepAlive: KeepAlive | undefined;
  /** Identifies the KeepAlive whose failure counts; failures of older ones are ignored. */
  private generation = 0;
  /** The current KeepAlive stopped before this registration (re)became active. */
  private earlyLoss: Error | undefined;
  /** `onLost` was reported and `onRestored` not yet. */
  private lostReported = false;
  private readonly lostCbs = new Callbacks<LostCallback>('onLost');
  private readonly restoredCbs = new Callbacks<RestoredCallback>('onRestored');
  private readonly replacedCbs = new Callbacks<ReplacedCallback>('onReplaced');
  /** The watch on this registration's key, while active or repairing. */
  private watcher: Watcher | undefined;
  /** The revision of the last deletion of the key the watch reported. */
  private deletedAt = 0;
  /** Paces the current restore or repair loop; a new one for each loop, so only the newest one runs. */
  private backoff = new Backoff();
  private restoring: Promise<void> | undefined;
  private repairing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  /** @internal Made by {@link Registry.register}. */
  constructor(
    private readonly client: Client,
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
    return this.lostCbs.add(cb);
  }

  /** Calls `cb()` each time the registration is back after a loss. Returns an unsubscribe function. */
  onRestored(cb: RestoredCallback): () => void {
    return this.restoredCbs.add(cb);
  }

  /**
   * Calls `cb(error)` once if someone else takes the key over (writes it under another lease or none): this
   * registration has then ended for good (`closed` is true) and does not write the key again. Returns an
   * unsubscribe function.
   */
  onReplaced(cb: ReplacedCallback): () => void {
    return this.replacedCbs.add(cb);
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
        const r = await this.client.put(this.key, this.value, id);
        if (r.is_ok()) revision = r.index();
        else failure = this.etcdError('cannot register', r);
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
      this.state = 'closed';
      ka.Cancel();
      await revokeQuietly(this.client, id);
      throw failure;
    }
    this.activate(ka, revision);
    // Resolve once etcd watches the key too — or after a TTL at most, should the connection drop just now (the
    // watch then starts when it is back; one that ends before starting is looked after by watch()).
    const w = this.watcher;
    if (w) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.ttl * 1000)).unref());
      await Promise.race([w.ready().catch(() => {}), late]);
      clearTimeout(timer);
    }
  }

  private describe(): string {
    return `service '${this.service}' instance '${this.instance}'`;
  }

  private etcdError(what: string, r: Response): Error {
    return new EtcdError(`${what} ${this.describe()}: etcd answered ${r.error_code()} ${r.error_message()}`, r.error_code(), r.error_message());
  }

  /** Grants a lease and keeps it alive; its failure is attributed to this generation only. */
  private async startKeepAlive(): Promise<KeepAlive> {
    const generation = ++this.generation;
    this.earlyLoss = undefined;
    return KeepAlive.create(this.client, (err) => this.keepAliveStopped(generation, err), this.ttl);
  }

  private keepAliveStopped(generation: number, err: Error): void {
    if (generation !== this.generation || this.state === 'closed') return;
    if (this.state !== 'active' && this.state !== 'repairing') {
      this.earlyLoss = err; // seen by activate()
      return;
    }
    this.lost(err);
  }

  /**
   * Writes the key with this registration's value under `lease` in one transaction, if it is absent (or, with
   * `from`, if it is held by the lease `from`); otherwise reads who holds it.
   * @throws ClientClosedError
   */
  private async claim(lease: bigint, from?: bigint): Promise<Claim> {
    const t = new Transaction();
    if (from === undefined) t.add_compare_create(this.key, 0);
    else t.add_compare_lease(this.key, from);
    t.add_success_put(this.key, this.value, lease);
    t.add_failure_range(this.key);
    const r = await this.client.txn(t);
    if (r.is_ok()) return { kind: 'written', revision: r.index() };
    if (r.error_code() !== ERROR_COMPARE_FAILED) {
      // A put under a lease etcd does not know fails with NOT_FOUND ('requested lease not found').
      return { kind: 'failed', error: this.etcdError('cannot register', r), leaseGone: r.error_code() === ERROR_GRPC_NOT_FOUND };
    }
    const holder = r.values()[0];
    if (!holder) return { kind: 'absent' };
    // Under `lease` already: our own write whose answer was lost and retried, or someone writing under our lease.
    if (holder.lease() === lease) return { kind: 'mine', revision: r.index() };
    return { kind: 'held', holder };
  }

  /** The key is written under `ka`'s lease as of `revision`: active, watching from there. */
  private activate(ka: KeepAlive, revision: number): void {
    this.keepAlive = ka;
    this.lease = ka.Lease();
    this.state = 'active';
    this.watch(revision + 1);
    this.reportRestored();
    const early = this.earlyLoss;
    if (early && this.state === 'active') this.lost(early);
  }

  private reportLost(err: Error): void {
    if (this.lostReported) return;
    this.lostReported = true;
    this.lostCbs.call(err);
  }

  private reportRestored(): void {
    if (!this.lostReported) return;
    this.lostReported = false;
    this.restoredCbs.call();
  }

  // ---- watching the key -------------------------------------------------------------------------------------

  private watch(fromRevision: number): void {
    let w: Watcher;
    try {
      w = new Watcher(this.client, this.key, fromRevision, (r) => this.onWatch(w, r));
    } catch {
      return; // ClientClosedError: the KeepAlive stops too; the key expires after the TTL
    }
    this.watcher = w;
    void w.Wait().then((cancelled) => {
      if (this.watcher !== w) return; // stopped by us
      this.watcher = undefined;
      // Cancelled without us: the client was closed. Otherwise etcd ended the watch (its resume revision was
      // compacted): look at the key again and watch from there (a repair already running does that).
      if (!cancelled && this.state === 'active') this.repair(undefined);
    });
  }

  private stopWatching(): void {
    const w = this.watcher;
    this.watcher = undefined;
    if (w) void w.Cancel().catch(() => {});
  }

  private onWatch(w: Watcher, r: Response): void {
    // An error Response (code 11 on compaction) is the watcher's last word; Wait() then looks again.
    if (this.watcher !== w || !r.is_ok()) return;
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
    this.state = 'repairing';
    const lease = this.lease;
    const b = (this.backoff = new Backoff());
    const live = (): boolean => this.backoff === b && this.state === 'repairing';
    this.repairing = b.run(live, async () => {
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
            this.reportLost(deleted ?? new KeyDeletedError(`${this.describe()}: key ${this.key} was found deleted while its lease ${lease} was alive; writing it again`));
          }
          this.backToActive(c.revision);
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
            this.reportLost(deleted);
          }
          return false;
      }
    });
  }

  private backToActive(revision: number): void {
    this.state = 'active';
    if (!this.watcher) this.watch(revision + 1);
    this.reportRestored();
  }

  // ---- lease loss -------------------------------------------------------------------------------------------

  private lost(err: Error): void {
    this.state = 'restoring';
    this.keepAlive = undefined;
    this.stopWatching();
    this.backoff.wake(); // a repair loop in its pause ends now
    this.reportLost(err);
    this.restoring = this.restore();
  }

  /**
   * Re-grants and writes the key again with backoff until it works, the registration is closed, the client is,
   * or someone else turns out to hold the key.
   */
  private restore(): Promise<void> {
    const old = this.lease;
    const b = (this.backoff = new Backoff());
    const live = (): boolean => this.backoff === b && this.state === 'restoring';
    return b.run(live, async () => {
      let ka: KeepAlive | undefined;
      try {
        ka = await this.startKeepAlive();
        if (live()) {
          let c = await this.claim(ka.Lease());
          // Still held by the lost lease (etcd has not expired it yet): ours to move to the new lease.
          if (c.kind === 'held' && c.holder.lease() === old && live()) c = await this.claim(ka.Lease(), old);
          if (live() && (c.kind === 'written' || c.kind === 'mine')) {
            void revokeQuietly(this.client, old); // if it still exists somewhere, it holds nothing of ours now
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
        await revokeQuietly(this.client, ka.Lease());
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
    this.replacedCbs.call(err);
  }

  private shutdown(): Promise<void> {
    this.state = 'closed';
    this.backoff.wake();
    this.keepAlive?.Cancel();
    const w = this.watcher;
    this.watcher = undefined;
    return (async () => {
      if (w) await w.Cancel().catch(() => {});
      await this.restoring;
      await this.repairing;
      await revokeQuietly(this.client, this.lease);
      this.onClosed(this);
    })();
  }
}
