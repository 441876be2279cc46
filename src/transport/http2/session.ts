// One HTTP/2 connection to one endpoint: opening it (TCP, then TLS when configured), READY on the server's
// SETTINGS, GOAWAY, the keepalive ping, and the streams it carries. What a connection event means for the
// transport as a whole (pick another endpoint, back off, fail waiting calls) is the owner's decision.

import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { trace } from '../../trace';
import type { Endpoint } from './endpoint';
import { messageOf } from './wire';

const { NGHTTP2_CANCEL } = http2.constants;

/** Connection receive window, shared by all streams (watch catch-ups next to big ranges). */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
export const CONNECT_TIMEOUT_MS = 5_000;
/** Client stream ids are odd 31-bit numbers: retire a session well before they run out. */
const MAX_STREAMS_PER_SESSION = 1_000_000_000;

/** What a session reports to the transport that opened it. */
export interface SessionOwner {
  /** The transport was closed: a session that becomes ready now is not used. */
  readonly closed: boolean;
  /** Keepalive ping interval in ms while streams are open; 0 turns pinging off. */
  readonly keepaliveMs: number;
  /** How long a ping may go unanswered before the connection is given up. */
  readonly keepaliveTimeoutMs: number;
  /** The server's SETTINGS arrived: the session may take calls. */
  sessionReady(s: Session): void;
  /** `s` takes no new calls from now on (GOAWAY, a failed request or ping, stream ids used up, closed). */
  retire(s: Session, why: string, closeGracefully?: boolean): void;
  /** The HTTP/2 session closed for good. */
  sessionClosed(s: Session): void;
}

/** One HTTP/2 connection to an endpoint. */
export class Session {
  /** Streams open on it; the session holds the process open (ref) only while there are any. */
  readonly streams = new Set<http2.ClientHttp2Stream>();
  opened = 0;
  ready = false;
  /** Takes no new calls (failed, closing, or told to GOAWAY); streams already on it may still finish. */
  retired = false;
  connectTimer: NodeJS.Timeout | undefined = undefined;
  keepaliveTimer: NodeJS.Timeout | undefined = undefined;
  pingTimer: NodeJS.Timeout | undefined = undefined;
  /** Why the session is going away, for the calls it takes down. */
  reason: string | undefined = undefined;

  private constructor(
    readonly owner: SessionOwner,
    readonly ep: Endpoint,
    readonly h2: http2.ClientHttp2Session,
    /** The TCP socket under the session (under TLS too), so a dead connection can be reset (RST). */
    readonly tcp: net.Socket,
  ) {}

  /**
   * Starts connecting to `ep`. The session reports to `owner` when it is ready, retired or closed; it does not
   * keep the process alive while no stream is open. Throws when the connection cannot even be started (nothing
   * is left open then).
   */
  static open(owner: SessionOwner, ep: Endpoint): Session {
    let h2: http2.ClientHttp2Session;
    let tcp: net.Socket | undefined;
    let socket: net.Socket;
    try {
      tcp = net.connect({ host: ep.host, port: ep.port });
      socket = ep.tlsOptions ? tls.connect({ ...ep.tlsOptions, socket: tcp }) : tcp;
      if (socket !== tcp) tcp.on('error', ignore); // reported by the TLS socket
      const connection = socket;
      h2 = http2.connect(ep.url, { ...ep.connectOptions, createConnection: () => connection });
    } catch (e) {
      tcp?.destroy();
      throw e;
    }
    const s = new Session(owner, ep, h2, tcp);
    // After a TLS error (e.g. the server's "certificate required" alert under TLS 1.3, which arrives after our
    // side of the handshake finished) Node marks the session destroyed but waits forever for the socket to
    // flush: it never emits 'close'. Closing the TCP socket ourselves lets the session finish.
    socket.on('error', (err: Error) => {
      s.reason ??= messageOf(err);
      setImmediate(destroySocket, s.tcp);
    });
    trace('http2', `connecting to ${ep.url}`);
    // An idle client must not keep the process alive; calls waiting for this connection hold timers that do.
    h2.unref();
    s.connectTimer = setTimeout(onConnectTimeout, CONNECT_TIMEOUT_MS, s);
    s.connectTimer.unref();
    // READY on the server's SETTINGS, not on TCP connect (see ./transport.ts).
    h2.once('remoteSettings', () => s.settingsArrived());
    h2.on('error', (err: Error) => {
      s.reason ??= messageOf(err);
    });
    h2.on('goaway', (code: number) => {
      s.reason ??= `server sent GOAWAY (code ${code})`;
      trace('http2', `${ep.name}: GOAWAY code ${code}`);
      owner.retire(s, s.reason);
    });
    h2.on('close', () => {
      s.clearTimers();
      owner.sessionClosed(s);
    });
    return s;
  }

