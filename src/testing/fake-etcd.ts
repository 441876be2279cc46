// A scriptable fake etcd, for what a real etcd will not produce on demand: a grpc-js server on 127.0.0.1
// (free port) that implements only etcdserverpb.Watch. Each incoming Watch stream becomes a FakeWatchCall; the test reads the requests the
// client sent and writes whatever WatchResponses it likes (including ones a real etcd will not produce on
// demand: fragments, progress notifications at chosen revisions, created-and-canceled, status errors).
//
//   const fake = await startFakeEtcd();
//   const client = new Client(fake.url);
//   const w = new Watcher(client, 'k', cb);
//   const call = await fake.call(0);
//   const create = await call.create(0);                 // the first WatchCreateRequest on that stream
//   call.created(0, 10);                                 // acknowledge it as watch id 0 at revision 10
//   call.send({ watchId: 0, header: { revision: 11 }, events: [putEvent('k', 'v', 11)] });
//   call.fail(grpc.status.UNAVAILABLE, 'gone');          // or call.end() for a clean end
//
// Cancel requests are answered (canceled: true) automatically unless `fake.autoCancel` is false, so
// Watcher.Cancel() resolves as against a real etcd.
//
// Unary calls of the KV, Lease, Cluster, Maintenance and Auth services are scripted per method:
//   fake.unary('KV.Range', (req) => RangeResponse.fromPartial({ header: { revision: 7 }, count: 0 }));
//   fake.unary('KV.Put', () => ({ error: { code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' } }));
//   fake.unary('Lease.LeaseGrant', () => 'hang');   // never answer (the client's deadline must fire)
// (message classes from 'etcd-apiv3/proto'). A method without a script answers UNIMPLEMENTED; every unary
// request is recorded in `fake.requests`. @grpc/grpc-js is loaded only when a fake starts.

import type * as grpc from '@grpc/grpc-js';
import {
  AuthService,
  ClusterService,
  KVService,
  LeaseService,
  MaintenanceService,
  WatchResponse,
  WatchService,
  type DeepPartial,
  type WatchCancelRequest,
  type WatchCreateRequest,
  type WatchRequest,
} from '../../generated/etcdserver/etcdserverpb/rpc';
import { Event_EventType, type Event as PbEvent } from '../../generated/mvcc/mvccpb/kv';

