// Service registration: one key per instance under a lease this process keeps alive, so the key vanishes
// when the process dies and comes back by itself when the lease is lost. Built on the public client API
// only (leases, KeepAlive, Transaction).

import { Client, ClientClosedError, ERROR_COMPARE_FAILED, KeepAlive, Transaction } from '../index';
import { callUser, retryDelayMs, sleep } from './discovery';
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

const DEFAULT_TTL = 3;

function toTtl(x: unknown): number {
  if (typeof x !== 'number') throw new TypeError(`ttl must be a number of seconds, got ${x === null ? 'null' : typeof x}`);
  if (!Number.isInteger(x) || x <= 0) throw new RangeError(`ttl must be a positive integer number of seconds, got ${x}`);
  return x;
}

function toBool(name: string, x: unknown): boolean {
  if (x === undefined) return false;
  if (typeof x !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${x === null ? 'null' : typeof x}`);
  return x;
}

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
 * Registers service instances in etcd (API §6). Each registration is one key under its own lease, kept
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
    if (!(client instanceof Client)) throw new TypeError(`client must be a Client, got ${client === null ? 'null' : typeof client}`);
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    this.client = client;
    this.prefix = toPrefix(options.prefix);
    this.ttl = options.ttl === undefined ? DEFAULT_TTL : toTtl(options.ttl);
    this.format = toFormat(options.format);
  }

  /**
   * Registers `instance` of `service` at `address`: key `<prefix>/<service>/<instance>` (plain layout) or
   * `<prefix>/<service>/<address>` (go-endpoints: there the instance name is the address and the `instance`
   * argument is not used), under a new lease of `ttl` seconds kept alive by this process.
   *
   * Refuses (rejects with an Error naming service, instance and key) when the key exists already, unless
   * `replace: true`. Rejects with ClientClosedError if the client is closed, or with an Error carrying
   * etcd's code and message if etcd refused. A failed registration leaves nothing behind (its lease is
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
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const ttl = options.ttl === undefined ? this.ttl : toTtl(options.ttl);
    const replace = toBool('replace', options.replace);
    const value = encodeValue(this.format, address, options.metadata);
    const key = instanceKey(this.prefix, svc, name);
    if (this.closing) return Promise.reject(new Error('this Registry is closed'));
    const reg = new Registration(this.client, svc, name, address, key, value, ttl, (r) => this.live.delete(r));
    return reg.establish(replace).then(async () => {
      if (this.closing) {
        await reg.close();
        throw new Error('this Registry is closed');
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

/**
 * One registered instance: its key exists in etcd while this object is open.
 *
 * States: `establishing → active ⇄ restoring → closed`.
 * - **active**: the key is attached to `leaseId`, refreshed by a KeepAlive. Disconnects and etcd restarts that
 *   keep the lease change nothing.
 * - **restoring**: the lease was lost (the KeepAlive stopped: an outage longer than the TTL, a revoke by
 *   someone else, an etcd that lost it). `onLost` callbacks get the KeepAlive's error; then, with backoff
 *   (100 ms → 2 s), it grants a new lease, writes the key again (unconditionally: it is ours) and keeps the new
 *   lease alive, until that works — then `onRestored` callbacks run and `leaseId` is the new lease.
 * - **closed**: `close()` stops the KeepAlive and revokes the lease, so the key disappears at once.
 * If the client is closed, the KeepAlive stops and the key expires after the TTL; nothing is reported.
 * Nothing here ever produces an unhandled rejection.
 */
export class Registration {
  private state: 'establishing' | 'active' | 'restoring' | 'closed' = 'establishing';
  private lease = 0n;
  private keepAlive: KeepAlive | undefined;
  /** Identifies the KeepAlive whose failure counts; failures of older ones are ignored. */
  private generation = 0;
  /** The current KeepAlive stopped before this registration (re)became active. */
  private earlyLoss: Error | undefined;
  private readonly lostCbs = new Set<LostCallback>();
  private readonly restoredCbs = new Set<RestoredCallback>();
  private restoring: Promise<void> | undefined;
  private wake: (() => void) | undefined;
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

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Calls `cb(error)` each time the lease is lost (before re-registering). Returns an unsubscribe function. */
  onLost(cb: LostCallback): () => void {
    if (typeof cb !== 'function') throw new TypeError('onLost callback must be a function');
    this.lostCbs.add(cb);
    return () => void this.lostCbs.delete(cb);
  }

  /** Calls `cb()` each time the registration is back after a loss. Returns an unsubscribe function. */
  onRestored(cb: RestoredCallback): () => void {
    if (typeof cb !== 'function') throw new TypeError('onRestored callback must be a function');
    this.restoredCbs.add(cb);
    return () => void this.restoredCbs.delete(cb);
  }

  /**
   * Deregisters: stops the KeepAlive and revokes the lease, so the key disappears at once. Idempotent; always
   * resolves (if the revoke fails — client closed, lease gone, etcd unreachable — the key still expires
   * within the TTL, as nothing refreshes it any more).
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        this.state = 'closed';
        this.wake?.();
        this.keepAlive?.Cancel();
        await this.restoring;
        await revokeQuietly(this.client, this.lease);
        this.onClosed(this);
      })();
    }
    return this.closing;
  }

  /** `await using reg = await registry.register(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal First registration: lease, create-if-absent (or put with `replace`), keepalive. */
  async establish(replace: boolean): Promise<void> {
    const ka = await this.startKeepAlive();
    const id = ka.Lease();
    let failure: Error | undefined;
    try {
      if (replace) {
        const r = await this.client.put(this.key, this.value, id);
        if (!r.is_ok()) failure = new Error(`cannot register ${this.describe()}: etcd answered ${r.error_code()} ${r.error_message()}`);
      } else {
        const t = new Transaction();
        t.add_compare_create(this.key, 0);
        t.add_success_put(this.key, this.value, id);
        const r = await this.client.txn(t);
        if (r.error_code() === ERROR_COMPARE_FAILED) {
          failure = new Error(
            `${this.describe()} is already registered (key ${this.key} exists); pass { replace: true } to take it over`,
          );
        } else if (!r.is_ok()) {
          failure = new Error(`cannot register ${this.describe()}: etcd answered ${r.error_code()} ${r.error_message()}`);
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
    this.activate(ka, false);
  }

  private describe(): string {
    return `service '${this.service}' instance '${this.instance}'`;
  }

  /** Grants a lease and keeps it alive; its failure is attributed to this generation only. */
  private async startKeepAlive(): Promise<KeepAlive> {
    const generation = ++this.generation;
    this.earlyLoss = undefined;
    return KeepAlive.create(this.client, (err) => this.keepAliveStopped(generation, err), this.ttl);
  }

  private keepAliveStopped(generation: number, err: Error): void {
    if (generation !== this.generation || this.state === 'closed') return;
    if (this.state !== 'active') {
      this.earlyLoss = err; // seen by activate()
      return;
    }
    this.lost(err);
  }

  /** The key is written under `ka`'s lease: active. Reports `restored` after a loss, then a loss seen meanwhile. */
  private activate(ka: KeepAlive, restored: boolean): void {
    this.keepAlive = ka;
    this.lease = ka.Lease();
    this.state = 'active';
    if (restored) for (const cb of [...this.restoredCbs]) callUser(() => cb());
    const early = this.earlyLoss;
    if (early && this.state === 'active') this.lost(early);
  }

  private lost(err: Error): void {
    this.state = 'restoring';
    this.keepAlive = undefined;
    for (const cb of [...this.lostCbs]) callUser(() => cb(err));
    this.restoring = this.restore();
  }

  /** Re-grants and re-puts with backoff until it works, the registration is closed or the client is. */
  private async restore(): Promise<void> {
    const old = this.lease;
    for (let attempt = 0; this.state === 'restoring'; attempt++) {
      if (attempt > 0) {
        const s = sleep(retryDelayMs(attempt - 1));
        this.wake = s.wake;
        await s.done;
        if (this.state !== 'restoring') return;
      }
      let ka: KeepAlive | undefined;
      try {
        ka = await this.startKeepAlive();
        if (this.state === 'restoring') {
          const r = await this.client.put(this.key, this.value, ka.Lease());
          if (r.is_ok() && this.state === 'restoring') {
            void revokeQuietly(this.client, old); // if it still exists somewhere, it holds nothing of ours now
            this.activate(ka, true);
            return;
          }
        }
      } catch (err) {
        if (err instanceof ClientClosedError) {
          if (ka) ka.Cancel();
          return; // the client is gone: nothing left to restore with
        }
      }
      if (ka) {
        ka.Cancel();
        await revokeQuietly(this.client, ka.Lease());
      }
    }
  }
}
