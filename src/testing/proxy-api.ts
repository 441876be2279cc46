// The fault proxy's public shape (implemented in proxy.ts) and how it reads a target address.
import type { EventEmitter } from 'node:events';

export type ProxyTarget = { host: string; port: number } | string;
export type Direction = 'up' | 'down';

export interface Proxy extends EventEmitter, AsyncDisposable {
  /** Listening port on 127.0.0.1. */
  readonly port: number;
  /** What a client should connect to: 'http://127.0.0.1:port' (https:// when the target was https://). */
  readonly endpoint: string;
  /** 'http://127.0.0.1:port' whatever the target's scheme. */
  readonly url: string;
  /** host:port */
  readonly address: string;
  readonly target: { host: string; port: number };
  /** Currently open client connections. */
  readonly connections: number;
  /** Client connections accepted and forwarded since start (refused ones not counted). */
  readonly totalConnections: number;
  /** Bytes written to the target (client -> server). */
  readonly bytesUp: number;
  /** Bytes written to clients (server -> client). */
  readonly bytesDown: number;
  /** Bytes discarded by blackholeRequests()/blackholeReplies(). */
  readonly droppedUp: number;
  readonly droppedDown: number;
  readonly isCut: boolean;
  /** True while both directions are held (blackhole() / pause()). */
  readonly isPaused: boolean;
  /** Destroy (RST) all current connections, both sides, and refuse (RST) new ones until restore(). */
  cut(): void;
  /**
   * Stop forwarding in both directions: connections are accepted and stay open, bytes are read and held,
   * nothing is answered — a peer that vanished without closing anything. restore()/resume() delivers the held
   * bytes, as TCP retransmission would after a network partition heals.
   */
  blackhole(): void;
  /** One-way partition: hold the bytes going 'up' (client->server) or 'down' (server->client); the other way flows. */
  partition(held: Direction): void;
  /**
   * For a proxy in front of an etcd peer port: hold the bytes going `held` on the connections whose HTTP requests
   * say they come from the member with (hex) id `sender` (etcd's X-Server-From header); undefined: release both
   * directions.
   * The cluster's partition() is built on this.
   */
  partitionFrom(sender: string, held: Direction | undefined): void;
  /** Add `ms` to every chunk in both directions, keeping order. 0 disables. */
  delay(ms: number): void;
  /** Back to normal: not cut, nothing held (held bytes are delivered), no delay, no blackholed or dropped bytes. */
  restore(): void;
  /**
   * Let the next request (the next HTTP/2 stream any client opens through the proxy) reach the server, then lose
   * its answer: the first frame of the response is discarded and that connection is reset at once, so the
   * client cannot know whether the request was applied (an at-most-once test). Resolves when it happened.
   * With TLS the proxy cannot see streams: the next bytes any client sends mark the connection, and the next
   * bytes the server sends on it are dropped.
   */
  dropAnswer(timeoutMs?: number): Promise<void>;
  /** The same as blackhole(). */
  pause(): void;
  /** Deliver the held bytes and forward again (both directions). */
  resume(): void;
  /** The same as delay(). */
  setDelay(ms: number): void;
  /** Discard server -> client bytes (request still reaches the server). */
  blackholeReplies(enabled?: boolean): void;
  /** Discard client -> server bytes. */
  blackholeRequests(enabled?: boolean): void;
  /** Drop (discard) the next `n` chunks coming back from the server, then forward normally. */
  dropRepliesOnce(n?: number): void;
  /** New connections go to this target (existing ones are untouched). */
  retarget(target: ProxyTarget): void;
  /** Resolve once the counters reach at least the given values (rejects after timeoutMs, default 5000). */
  waitForBytes(min: { up?: number; down?: number }, timeoutMs?: number): Promise<void>;
  /** Close the server and every socket (pending waitForBytes()/dropAnswer() reject). Idempotent. Emits 'close'. */
  close(): Promise<void>;
}

/** host and port of a target given as {host, port}, 'host:port' or a URL (the first of a comma-separated list). */
export function parseTarget(target: ProxyTarget): { host: string; port: number } {
  if (typeof target !== 'string') return { host: target.host, port: target.port };
  let s = target.trim();
  if (s.includes(',')) s = s.split(',')[0]!.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    const u = new URL(s);
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
  }
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new Error(`bad proxy target: ${target}`);
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

