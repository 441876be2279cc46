// The contenders, behind one small interface so every workload runs the same code for all of them.
// Each driver is used inside its own child process (see worker.ts).
import type * as GrpcJs from '@grpc/grpc-js';
import type { Etcd3, Lease as Etcd3Lease } from 'etcd3';
import {
  KVService,
  LeaseService,
  WatchService,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type WatchRequest,
  type WatchResponse,
} from '../generated/etcdserver/etcdserverpb/rpc';
import type { Client as OurClient } from '../src/index';
import { H2Channel } from './h2grpc';

export const CONTENDERS = ['ours', 'ours-http2', 'ours-base', 'etcd3', 'go', 'grpc-js', 'http2', 'http2-prevkv'] as const;
export type ContenderName = (typeof CONTENDERS)[number];

/**
 * What `npm run bench` runs without --contenders: this client on its default transport, etcd3, etcd's Go
 * benchmark tool (when it can be found) and the two node:http2 floors. `--contenders all` adds this client on
 * grpc-js and the bare grpc-js floor (each adds about a fifth to the run time).
 */
export const DEFAULT_CONTENDERS: readonly ContenderName[] = ['ours-http2', 'etcd3', 'go', 'http2', 'http2-prevkv'];

export const CONTENDER_LABEL: Record<ContenderName, string> = {
  ours: 'ours (grpc-js)',
  'ours-http2': 'ours (http2)',
  'ours-base': 'ours (http2) before',
  etcd3: 'etcd3',
  go: 'Go benchmark',
  'grpc-js': 'grpc-js floor',
  http2: 'http2 floor',
  'http2-prevkv': 'http2 floor+prev_kv',
};

/** Thrown when a contender cannot run a workload at all (the row shows n/a with the reason). */
export class Unsupported extends Error {
  override name = 'Unsupported';
}

export interface WatchHandle {
  cancel(): Promise<void>;
}

export interface KeepAliveGroup {
  readonly count: number;
  /** Keepalive failures / lost leases seen so far. */
  failures(): number;
  /** Stops refreshing and revokes every lease. */
  revokeAll(): Promise<void>;
}

export interface Driver {
  /** Makes sure the connection is up (one read). */
  connect(): Promise<void>;
  put(key: string, value: Buffer): Promise<void>;
  /** Reads a key; resolves with the value's length (-1 when absent). */
  get(key: string): Promise<number>;
  /** Lists every key under `prefix` with its value through the library's own listing call; resolves with the count. */
  list(prefix: string): Promise<number>;
  /** Watches a key or a prefix; resolves once etcd acknowledged the watch. */
  watch(key: string, prefix: boolean, onValue: (value: Buffer) => void, onError: (err: Error) => void): Promise<WatchHandle>;
  /** Grants `count` leases of `ttl` seconds and keeps them alive. */
  keepAlives(count: number, ttl: number): Promise<KeepAliveGroup>;
  close(): Promise<void>;
}

