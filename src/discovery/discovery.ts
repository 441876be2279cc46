// Service discovery: a live, local view of every instance registered under a prefix, built on the public
// client API only (ls + Watcher). The view itself is the pure Catalog (catalog.ts); this file lists, watches and
// re-lists. It reads etcd through a PrefixReader, so the re-list can be unit-tested with a fake one
// (test/unit/discovery-relist.test.ts).

import { Client, ClientClosedError, EventType, Watcher, type Response } from '../core';
import { ClosedError, ERROR_GRPC_UNAVAILABLE, EtcdError, UnreachableError } from '../errors';
import { Link, type ConnectionListener, type ConnectionState } from '../link';
import { checkClient, checkOptions } from './args';
import { Backoff } from './backoff';
import { Callbacks } from './callbacks';
import { Catalog, type Change, type ServiceInstance } from './catalog';
import { decodeValue, parseKey, toFormat, toPrefix, type DiscoveryFormat, type EndpointValue } from './layout';

export interface DiscoveryOptions {
  /** Keys are `<prefix>/<service>/<instance>`; default '/service'. */
  prefix?: string;
  /** 'plain' (default) or Go's 'go-endpoints' layout. */
  format?: DiscoveryFormat;
}

export type OnlineCallback = (service: string, instance: string, address: string, metadata?: unknown) => void;
export type OfflineCallback = (service: string, instance: string, address: string) => void;

/** @internal The part of a Watcher that Discovery uses. */
export interface PrefixWatch {
  onConnection(cb: ConnectionListener): unknown;
  Wait(): Promise<boolean>;
  Cancel(): Promise<unknown>;
}

/** @internal How Discovery reads etcd: one listing, and a watch of the prefix. */
export interface PrefixReader {
  /** Lists every key under `prefix`. @throws ClientClosedError */
  list(prefix: string): Promise<Response>;
  /** Watches every key under `prefix` from `revision`. @throws ClientClosedError */
  watch(prefix: string, revision: number, onResponse: (r: Response) => void): PrefixWatch;
}

/** The reader of a real client: `ls` and a prefix Watcher. */
function clientReader(client: Client): PrefixReader {
  return {
    list: (prefix) => client.ls(prefix),
    watch: (prefix, revision, onResponse) => new Watcher(client, prefix, revision, onResponse, true),
  };
}

// ---- Discovery ----------------------------------------------------------------------------------------------

/**
 * A live view of the services registered under a prefix (see {@link Registry}), with callbacks when
 * instances come and go.
 *
 * - `start()` lists the prefix once (instances already there are reported online to callbacks registered
 *   before `start()`), then watches it from the listing's revision + 1.
 * - **Exactly once**: every instance going online or offline is reported once, in etcd's order. A re-put
 *   with the same address (a registration restoring its lease) reports nothing; a new address reports
 *   offline(old) then online(new). Across disconnects and etcd restarts the Watcher resumes without loss.
 * - **Compaction** (or any other end of the watch not caused by `close()`): it lists the prefix again at the
 *   current revision, reports only the difference with what it knew, and watches again from there; while
 *   etcd is unreachable it retries the listing with backoff (100 ms → 2 s).
 * - **Connection signal**: `onConnection` callbacks get `'disconnected'` (an UnreachableError) when etcd has
 *   not answered for `UNREACHABLE_AFTER_MS` (3 s) — the first listing, a re-listing or the watch — and
 *   `'connected'` when it answers again; the view keeps its last state meanwhile and resumes without loss.
 * - **Client closed**: the view stops changing; `close()` still resolves.
 * - Keys that do not match the layout are ignored. Callbacks run synchronously from the watch; an
 *   exception they throw escapes on its own tick and does not disturb the view.
 */
export class Discovery {
  private readonly reader: PrefixReader;
  private readonly prefix: string;
  private readonly format: DiscoveryFormat;
  private readonly catalog = new Catalog();
  private readonly onlineCbs = new Callbacks<OnlineCallback>('onOnline');
  private readonly offlineCbs = new Callbacks<OfflineCallback>('onOffline');
  private watcher: PrefixWatch | undefined;
  private started: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Paces re-listing while etcd is unreachable; woken on close. */
  private readonly backoff = new Backoff();
  /** The relist-and-rewatch loop in progress, if any (never rejects). */
  private recovering: Promise<void> | undefined;
  private readonly connectionCbs = new Callbacks<ConnectionListener>('onConnection');
  private readonly link = new Link((state, error) => this.connectionCbs.call(state, error));

  /**
   * @param client the etcd client to read with (not closed by `close()`).
   * @throws TypeError for a bad client or option.
   */
  constructor(client: Client, options: DiscoveryOptions = {}) {
    this.reader = clientReader(checkClient(client));
    checkOptions(options);
    this.prefix = toPrefix(options.prefix);
    this.format = toFormat(options.format);
  }

  /** Calls `cb(service, instance, address, metadata?)` when an instance comes online. Returns an unsubscribe function. */
  onOnline(cb: OnlineCallback): () => void {
    return this.onlineCbs.add(cb);
  }

  /** Calls `cb(service, instance, address)` when an instance goes offline. Returns an unsubscribe function. */
  onOffline(cb: OfflineCallback): () => void {
    return this.offlineCbs.add(cb);
  }

  /**
   * Calls `cb('disconnected', UnreachableError)` when etcd cannot be reached for `UNREACHABLE_AFTER_MS` (3 s)
   * and `cb('connected')` when it answers (first, and after every `'disconnected'`). Returns an unsubscribe
   * function.
   */
  onConnection(cb: ConnectionListener): () => void {
    return this.connectionCbs.add(cb);
  }

