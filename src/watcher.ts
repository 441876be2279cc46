import { describe, prefixRange, toBytes, toFunction, toRevision, type Bytes } from './args';
import { Client } from './client';
import { WatchEndedError } from './errors';
import type { ConnectionListener, ConnectionState } from './link';
import type { Response } from './response';
import { callUser } from './user-code';
import { watchEngine, type WatchHandle } from './watch';

export type WatchCallback = (response: Response) => void;
export type WaitCallback = (cancelled: boolean) => void;

interface ParsedWatch {
  key: Buffer;
  rangeEnd: Buffer;
  fromIndex: number;
  callback: WatchCallback;
  waitCallback: WaitCallback | undefined;
}

/**
 * Reads the C++ Watcher argument lists after the key:
 * `(cb, [wcb,] recursive?)`, `(range_end, cb [, wcb])`, `(fromIndex, cb, [wcb,] recursive?)`,
 * `(range_end, fromIndex, cb [, wcb])`.
 */
export function parseWatchArgs(keyArg: unknown, rest: readonly unknown[], what = 'Watcher'): ParsedWatch {
  const key = toBytes('key', keyArg);
  let i = 0;
  let rangeEnd: Buffer | undefined;
  let fromIndex = 0;
  if (typeof rest[i] === 'string' || rest[i] instanceof Uint8Array) rangeEnd = toBytes('range_end', rest[i++]);
  if (typeof rest[i] === 'number') fromIndex = toRevision('fromIndex', rest[i++]);
  const callback = toFunction<WatchCallback>('callback', rest[i++]);
  let waitCallback: WaitCallback | undefined;
  if (typeof rest[i] === 'function') waitCallback = rest[i++] as WaitCallback;
  let recursive = false;
  if (rangeEnd === undefined && (typeof rest[i] === 'boolean' || rest[i] === undefined) && i < rest.length) {
    recursive = rest[i++] === true;
  }
  if (i < rest.length && rest[i] !== undefined) {
    throw new TypeError(`${what}: unexpected argument ${i + 3} (${describe(rest[i])})`);
  }
  const range = rangeEnd !== undefined ? { key, rangeEnd } : recursive ? prefixRange(key) : { key, rangeEnd: Buffer.alloc(0) };
  return { ...range, fromIndex, callback, waitCallback };
}

/**
 * A long-lived watch on a key, a prefix or a range (C++ `etcd::Watcher`). The callback gets one Response per
 * etcd watch response with events: `events()` holds them all, `action()`/`value()`/`prev_value()` describe the
 * first ("create" for a new key, "set" for an update, "delete").
 *
 * Beyond C++: on a disconnect, a member's death or an etcd restart it resumes by itself from the revision
 * after the last event it delivered, so no event is lost and none is delivered twice. If that revision was
 * compacted meanwhile, the callback gets a Response with code 11 and `compact_revision()`, and the watcher ends
 * (`Wait()` resolves false). All watchers of a client share one gRPC stream.
 *
 * A Watcher made from a URL owns a client of its own and closes it when the watcher ends.
 */
export class Watcher {
  private readonly client: Client;
  private readonly ownsClient: boolean;
  private readonly handle: WatchHandle;
  private waitCallback: WaitCallback | undefined;
  private cancelledByUser = false;
  private endedWith: boolean | undefined;
  private readonly ended: Promise<boolean>;
  private resolveEnded!: (cancelled: boolean) => void;
  private readonly created: Promise<number>;
  private resolveCreated!: (revision: number) => void;
  private rejectCreated!: (err: Error) => void;
  private readonly connectionListeners = new Set<ConnectionListener>();

