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
// Watcher.Cancel() resolves as against a real etcd. @grpc/grpc-js is loaded only when a fake starts.

import type * as grpc from '@grpc/grpc-js';
import {
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

export class FakeEtcd {
  /** Every Watch stream opened so far, in order. */
  readonly calls: FakeWatchCall[] = [];
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

/** Starts a fake etcd (Watch service only) on a free loopback port. */
export async function startFakeEtcd(): Promise<FakeEtcd> {
  const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const server = new grpc.Server();
  let fake: FakeEtcd | undefined;
  server.addService(WatchService, {
    watch: (call: grpc.ServerDuplexStream<WatchRequest, WatchResponse>) => fake!.accept(call),
  });
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