  /** `'connecting'` until etcd first answers, then `'connected'` or `'disconnected'`. */
  connectionState(): ConnectionState {
    return this.link.state;
  }

  /**
   * Lists `<prefix>/` and starts watching it. Resolves once the initial instances are known (and reported).
   * Calling it again returns the same promise. Rejects if the first listing fails (an EtcdError with etcd's
   * `code` and `details`; `start()` may then be called again), with ClientClosedError if the client is closed,
   * or with ClosedError if the Discovery was closed. An unreachable etcd rejects it with code 14 once the
   * client's retries are spent, and `onConnection` hears `'disconnected'` (at the latest after
   * `UNREACHABLE_AFTER_MS`); `'connected'` follows when a later `start()` lists.
   */
  start(): Promise<void> {
    if (this.closing) return Promise.reject(new ClosedError('this Discovery is closed'));
    if (!this.started) {
      const p = this.firstListing();
      this.started = p;
      p.catch(() => {
        if (this.started === p) this.started = undefined;
      });
    }
    return this.started;
  }

  private async firstListing(): Promise<void> {
    this.link.waiting();
    const r = await this.reader.list(`${this.prefix}/`);
    if (this.closing) return;
    if (!r.is_ok()) {
      const err = new EtcdError(`discovery: cannot list ${this.prefix}/: ${r.error_code()} ${r.error_message()}`, r.error_code(), r.error_message());
      if (r.error_code() === ERROR_GRPC_UNAVAILABLE) this.link.failed(new UnreachableError(`etcd not reachable: ${r.error_message()}`, { cause: err }));
      else this.link.stop();
      throw err;
    }
    this.link.answered();
    this.report(this.catalog.replaceAll(this.entries(r)));
    this.watchFrom(r.index() + 1);
  }

  /** The live instances of `service`, sorted by instance name (empty before `start()`). */
  instances(service: string): ServiceInstance[] {
    return this.catalog.instances(service);
  }

  /** The services with at least one live instance, sorted. */
  services(): string[] {
    return this.catalog.serviceNames();
  }

  /**
   * The next instance of `service` in round-robin order (by instance name, continuing after the one picked
   * last, so picks stay even while instances come and go); undefined when there is none.
   */
  pick(service: string): ServiceInstance | undefined {
    return this.catalog.pick(service);
  }

  /** Stops watching; no callback runs after it resolves. Idempotent. Does not close the client. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        this.backoff.wake();
        this.link.stop();
        const w = this.watcher;
        this.watcher = undefined;
        if (w) await w.Cancel().catch(() => {});
        await this.recovering;
      })();
    }
    return this.closing;
  }

  /** `await using d = new Discovery(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- internals ----------------------------------------------------------------------------------------

  private *entries(listing: Response): Iterable<{ service: string; instance: string; value: EndpointValue }> {
    for (const v of listing.values()) {
      const k = parseKey(this.prefix, this.format, v.key());
      const value = k && decodeValue(this.format, v.as_string());
      if (k && value) yield { ...k, value };
    }
  }

  private watchFrom(revision: number): void {
    if (this.closing) return;
    let w: PrefixWatch;
    try {
      w = this.reader.watch(`${this.prefix}/`, revision, (r) => this.onWatch(w, r));
    } catch (err) {
      if (err instanceof ClientClosedError) return; // the client is gone: the view stays as it is
      throw err;
    }
    this.watcher = w;
    w.onConnection((state, error) => {
      if (this.watcher !== w || this.closing) return;
      if (state === 'connected') this.link.answered();
      else if (error) this.link.failed(error);
    });
    void w.Wait().then(() => {
      if (this.watcher !== w || this.closing) return;
      this.watcher = undefined;
      this.recovering = this.recover();
    });
  }

  private onWatch(w: PrefixWatch, r: Response): void {
    // An error Response (code 11 on compaction) is the watcher's last word; Wait() then triggers recover().
    if (this.watcher !== w || this.closing || !r.is_ok()) return;
    for (const e of r.events()) {
      const kv = e.kv();
      const k = parseKey(this.prefix, this.format, kv.key());
      if (!k) continue;
      if (e.event_type() === EventType.PUT) {
        const value = decodeValue(this.format, kv.as_string());
        this.report(value ? this.catalog.put(k.service, k.instance, value) : this.catalog.delete(k.service, k.instance));
      } else if (e.event_type() === EventType.DELETE_) {
        this.report(this.catalog.delete(k.service, k.instance));
      }
    }
  }

  /** The watch ended on its own: list again (with backoff while etcd is unreachable) and watch from there. */
  private recover(): Promise<void> {
    return this.backoff.run(
      () => !this.closing,
      async () => {
        let r: Response;
        this.link.waiting();
        try {
          r = await this.reader.list(`${this.prefix}/`);
        } catch {
          this.link.stop();
          return true; // ClientClosedError: nothing more to watch
        }
        if (this.closing) return true;
        if (!r.is_ok()) return false;
        this.link.answered();
        this.report(this.catalog.replaceAll(this.entries(r)));
        this.watchFrom(r.index() + 1);
        return true;
      },
    );
  }

  private report(changes: Change[]): void {
    for (const c of changes) {
      if (this.closing) return;
      if (c.type === 'offline') this.offlineCbs.call(c.service, c.instance, c.address);
      else if (c.metadata === undefined) this.onlineCbs.call(c.service, c.instance, c.address);
      else this.onlineCbs.call(c.service, c.instance, c.address, c.metadata);
    }
  }
}