/** Promises that resolve once `ready()` returns a value, re-checked on every `notify()`; they reject after `timeoutMs`. */
class Waiters {
  private readonly pending = new Set<() => void>();
  notify(): void {
    for (const w of [...this.pending]) w();
  }
  until<T>(ready: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const v = ready();
        if (v === undefined) return false;
        this.pending.delete(check);
        clearTimeout(timer);
        resolve(v);
        return true;
      };
      const timer = setTimeout(() => {
        this.pending.delete(check);
        reject(new Error(`fake etcd: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.pending.add(check);
      check();
    });
  }
}

export class FakeWatchCall {
  /** Every request the client sent on this stream, in order. */
  readonly requests: WatchRequest[] = [];
  /** Set when the stream is over (either side ended it, or the client cancelled it). */
  closed = false;
  /** True when the client cancelled the stream (RST_STREAM). */
  cancelledByClient = false;
  private readonly waiters = new Waiters();

  constructor(
    readonly index: number,
    private readonly raw: grpc.ServerDuplexStream<WatchRequest, WatchResponse>,
    private readonly fake: FakeEtcd,
  ) {
    raw.on('data', (r: WatchRequest) => {
      this.requests.push(r);
      if (this.fake.autoCancel && r.requestUnion?.$case === 'cancelRequest') {
        this.send({ watchId: r.requestUnion.cancelRequest.watchId, canceled: true, header: { revision: this.fake.revision } });
      }
      this.waiters.notify();
    });
    const done = () => {
      this.closed = true;
      this.waiters.notify();
    };
    raw.on('cancelled', () => {
      this.cancelledByClient = true;
      done();
    });
    raw.on('end', done);
    raw.on('error', done);
    raw.on('close', done);
  }

  /** The client's metadata on this stream (e.g. `hasleader`). */
  get metadata(): grpc.Metadata {
    return this.raw.metadata;
  }

  /** The create requests received so far. */
  get creates(): WatchCreateRequest[] {
    return this.requests.flatMap((r) => (r.requestUnion?.$case === 'createRequest' ? [r.requestUnion.createRequest] : []));
  }

  /** The cancel requests received so far. */
  get cancels(): WatchCancelRequest[] {
    return this.requests.flatMap((r) => (r.requestUnion?.$case === 'cancelRequest' ? [r.requestUnion.cancelRequest] : []));
  }

  /** Waits for the n-th (0-based) create request on this stream. */
  create(n: number, timeoutMs = 5_000): Promise<WatchCreateRequest> {
    return this.waiters.until(() => this.creates[n], timeoutMs, `create request #${n} on stream #${this.index}`);
  }

  /** Waits for the n-th (0-based) cancel request on this stream. */
  cancelRequest(n: number, timeoutMs = 5_000): Promise<WatchCancelRequest> {
    return this.waiters.until(() => this.cancels[n], timeoutMs, `cancel request #${n} on stream #${this.index}`);
  }

  /** Waits until the stream is over. */
  waitClosed(timeoutMs = 5_000): Promise<true> {
    return this.waiters.until(() => (this.closed ? true : undefined), timeoutMs, `stream #${this.index} to close`);
  }

  /** Writes one WatchResponse (missing fields take their defaults). */
  send(partial: DeepPartial<WatchResponse>): void {
    if (this.closed) throw new Error(`fake etcd: stream #${this.index} is closed`);
    this.raw.write(WatchResponse.fromPartial(partial));
  }

  /** Acknowledges a create request: `created: true` with the given watch id at header revision `revision`. */
  created(watchId: number, revision: number): void {
    this.send({ watchId, created: true, header: { revision } });
  }

  /** Ends the stream cleanly (status OK), as a server does when it shuts down gracefully. */
  end(): void {
    this.closed = true;
    this.raw.end();
  }

  /** Ends the stream with a gRPC status. */
  fail(code: grpc.status, details: string): void {
    this.closed = true;
    this.raw.emit('error', { code, details });
  }
}

/** A scripted answer: the response message, a gRPC error, or 'hang' (never answer). */
export type FakeAnswer = object | { error: { code: number; details: string } } | 'hang';
/** A script for one unary method: gets the decoded request and the call's metadata. */
export type FakeUnaryScript = (request: any, metadata: grpc.Metadata) => FakeAnswer | Promise<FakeAnswer>;

const UNARY_SERVICES = { KV: KVService, Lease: LeaseService, Cluster: ClusterService, Maintenance: MaintenanceService, Auth: AuthService };

export class FakeEtcd {
  /** Every Watch stream opened so far, in order. */
  readonly calls: FakeWatchCall[] = [];
  /** Every unary request so far: the method ('KV.Range') and the decoded request. */
  readonly requests: { method: string; request: unknown }[] = [];
  private readonly scripts = new Map<string, FakeUnaryScript>();
  /** Answer cancel requests with `canceled: true` automatically. */
  autoCancel = true;
  /** The header revision used for automatic answers. */
  revision = 1;
  private readonly waiters = new Waiters();

  constructor(
    private readonly server: grpc.Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** @internal */
  accept(raw: grpc.ServerDuplexStream<WatchRequest, WatchResponse>): void {
    this.calls.push(new FakeWatchCall(this.calls.length, raw, this));
    this.waiters.notify();
  }

  /**
   * Scripts the unary method `method` ('KV.Range', 'Lease.LeaseGrant', 'Maintenance.Status', …; the names of
   * etcd's rpc.proto). Replaces an earlier script of the same method.
   */
  unary(method: string, script: FakeUnaryScript): void {
    this.scripts.set(method, script);
  }

  /** @internal */
  async answer(method: string, call: grpc.ServerUnaryCall<unknown, unknown>, done: grpc.sendUnaryData<unknown>): Promise<void> {
    this.requests.push({ method, request: call.request });
    this.waiters.notify();
    const script = this.scripts.get(method);
    if (!script) return done({ code: 12, details: `fake etcd: no script for ${method}` } as grpc.ServiceError, null);
    try {
      const a = await script(call.request, call.metadata);
      if (a === 'hang') return;
      if ('error' in a) return done(a.error as grpc.ServiceError, null);
      done(null, a);
    } catch (e) {
      done({ code: 13, details: `fake etcd: the script for ${method} threw: ${(e as Error).message}` } as grpc.ServiceError, null);
    }
  }

  /** Waits for the n-th (0-based) unary request to `method`. */
  request(method: string, n = 0, timeoutMs = 5_000): Promise<unknown> {
    return this.waiters.until(() => this.requests.filter((r) => r.method === method)[n]?.request, timeoutMs, `request #${n} to ${method}`);
  }

  /** Waits for the n-th (0-based) Watch stream. */
  call(n: number, timeoutMs = 5_000): Promise<FakeWatchCall> {
    return this.waiters.until(() => this.calls[n], timeoutMs, `watch stream #${n}`);
  }

  /** Stops the server at once, cancelling every stream. */
  close(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Starts a fake etcd on a free loopback port: Watch streams and scripted unary calls. Unlike the rest of the
 * kit it keeps the process alive (grpc-js servers cannot be unref'd): close() it.
 */
export async function startFakeEtcd(): Promise<FakeEtcd> {
  const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const server = new grpc.Server();
  let fake: FakeEtcd | undefined;
  server.addService(WatchService, {
    watch: (call: grpc.ServerDuplexStream<WatchRequest, WatchResponse>) => fake!.accept(call),
  });
  for (const [service, def] of Object.entries(UNARY_SERVICES)) {
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [name, m] of Object.entries(def as Record<string, { path: string; requestStream: boolean; responseStream: boolean }>)) {
      const method = `${service}.${m.path.split('/').pop()}`;
      handlers[name] =
        m.requestStream || m.responseStream
          ? (call: grpc.ServerDuplexStream<unknown, unknown>) => call.emit('error', { code: 12, details: `fake etcd: ${method} is not scripted` })
          : (call: grpc.ServerUnaryCall<unknown, unknown>, done: grpc.sendUnaryData<unknown>) => void fake!.answer(method, call, done);
    }
    server.addService(def as unknown as grpc.ServiceDefinition, handlers);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  fake = new FakeEtcd(server, port);
  return fake;
}

/** A PUT event of `key` = `value` at `revision` (version 1 unless given, created at `revision`). */
export function putEvent(key: string, value: string, revision: number, version = 1): DeepPartial<PbEvent> {
  return {
    type: Event_EventType.PUT,
    kv: { key: Buffer.from(key), value: Buffer.from(value), modRevision: revision, createRevision: revision - version + 1, version },
  };
}

/** A DELETE event of `key` at `revision`. */
export function deleteEvent(key: string, revision: number): DeepPartial<PbEvent> {
  return { type: Event_EventType.DELETE, kv: { key: Buffer.from(key), modRevision: revision } };
}
