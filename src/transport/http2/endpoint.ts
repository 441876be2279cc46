// One configured etcd endpoint as the node:http2 transport sees it: how to reach it (authority, TLS options),
// the request headers of its calls (cached), and where its connection stands.

import type * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { HTTP2_CONNECT } from '../../backoff';
import { formatHostPort } from '../../endpoints';
import type { TransportConfig } from '../transport';
import { grpcTimeout } from './wire';


/** Per-stream receive window: a 3 MiB range arrives without waiting for WINDOW_UPDATEs. */
const STREAM_WINDOW = 8 * 1024 * 1024;
/** nghttp2's memory budget per session, in MB (Node's default of 10 is tight for 256 busy streams). */
const MAX_SESSION_MEMORY_MB = 128;
const USER_AGENT = 'etcd-apiv3-http2/0.1';
/** Headers we set ourselves; user metadata may not override them. */
const RESERVED_HEADERS = new Set(['content-type', 'te', 'grpc-timeout', 'user-agent', 'grpc-encoding', 'grpc-accept-encoding']);

// Where an endpoint's connection stands (see the state table in ./transport.ts).
export const IDLE = 0;
export const CONNECTING = 1;
export const READY = 2;
export const BACKOFF = 3;
export type EndpointState = typeof IDLE | typeof CONNECTING | typeof READY | typeof BACKOFF;

/** A configured endpoint: how to reach it, its header templates, and the state of its connection. */
export class Endpoint {
  /** Changed only by the transport's `setState`, which keeps its count of idle endpoints. */
  state: EndpointState = IDLE;
  /** The connection now serving or being opened to this endpoint; only its identity is compared. */
  session: object | undefined = undefined;
  /** The next backoff wait before jitter. */
  backoffMs: number;
  backoffTimer: NodeJS.Timeout | undefined = undefined;
  lastError = '';
  readonly url: string;
  readonly name: string;
  /** `:authority`: host:port, or the TLS target name override. */
  readonly authority: string;
  readonly scheme: 'http' | 'https';
  readonly connectOptions: http2.ClientSessionOptions;
  /** TLS options for tls.connect, when the endpoint uses TLS. */
  readonly tlsOptions: tls.ConnectionOptions | undefined;
  /** Request headers per method path for calls without deadline or metadata: Node copies them, never mutates. */
  private readonly headerCache = new Map<string, http2.OutgoingHttpHeaders>();
  private readonly metadataCache = new WeakMap<object, Map<string, http2.OutgoingHttpHeaders>>();

  constructor(
    readonly index: number,
    readonly host: string,
    readonly port: number,
    config: TransportConfig,
    private readonly initialBackoffMs: number,
    private readonly maxBackoffMs: number,
  ) {
    this.backoffMs = initialBackoffMs;
    const hostPort = formatHostPort({ host, port });
    const t = config.tls;
    const co = config.channelOptions;
    const override = t?.targetNameOverride ?? (typeof co?.['grpc.ssl_target_name_override'] === 'string' ? co['grpc.ssl_target_name_override'] : undefined);
    const defaultAuthority = typeof co?.['grpc.default_authority'] === 'string' ? co['grpc.default_authority'] : undefined;
    this.scheme = t ? 'https' : 'http';
    this.name = hostPort;
    this.url = `${this.scheme}://${hostPort}`;
    this.authority = defaultAuthority ?? override ?? hostPort;
    this.connectOptions = {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    };
    if (t) {
      const checkName = override ?? host;
      const options: tls.ConnectionOptions = { ALPNProtocols: ['h2'] };
      if (t.ca) options.ca = t.ca;
      if (t.cert) options.cert = t.cert;
      if (t.key) options.key = t.key;
      // SNI carries a name, never an IP address (RFC 6066).
      if (override !== undefined || !net.isIP(host)) options.servername = override ?? host;
      options.checkServerIdentity = (_name, cert) => tls.checkServerIdentity(checkName, cert);
      this.tlsOptions = options;
    }
  }

  /** The jittered wait before the next attempt; each call doubles the next one, up to the maximum. */
  nextBackoff(): number {
    const j = HTTP2_CONNECT.jitter;
    const delay = Math.round(this.backoffMs * (1 - j + 2 * j * Math.random()));
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    return delay;
  }

  /** A connection became ready or was retired in use: the next failure starts the backoff from the bottom. */
  resetBackoff(): void {
    this.backoffMs = this.initialBackoffMs;
  }

  /**
   * The request headers of a call. The fixed part is cached per path, and per metadata object when that object
   * is frozen (the client's shared `hasleader` metadata): Node copies headers, it never mutates them.
   */
  headers(path: string, timeoutMs: number, metadata: Readonly<Record<string, string>> | undefined): http2.OutgoingHttpHeaders {
    let base: http2.OutgoingHttpHeaders | undefined;
    if (metadata === undefined) {
      base = this.headerCache.get(path);
      if (base === undefined) this.headerCache.set(path, (base = this.newHeaders(path, undefined)));
    } else if (Object.isFrozen(metadata)) {
      let byPath = this.metadataCache.get(metadata);
      if (byPath === undefined) this.metadataCache.set(metadata, (byPath = new Map()));
      base = byPath.get(path);
      if (base === undefined) byPath.set(path, (base = this.newHeaders(path, metadata)));
    } else {
      base = this.newHeaders(path, metadata);
      if (timeoutMs >= 0) base['grpc-timeout'] = grpcTimeout(timeoutMs);
      return base;
    }
    return timeoutMs < 0 ? base : { ...base, 'grpc-timeout': grpcTimeout(timeoutMs) };
  }

  private newHeaders(path: string, metadata: Readonly<Record<string, string>> | undefined): http2.OutgoingHttpHeaders {
    const h: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':scheme': this.scheme,
      ':authority': this.authority,
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': USER_AGENT,
    };
    if (metadata !== undefined) {
      for (const key in metadata) {
        const k = key.toLowerCase();
        if (k.charCodeAt(0) === 58 /* ':' */ || RESERVED_HEADERS.has(k)) continue;
        h[k] = metadata[key];
      }
    }
    return h;
  }
}