/** Runs fn(0..n-1) with at most `concurrency` in flight; rejects on the first failure. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return out;
}

const SETUP_CONCURRENCY = 64;

function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

// ---- ours ---------------------------------------------------------------------------------------------

class OursDriver implements Driver {
  private readonly lib = require('../src/index') as typeof import('../src/index');
  private readonly client: OurClient;

  constructor(endpoints: string[], transport: 'grpc-js' | 'http2') {
    this.client = new this.lib.Client(endpoints.join(','), { transport });
  }

  async connect(): Promise<void> {
    const r = await this.client.get('/bench-connect');
    if (!r.is_ok() && r.error_code() !== 100) throw new Error(`connect: ${r.error_code()} ${r.error_message()}`);
  }

  async put(key: string, value: Buffer): Promise<void> {
    const r = await this.client.put(key, value);
    if (!r.is_ok()) throw new Error(`put: ${r.error_code()} ${r.error_message()}`);
  }

  async get(key: string): Promise<number> {
    const r = await this.client.get(key);
    // Bytes, as every contender reads the value (no UTF-8 decoding in anyone's get).
    if (r.is_ok()) return r.value().as_bytes().length;
    if (r.error_code() === 100) return -1;
    throw new Error(`get: ${r.error_code()} ${r.error_message()}`);
  }

  async list(prefix: string): Promise<number> {
    const r = await this.client.ls(prefix);
    if (!r.is_ok()) throw new Error(`ls: ${r.error_code()} ${r.error_message()}`);
    return r.values().length;
  }

  async watch(key: string, prefix: boolean, onValue: (value: Buffer) => void, onError: (err: Error) => void): Promise<WatchHandle> {
    const cb = (res: import('../src/index').Response) => {
      if (!res.is_ok()) return onError(new Error(`watch: ${res.error_code()} ${res.error_message()}`));
      for (const e of res.events()) onValue(e.kv().as_bytes());
    };
    const w = new this.lib.Watcher(this.client, key, cb, prefix);
    await w.ready();
    return { cancel: async () => void (await w.Cancel()) };
  }

  async keepAlives(count: number, ttl: number): Promise<KeepAliveGroup> {
    const KeepAlive = this.lib.KeepAlive as typeof import('../src/index').KeepAlive | undefined;
    if (typeof KeepAlive?.create !== 'function' && typeof this.client.leasekeepalive !== 'function') {
      throw new Unsupported('KeepAlive is not available in this build');
    }
    let failures = 0;
    const onFail = () => void failures++;
    let kas: import('../src/index').KeepAlive[];
    try {
      kas = await pool(count, SETUP_CONCURRENCY, () =>
        typeof KeepAlive?.create === 'function' ? KeepAlive.create(this.client, onFail, ttl) : this.client.leasekeepalive(ttl),
      );
    } catch (err) {
      if (/not (available|implemented)/i.test(String(err))) throw new Unsupported(String(err));
      throw err;
    }
    return {
      count,
      failures: () => failures,
      revokeAll: async () => {
        for (const ka of kas) ka.Cancel();
        await pool(kas.length, SETUP_CONCURRENCY, (i) => this.client.leaserevoke(kas[i]!.Lease()));
      },
    };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

// ---- etcd3 (npm) --------------------------------------------------------------------------------------

class Etcd3Driver implements Driver {
  private readonly client: Etcd3;

  /** `liftReceiveLimit`: grpc-js refuses messages over 4 MB unless told otherwise (the list workload). */
  constructor(endpoints: string[], liftReceiveLimit = false) {
    const { Etcd3 } = require('etcd3') as typeof import('etcd3');
    this.client = new Etcd3({ hosts: endpoints, ...(liftReceiveLimit ? { grpcOptions: { 'grpc.max_receive_message_length': -1 } } : {}) });
  }

  async connect(): Promise<void> {
    await this.client.get('/bench-connect').string();
  }

  async put(key: string, value: Buffer): Promise<void> {
    await this.client.put(key).value(value);
  }

  async get(key: string): Promise<number> {
    const b = await this.client.get(key).buffer();
    return b === null ? -1 : b.length;
  }

  async list(prefix: string): Promise<number> {
    // etcd3's documented way to read a prefix with values: one Range, one response message.
    const all = await this.client.getAll().prefix(prefix).buffers();
    return Object.keys(all).length;
  }

  async watch(key: string, prefix: boolean, onValue: (value: Buffer) => void, onError: (err: Error) => void): Promise<WatchHandle> {
    const b = this.client.watch();
    // Handlers go on before the watch is created (as create() does, but without a gap).
    const w = (prefix ? b.prefix(key) : b.key(key)).watcher();
    w.on('put', (kv) => onValue(kv.value));
    w.on('error', (err) => onError(err));
    await new Promise<void>((resolve, reject) => {
      w.once('connected', () => resolve());
      w.once('error', reject);
    });
    return { cancel: () => w.cancel() };
  }

  async keepAlives(count: number, ttl: number): Promise<KeepAliveGroup> {
    let failures = 0;
    const leases: Etcd3Lease[] = await pool(count, SETUP_CONCURRENCY, async () => {
      const l = this.client.lease(ttl);
      l.on('lost', () => void failures++);
      await l.grant();
      return l;
    });
    return {
      count,
      failures: () => failures,
      revokeAll: async () => void (await pool(leases.length, SETUP_CONCURRENCY, (i) => leases[i]!.revoke())),
    };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

// ---- bare floors --------------------------------------------------------------------------------------

interface Method<Req, Res> {
  readonly path: string;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => Res;
}

interface FloorStream<Req> {
  write(req: Req): void;
  end(): void;
  cancel(): void;
}

/** What both floors share: the etcd calls written once over a minimal unary/stream primitive. */
abstract class FloorDriver implements Driver {
  /**
   * Ask etcd for the previous kv on every put, as this client's `put` must (C++ `put` returns `prev_value()`):
   * the "floor + prev_kv" variant, the same server work and response size as ours.
   */
  prevKv = false;

  abstract call<Req, Res>(m: Method<Req, Res>, req: Req): Promise<Res>;
  abstract open<Req, Res>(m: Method<Req, Res>, onMessage: (res: Res) => void, onEnd: (err: Error | null) => void): FloorStream<Req>;
  abstract close(): Promise<void>;

  async connect(): Promise<void> {
    await this.get('/bench-connect');
  }

  async put(key: string, value: Buffer): Promise<void> {
    await this.call(KVService.put, { key: Buffer.from(key), value, lease: 0n, prevKv: this.prevKv, ignoreValue: false, ignoreLease: false });
  }

  async list(): Promise<number> {
    throw new Unsupported('the list row compares the libraries\' own listing calls');
  }

  async get(key: string): Promise<number> {
    const r = await this.call(KVService.range, {
      key: Buffer.from(key),
      rangeEnd: Buffer.alloc(0),
      limit: 0n,
      revision: 0n,
      sortOrder: 0,
      sortTarget: 0,
      serializable: false,
      keysOnly: false,
      countOnly: false,
      minModRevision: 0n,
      maxModRevision: 0n,
      minCreateRevision: 0n,
      maxCreateRevision: 0n,
    });
    return r.kvs.length ? r.kvs[0]!.value.length : -1;
  }

  watch(key: string, prefix: boolean, onValue: (value: Buffer) => void, onError: (err: Error) => void): Promise<WatchHandle> {
    return new Promise((resolve, reject) => {
      let created = false;
      const k = Buffer.from(key);
      const s = this.open<WatchRequest, WatchResponse>(
        WatchService.watch,
        (res) => {
          if (!created && res.created) {
            created = true;
            resolve({ cancel: async () => s.cancel() });
          }
          if (res.canceled) return onError(new Error(`watch cancelled: ${res.cancelReason}`));
          for (const e of res.events) onValue(e.kv!.value);
        },
        (err) => (created ? err && onError(err) : reject(err ?? new Error('watch stream ended'))),
      );
      s.write({
        requestUnion: {
          $case: 'createRequest',
          createRequest: {
            key: k,
            rangeEnd: prefix ? prefixEnd(k) : Buffer.alloc(0),
            startRevision: 0n,
            progressNotify: false,
            filters: [],
            prevKv: false,
            watchId: 0n,
            fragment: false,
          },
        },
      });
    });
  }

  /** One transaction of unconditional puts (the watch-burst writer). */
  async txnPuts(entries: { key: string; value: Buffer }[]): Promise<void> {
    const success = entries.map(({ key, value }) => ({
      request: {
        $case: 'requestPut' as const,
        requestPut: { key: Buffer.from(key), value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false },
      },
    }));
    await this.call(KVService.txn, { compare: [], success, failure: [] });
  }

  async keepAlives(count: number, ttl: number): Promise<KeepAliveGroup> {
    const ids = await pool(count, SETUP_CONCURRENCY, async () => {
      const r = await this.call(LeaseService.leaseGrant, { TTL: BigInt(ttl), ID: 0n });
      return r.ID;
    });
    let failures = 0;
    let ended = false;
    const s = this.open<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(
      LeaseService.leaseKeepAlive,
      (res) => {
        if (res.TTL <= 0n) failures++;
      },
      () => {
        if (!ended) failures++;
      },
    );
    const send = () => {
      for (const id of ids) s.write({ ID: id });
    };
    send();
    const timer = setInterval(send, (ttl * 1000) / 3);
    return {
      count,
      failures: () => failures,
      revokeAll: async () => {
        ended = true;
        clearInterval(timer);
        s.cancel();
        await pool(ids.length, SETUP_CONCURRENCY, (i) => this.call(LeaseService.leaseRevoke, { ID: ids[i]! }));
      },
    };
  }
}

/** @grpc/grpc-js with our generated codecs and nothing else: `grpc.Client.makeUnaryRequest`. */
class GrpcJsFloor extends FloorDriver {
  private readonly client: GrpcJs.Client;

  constructor(endpoints: string[]) {
    super();
    const target = new URL(endpoints[0]!).host;
    // Required here, not at the top: each contender's process loads only the libraries it uses (RSS rows).
    const grpc = require('@grpc/grpc-js') as typeof GrpcJs;
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
    });
  }

  call<Req, Res>(m: Method<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }

  open<Req, Res>(m: Method<Req, Res>, onMessage: (res: Res) => void, onEnd: (err: Error | null) => void): FloorStream<Req> {
    const call = this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
    let done = false;
    const finish = (err: Error | null) => {
      if (!done) {
        done = true;
        onEnd(err);
      }
    };
    call.on('data', onMessage);
    call.on('error', (err) => finish(err));
    call.on('end', () => finish(null));
    return { write: (r) => void call.write(r), end: () => call.end(), cancel: () => call.cancel() };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** node:http2 with hand-made gRPC framing: see h2grpc.ts. */
class Http2Floor extends FloorDriver {
  private readonly ch: H2Channel;

  constructor(endpoints: string[]) {
    super();
    this.ch = new H2Channel(endpoints[0]!);
  }

  override async connect(): Promise<void> {
    await this.ch.ready();
    await super.connect();
  }

  async call<Req, Res>(m: Method<Req, Res>, req: Req): Promise<Res> {
    return m.responseDeserialize(await this.ch.unary(m.path, m.requestSerialize(req)));
  }

  open<Req, Res>(m: Method<Req, Res>, onMessage: (res: Res) => void, onEnd: (err: Error | null) => void): FloorStream<Req> {
    const s = this.ch.stream(m.path, (buf) => onMessage(m.responseDeserialize(buf)), onEnd);
    return { write: (r) => s.write(m.requestSerialize(r)), end: () => s.end(), cancel: () => s.cancel() };
  }

  close(): Promise<void> {
    return this.ch.close();
  }
}

/** Floors that do not implement a feature say so for workloads that need many watchers per client. */
export function supportsManyWatchers(name: ContenderName): boolean {
  // (the Go tool has no such workload either: see gobench.ts)
  return name === 'ours' || name === 'ours-http2' || name === 'ours-base' || name === 'etcd3';
}

/** The watch writer: always the bare http2 floor, the cheapest writer there is. */
export function createWriter(endpoints: string[]): FloorDriver {
  return new Http2Floor(endpoints);
}

export function createDriver(name: ContenderName, endpoints: string[], opts: { liftReceiveLimit?: boolean } = {}): Driver {
  switch (name) {
    case 'ours':
      return new OursDriver(endpoints, 'grpc-js');
    case 'ours-http2':
    // The same driver: `--baseline REF` bundles its worker with REF's library in place of ours (bench.ts).
    case 'ours-base':
      return new OursDriver(endpoints, 'http2');
    case 'etcd3':
      return new Etcd3Driver(endpoints, opts.liftReceiveLimit);
    case 'go':
      throw new Unsupported('etcd\'s Go benchmark tool runs as its own process (gobench.ts), not in a worker');
    case 'grpc-js':
      return new GrpcJsFloor(endpoints);
    case 'http2':
      return new Http2Floor(endpoints);
    case 'http2-prevkv': {
      const f = new Http2Floor(endpoints);
      f.prevKv = true;
      return f;
    }
  }
}
