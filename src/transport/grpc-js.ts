import * as grpc from '@grpc/grpc-js';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import { GrpcStatusError } from '../errors';
import { formatHostPort } from '../endpoints';
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from './transport';
import { requestSerializer } from './framing';
import type {
  CallOptions,
  MethodDescriptor,
  StreamCall,
  StreamHandlers,
  Transport,
  TransportConfig,
} from './transport';

const SCHEME = 'etcd-apiv3-endpoints';

/**
 * Resolves the fixed endpoint list a client was given (`etcd-apiv3-endpoints:///h1:p1,h2:p2`) into grpc-js
 * endpoints. IP literals pass through; host names are looked up (all addresses).
 *
 * grpc-js asks for a new resolution after every connection failure and expects the resolver to pace itself:
 * answering each request at once spins the event loop. So the list is reported once, and host names are
 * looked up again at most every RESOLVE_INTERVAL_MS (a member that moved is found after a reconnect).
 */
const RESOLVE_INTERVAL_MS = 10_000;

class EndpointListResolver implements grpc.experimental.Resolver {
  private readonly hosts: { host: string; port: number }[];
  private readonly hasNames: boolean;
  private lastResolved = -Infinity;
  private inFlight = false;
  private destroyed = false;

  constructor(
    target: grpc.experimental.GrpcUri,
    private readonly listener: grpc.experimental.ResolverListener,
  ) {
    this.hosts = target.path.split(',').map((part) => {
      const hp = grpc.experimental.splitHostPort(part);
      if (!hp || hp.port === undefined) throw new Error(`bad endpoint in target: ${part}`);
      return { host: hp.host, port: hp.port };
    });
    this.hasNames = this.hosts.some((h) => !isIP(h.host));
  }

  updateResolution(): void {
    this.destroyed = false;
    if (this.inFlight) return;
    const first = this.lastResolved === -Infinity;
    if (!first && (!this.hasNames || Date.now() - this.lastResolved < RESOLVE_INTERVAL_MS)) return;
    this.inFlight = true;
    this.lastResolved = Date.now();
    Promise.all(
      this.hosts.map(
        (h) =>
          new Promise<grpc.experimental.Endpoint | null>((resolve) => {
            if (isIP(h.host)) return resolve({ addresses: [{ host: h.host, port: h.port }] });
            lookup(h.host, { all: true }, (err, addrs) => {
              if (err || addrs.length === 0) return resolve(null);
              resolve({ addresses: addrs.map((a) => ({ host: a.address, port: h.port })) });
            });
          }),
      ),
    ).then((found) => {
      // Never synchronous with updateResolution (grpc-js's rule): the promise defers it.
      this.inFlight = false;
      if (this.destroyed) return;
      const endpoints = found.filter((e): e is grpc.experimental.Endpoint => e !== null);
      if (endpoints.length === 0) {
        this.listener(
          grpc.experimental.statusOrFromError({
            code: grpc.status.UNAVAILABLE,
            details: `cannot resolve any etcd endpoint (${this.hosts.map(formatHostPort).join(', ')})`,
            metadata: new grpc.Metadata(),
          }),
          {},
          null,
          '',
        );
      } else {
        this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, '');
      }
    });
  }

  destroy(): void {
    this.destroyed = true;
    this.lastResolved = -Infinity;
  }

  static getDefaultAuthority(target: grpc.experimental.GrpcUri): string {
    return target.path.split(',')[0]!;
  }
}

let registered = false;
function registerResolverOnce(): void {
  if (registered) return;
  grpc.experimental.registerResolver(SCHEME, EndpointListResolver);
  registered = true;
}

const EMPTY_METADATA_OPTIONS = {};

function toMetadata(md: Readonly<Record<string, string>> | undefined): grpc.Metadata {
  const m = new grpc.Metadata(EMPTY_METADATA_OPTIONS);
  if (md) for (const k in md) m.set(k, md[k]!);
  return m;
}

/**
 * grpc-js's own words when its load balancer found no connection to put the call on: the call never left
 * this process, so even a write may be retried. (grpc-js exposes no flag for this; the text is its own, not
 * the server's.)
 */
const NOT_SENT = 'No connection established';

function statusError(e: Partial<grpc.StatusObject> & { code?: number }, options: CallOptions): GrpcStatusError {
  const code = typeof e.code === 'number' ? e.code : grpc.status.UNKNOWN;
  const details = e.details ?? (e as { message?: string }).message ?? 'unknown error';
  const notSent = code === grpc.status.UNAVAILABLE && details.includes(NOT_SENT) ? false : undefined;
  return new GrpcStatusError(code, details, notSent, code === grpc.status.DEADLINE_EXCEEDED && options.deadline !== undefined);
}

export { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from './transport';

/**
 * How server certificates are checked. grpc-js checks every connection of a channel against one name, the
 * channel's authority — for our endpoint list, the first endpoint's host — so a cluster whose members each have
 * their own certificate (valid for their own address only) would be reachable through the first member alone.
 * Without a targetNameOverride, a certificate (still signed by a trusted CA) is therefore accepted when it is
 * valid for any of the endpoints the client was given. With one, grpc-js checks that name for every connection.
 */
function tlsVerifyOptions(config: TransportConfig): grpc.VerifyOptions {
  const hosts = [...new Set(config.endpoints.map((e) => e.host))];
  if (config.tls?.targetNameOverride || hosts.length < 2) return {};
  return {
    checkServerIdentity: (host, cert) => {
      const err = checkServerIdentity(host, cert);
      return err && hosts.some((h) => checkServerIdentity(h, cert) === undefined) ? undefined : err;
    },
  };
}

/** The transport on @grpc/grpc-js: one channel for all endpoints, balanced by grpc-js's own policies. */
export class GrpcJsTransport implements Transport {
  private readonly client: grpc.Client;
  private closed = false;
  /** Calls and streams in flight, cancelled on close so nothing outlives the client. */
  private readonly active = new Set<{ cancel(): void }>();

  constructor(config: TransportConfig) {
    registerResolverOnce();
    const target = `${SCHEME}:///${config.endpoints.map(formatHostPort).join(',')}`;
    const tls = config.tls;
    const credentials = tls
      ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null, tlsVerifyOptions(config))
      : grpc.credentials.createInsecure();
    const options: grpc.ChannelOptions = {
      // etcd may answer a range with far more than grpc-js's 4 MiB default; its own client takes anything.
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [config.loadBalancer]: {} }] }),
      // After a member restarts, reconnect within a second instead of grpc-js's default of up to 2 minutes.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      // Pings find connections that stay open but went silent (a member stopped with SIGSTOP, a dead link):
      // the calls and streams on such a connection fail with UNAVAILABLE at most KEEPALIVE_TIME_MS +
      // KEEPALIVE_TIMEOUT_MS after it went silent, and the balancer stops picking that member. etcd answers pings
      // sent more often than every 5 s (its --grpc-keepalive-min-time), or without an open call, with GOAWAY
      // too_many_pings; grpc-js never pings sooner than keepalive_time after the last ping's answer and only
      // while calls are open, so 6 s keeps a margin above etcd's floor.
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': 0,
      ...(tls?.targetNameOverride
        ? { 'grpc.ssl_target_name_override': tls.targetNameOverride, 'grpc.default_authority': tls.targetNameOverride }
        : {}),
      ...config.channelOptions,
    };
    try {
      this.client = new grpc.Client(target, credentials, options);
    } catch (err) {
      // Only the raw `grpcOptions` can make grpc-js refuse the channel (a service config that does not parse, …).
      throw new TypeError(`grpcOptions: grpc-js refused the channel options: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  unary<Req, Res>(method: MethodDescriptor<Req, Res>, request: Req, options: CallOptions): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (this.closed) return reject(new GrpcStatusError(grpc.status.UNAVAILABLE, 'transport is closed', false));
      const signal = options.signal;
      if (signal?.aborted) return reject(signal.reason);
      const callOptions: grpc.CallOptions = options.deadline !== undefined ? { deadline: options.deadline } : {};
      let onAbort: (() => void) | undefined;
      let localTimer: NodeJS.Timeout | undefined;
      let expired = false;
      const call = this.client.makeUnaryRequest(
        method.path,
        requestSerializer(method),
        method.responseDeserialize,
        request,
        toMetadata(options.metadata),
        callOptions,
        (err, value) => {
          this.active.delete(call);
          if (localTimer !== undefined) clearTimeout(localTimer);
          if (onAbort) signal!.removeEventListener('abort', onAbort);
          if (signal?.aborted) reject(signal.reason);
          else if (expired) reject(new GrpcStatusError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded', undefined, true));
          else if (err) reject(statusError(err, options));
          else resolve(value!);
        },
      );
      this.active.add(call);
      const local = options.localDeadline;
      if (local !== undefined && (options.deadline === undefined || local < options.deadline)) {
        // Ours alone (see CallOptions.localDeadline): cancelling resets the stream; the callback reports code 4.
        localTimer = setTimeout(() => {
          expired = true;
          call.cancel();
        }, Math.max(0, local - Date.now()));
      }
      if (signal) {
        onAbort = () => call.cancel();
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  stream<Req, Res>(
    method: MethodDescriptor<Req, Res>,
    options: CallOptions,
    handlers: StreamHandlers<Res>,
    request?: Req,
  ): StreamCall<Req> {
    const callOptions: grpc.CallOptions = options.deadline !== undefined ? { deadline: options.deadline } : {};
    const metadata = toMetadata(options.metadata);
    let done = false;
    let call: grpc.ClientDuplexStream<Req, Res> | grpc.ClientReadableStream<Res> | undefined;
    const finish = (err: GrpcStatusError | null) => {
      if (done) return;
      done = true;
      if (call) this.active.delete(call);
      handlers.onClose(err);
    };
    if (this.closed) {
      queueMicrotask(() => finish(new GrpcStatusError(grpc.status.UNAVAILABLE, 'transport is closed', false)));
      return { write() {}, end() {}, cancel() {} };
    }
    call = method.requestStream
      ? this.client.makeBidiStreamRequest(method.path, requestSerializer(method), method.responseDeserialize, metadata, callOptions)
      : this.client.makeServerStreamRequest(
          method.path,
          requestSerializer(method),
          method.responseDeserialize,
          request as Req,
          metadata,
          callOptions,
        );
    this.active.add(call);
    call.on('data', (m: Res) => {
      if (!done) handlers.onMessage(m);
    });
    // grpc-js reports the final status through 'status'; 'error' repeats it for non-OK codes. Listening to
    // 'error' also keeps an unhandled stream error from crashing the process.
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => {
      finish(s.code === grpc.status.OK ? null : statusError(s, options));
    });
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) call.cancel();
      else signal.addEventListener('abort', () => call.cancel(), { once: true });
    }
    const writable = method.requestStream ? (call as grpc.ClientDuplexStream<Req, Res>) : undefined;
    return {
      write: (m: Req) => {
        if (!done && writable && !writable.writableEnded) writable.write(m);
      },
      end: () => {
        if (!done && writable && !writable.writableEnded) writable.end();
      },
      cancel: () => {
        if (!done) call.cancel();
      },
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const call of this.active) call.cancel();
    this.active.clear();
    this.client.close();
  }
}
