// `client.raw`: etcd's services as typed stubs on the client's own channel, auth token and timeout. Unary
// RPCs return promises of the generated response type; streaming RPCs return Node object-mode duplex
// streams (server-streaming ones take their request up front and are readable only). A call newer than the
// server (AuthStatus or Downgrade on 3.4, RangeStream before 3.7) fails with an UnsupportedByServerError that
// names both versions instead of a bare UNIMPLEMENTED (server-version.ts).

import { Duplex } from 'node:stream';
import { ElectionService } from '../generated/etcdserver/api/v3election/v3electionpb/v3election';
import { LockService } from '../generated/etcdserver/api/v3lock/v3lockpb/v3lock';
import {
  AuthService,
  ClusterService,
  KVService,
  LeaseService,
  MaintenanceService,
  WatchService,
} from '../generated/etcdserver/etcdserverpb/rpc';
import type { Connection } from './connection';
import type { GrpcStatusError } from './errors';
import { explainUnimplemented } from './server-version';
import type { MethodDescriptor, StreamCall } from './transport/transport';

/** Options of one raw unary call. */
export interface RawCallOptions {
  /** Cancels the call; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

type AnyMethod = MethodDescriptor<any, any> & { readonly requestStream: boolean; readonly responseStream: boolean };

/** One raw stub method, typed from the generated definition. */
export type RawMethod<M> = M extends {
  requestStream: infer RS;
  responseStream: infer SS;
  requestSerialize: (value: infer Req) => Buffer;
  responseDeserialize: (value: Buffer) => infer Res;
}
  ? RS extends true
    ? () => Duplex & AsyncIterable<Res> & { write(request: Req): boolean }
    : SS extends true
      ? (request: Req) => Duplex & AsyncIterable<Res>
      : (request: Req, options?: RawCallOptions) => Promise<Res>
  : never;

/** A whole raw service: every method of the generated definition (e.g. `raw.kv.range`, `raw.watch.watch`). */
export type RawService<D> = { readonly [K in keyof D]: RawMethod<D[K]> };

export interface RawClient {
  readonly kv: RawService<typeof KVService>;
  readonly watch: RawService<typeof WatchService>;
  readonly lease: RawService<typeof LeaseService>;
  readonly cluster: RawService<typeof ClusterService>;
  readonly maintenance: RawService<typeof MaintenanceService>;
  readonly auth: RawService<typeof AuthService>;
  readonly lock: RawService<typeof LockService>;
  readonly election: RawService<typeof ElectionService>;
}

/**
 * A stream as a Node duplex: writes go to the server, messages come out as 'data'. Errors end it with the
 * GrpcStatusError; `destroy()` cancels the RPC. Closed with the client.
 */
function rawStream(conn: Connection, method: AnyMethod, request?: unknown): Duplex {
  let call: StreamCall<unknown> | undefined;
  const queued: unknown[] = [];
  let ended = false;
  const untrack = conn.track({ close: () => void duplex.destroy() });
  const duplex = new Duplex({
    objectMode: true,
    read() {},
    write(chunk, _enc, cb) {
      if (call) call.write(chunk);
      else queued.push(chunk);
      cb();
    },
    final(cb) {
      ended = true;
      call?.end();
      cb();
    },
    destroy(err, cb) {
      untrack();
      call?.cancel();
      cb(err);
    },
  });
  conn
    .openStream(
      method,
      {
        onMessage: (m) => duplex.push(m),
        onClose: (err: GrpcStatusError | null) => {
          untrack();
          if (!err) duplex.push(null);
          else if (duplex.destroyed) return;
          else void explainUnimplemented(conn, method.path, err).then((e) => duplex.destroy(e as Error));
        },
      },
      request,
    )
    .then(
      (c) => {
        if (duplex.destroyed) return c.cancel();
        call = c;
        for (const m of queued.splice(0)) c.write(m);
        if (ended) c.end();
      },
      (err) => duplex.destroy(err),
    );
  return duplex;
}

function rawService<D extends Record<string, AnyMethod>>(conn: Connection, definition: D): RawService<D> {
  const stub: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream) stub[name] = () => rawStream(conn, method);
    else if (method.responseStream) stub[name] = (request: unknown) => rawStream(conn, method, request);
    else {
      stub[name] = (request: unknown, options?: RawCallOptions) =>
        conn.unary(method, request, { retry: false, signal: options?.signal }).catch(async (err: unknown) => {
          throw await explainUnimplemented(conn, method.path, err);
        });
    }
  }
  return stub as RawService<D>;
}

/** @internal */
export function createRaw(conn: Connection): RawClient {
  return {
    kv: rawService(conn, KVService),
    watch: rawService(conn, WatchService),
    lease: rawService(conn, LeaseService),
    cluster: rawService(conn, ClusterService),
    maintenance: rawService(conn, MaintenanceService),
    auth: rawService(conn, AuthService),
    lock: rawService(conn, LockService),
    election: rawService(conn, ElectionService),
  };
}