  /**
   * `new Watcher(client | url, key, callback, [wait_callback,] recursive = false)`,
   * `new Watcher(client | url, key, range_end, callback [, wait_callback])`,
   * `new Watcher(client | url, key, fromIndex, callback, [wait_callback,] recursive = false)`,
   * `new Watcher(client | url, key, range_end, fromIndex, callback [, wait_callback])`.
   * `fromIndex` 0 or absent means "from now". `recursive` watches every key with the prefix `key`.
   * @throws TypeError/RangeError for bad arguments; ClientClosedError if the client is closed.
   */
  constructor(client: Client | string, key: Bytes, callback: WatchCallback, recursive?: boolean);
  constructor(client: Client | string, key: Bytes, callback: WatchCallback, wait_callback: WaitCallback, recursive?: boolean);
  constructor(client: Client | string, key: Bytes, range_end: Bytes, callback: WatchCallback, wait_callback?: WaitCallback);
  constructor(client: Client | string, key: Bytes, fromIndex: number, callback: WatchCallback, recursive?: boolean);
  constructor(client: Client | string, key: Bytes, fromIndex: number, callback: WatchCallback, wait_callback: WaitCallback, recursive?: boolean);
  constructor(client: Client | string, key: Bytes, range_end: Bytes, fromIndex: number, callback: WatchCallback, wait_callback?: WaitCallback);
  constructor(client: Client | string, key: Bytes, ...rest: unknown[]) {
    const args = parseWatchArgs(key, rest);
    if (typeof client === 'string') {
      this.client = new Client(client);
      this.ownsClient = true;
    } else if (client instanceof Client) {
      this.client = client;
      this.ownsClient = false;
    } else {
      throw new TypeError(`client must be a Client or an endpoint URL, got ${describe(client)}`);
    }
    this.waitCallback = args.waitCallback;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.created = new Promise((resolve, reject) => {
      this.resolveCreated = resolve;
      this.rejectCreated = reject;
    });
    this.created.catch(() => {});
    const callback = args.callback;
    this.handle = watchEngine(this.client.conn).add(
      { key: args.key, rangeEnd: args.rangeEnd, startRevision: args.fromIndex },
      {
        onCreated: (revision) => this.resolveCreated(revision),
        onConnection: (state, error) => {
          for (const l of [...this.connectionListeners]) callUser((e) => l(state, e), error);
        },
        onEvents: (response) => callUser(callback, response),
        onEnd: (error) => {
          if (error) callUser(callback, error);
          this.end(error === null);
        },
      },
    );
  }

  private end(byCancelOrClose: boolean): void {
    if (this.endedWith !== undefined) return;
    const cancelled = byCancelOrClose || this.cancelledByUser;
    this.endedWith = cancelled;
    this.cancelledByUser ||= byCancelOrClose;
    this.rejectCreated(new WatchEndedError('the watcher ended before etcd acknowledged it'));
    this.resolveEnded(cancelled);
    if (this.ownsClient) void this.client.close();
    const wcb = this.waitCallback;
    if (wcb) setImmediate(() => callUser(wcb, cancelled));
  }

  /**
   * Without an argument: a promise that resolves when the watcher ends — true if it ended by `Cancel()` or by
   * closing its client, false if etcd ended it (compaction, a permanent error).
   * With a callback: sets the wait callback if none is set (returns true), else returns false. The callback
   * runs once, asynchronously, when the watcher ends (at once if it already has).
   */
  Wait(): Promise<boolean>;
  Wait(callback: WaitCallback): boolean;
  Wait(callback?: WaitCallback): Promise<boolean> | boolean {
    if (callback === undefined) return this.ended;
    const cb = toFunction<WaitCallback>('callback', callback);
    if (this.waitCallback) return false;
    this.waitCallback = cb;
    if (this.endedWith !== undefined) {
      const cancelled = this.endedWith;
      setImmediate(() => callUser(cb, cancelled));
    }
    return true;
  }

  /** Stops watching and removes the watcher on the server. Idempotent and safe to call concurrently. */
  async Cancel(): Promise<boolean> {
    this.cancelledByUser = true;
    await this.handle.cancel();
    return this.ended;
  }

  /** True once `Cancel()` was called or the (caller's) client was closed. */
  Cancelled(): boolean {
    return this.cancelledByUser || (!this.ownsClient && this.client.conn.closed);
  }

  /**
   * Resolves with the store revision at which etcd acknowledged the watcher (first time only): events after
   * it are guaranteed to be delivered. Rejects if the watcher ends first.
   */
  ready(): Promise<number> {
    return this.created;
  }

  /**
   * Subscribes to the connection signal (beyond C++): `listener('disconnected', UnreachableError)` when etcd
   * has not answered this client's watch stream for `UNREACHABLE_AFTER_MS` (3 s) — unreachable, refusing, or
   * the stream failing over and over — and `listener('connected')` when it answers: the first time and after
   * every `'disconnected'`. The state is the client's watch stream's, shared by its watchers: a listener added
   * while it is `'connected'` hears nothing until the next change (read `connectionState()`). Shorter blips are
   * not signalled. Meanwhile the watcher keeps reconnecting and
   * resumes where it stopped: no event is lost or repeated. Returns the unsubscribe function.
   */
  onConnection(listener: ConnectionListener): () => void {
    const l = toFunction<ConnectionListener>('listener', listener);
    this.connectionListeners.add(l);
    return () => void this.connectionListeners.delete(l);
  }

  /** `'connecting'` until etcd first answers, then `'connected'` or `'disconnected'` (see {@link onConnection}). */
  connectionState(): ConnectionState {
    return this.handle.connectionState;
  }

  /** The next revision this watcher will deliver from (0 until a "from now" watcher is acknowledged). */
  nextRevision(): number {
    return this.handle.nextRevision;
  }

  /** `await using w = new Watcher(...)` cancels it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.Cancel();
  }
}