  private settingsArrived(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.owner.closed || this.retired) return;
    try {
      this.h2.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      // an old peer or a session already closing: the default window still works
    }
    this.ready = true;
    const ka = this.owner.keepaliveMs;
    if (ka > 0) {
      this.keepaliveTimer = setInterval(keepaliveTick, ka, this);
      this.keepaliveTimer.unref();
    }
    trace('http2', `connected to ${this.ep.url}`);
    this.owner.sessionReady(this);
  }

  /**
   * Opens a stream for a request. Undefined when the session refused it (nothing was sent; the session is
   * retired then).
   */
  request(headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream | undefined {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.h2.request(headers);
    } catch (e) {
      // ERR_HTTP2_GOAWAY_SESSION, ERR_HTTP2_INVALID_SESSION, ERR_HTTP2_OUT_OF_STREAMS: nothing was sent.
      this.owner.retire(this, messageOf(e));
      return undefined;
    }
    if (++this.opened >= MAX_STREAMS_PER_SESSION) this.owner.retire(this, 'stream ids used up', true);
    if (this.streams.size === 0) this.h2.ref();
    this.streams.add(stream);
    return stream;
  }

  /** A stream on this session closed. */
  release(stream: http2.ClientHttp2Stream): void {
    this.streams.delete(stream);
    if (this.streams.size === 0 && !this.h2.destroyed) this.h2.unref();
  }

  /** Marks the session as taking no new calls; false when it already was. */
  markRetired(): boolean {
    if (this.retired) return false;
    this.retired = true;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    return true;
  }

  /** Closes the HTTP/2 session once the streams on it finish (GOAWAY to the server). */
  closeGracefully(): void {
    if (!this.h2.closed) this.h2.close();
  }

  /** Tears the session down now (the transport is closing): its streams close, their calls end. */
  destroy(): void {
    this.clearTimers();
    this.retired = true;
    this.h2.destroy();
  }

  clearTimers(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    this.connectTimer = this.keepaliveTimer = this.pingTimer = undefined;
  }

  /** Keepalive: ping while streams are open, one ping at a time. */
  ping(): void {
    if (this.streams.size === 0 || this.pingTimer !== undefined || this.h2.destroyed) return;
    let sent: boolean;
    try {
      sent = this.h2.ping((err) => {
        if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
        this.pingTimer = undefined;
        if (err) trace('http2', `${this.ep.name}: ping failed: ${err.message}`);
      });
    } catch {
      return;
    }
    if (!sent) return;
    this.pingTimer = setTimeout(onPingTimeout, this.owner.keepaliveTimeoutMs, this);
    this.pingTimer.unref();
  }

  pingTimedOut(): void {
    if (this.h2.destroyed) return;
    this.reason = `keepalive ping not answered within ${this.owner.keepaliveTimeoutMs} ms`;
    trace('http2', `${this.ep.name}: ${this.reason}`);
    this.owner.retire(this, this.reason);
    // As grpc-js does: reset every stream (RST_STREAM CANCEL follows each request on the wire, so a member that
    // wakes up drops what it had not started) and fail the calls with UNAVAILABLE as their streams close. An
    // event-loop turn later, once those frames are out, the TCP connection is reset (RST, not FIN): the
    // kernel of a stopped member then discards whatever it holds for it, unread requests included.
    for (const stream of this.streams) stream.close(NGHTTP2_CANCEL);
    setImmediate(resetSession, this);
  }

  connectTimedOut(): void {
    if (this.ready || this.retired) return;
    this.reason = `connection attempt timed out after ${CONNECT_TIMEOUT_MS} ms`;
    this.h2.destroy();
  }
}

// Timer callbacks take the session as an argument: no closure per timer.

function keepaliveTick(s: Session): void {
  s.ping();
}

function onPingTimeout(s: Session): void {
  s.pingTimer = undefined;
  s.pingTimedOut();
}

function onConnectTimeout(s: Session): void {
  s.connectTimer = undefined;
  s.connectTimedOut();
}

function ignore(): void {}

function resetSession(s: Session): void {
  if (!s.tcp.destroyed) s.tcp.resetAndDestroy();
  if (!s.h2.destroyed) s.h2.destroy();
}

function destroySocket(tcp: net.Socket): void {
  tcp.destroy();
}
