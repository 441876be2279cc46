/**
 * Test helper: a TCP fault-injection proxy in front of etcd (or anything else).
 *
 *   const proxy = await startProxy(cluster.endpoints[0]);
 *   // point the client at proxy.url
 *   proxy.cut();          // reset every connection and refuse new ones
 *   proxy.restore();
 *   proxy.pause();        // black hole: sockets stay open, nothing is forwarded
 *   proxy.resume();       // flush what was held, continue
 *   proxy.setDelay(200);  // add latency to every chunk, both directions
 *
 * "Request reaches etcd but the reply is lost":
 *   proxy.blackholeReplies();                    // server->client bytes are dropped
 *   ...send the request...
 *   await proxy.waitForBytes({ up: before + 1 }); // request forwarded to etcd
 *   proxy.cut();                                 // connection dies, client must decide
 *   proxy.blackholeReplies(false); proxy.restore();
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';

export type ProxyTarget = { host: string; port: number } | string;
export type Direction = 'up' | 'down';

export interface Proxy extends EventEmitter {
  /** Listening port on 127.0.0.1. */
  readonly port: number;
  /** http://127.0.0.1:port */
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
  readonly isPaused: boolean;
  /** Destroy (RST) all current connections, both sides, and refuse new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Stop forwarding in both directions; data is held, sockets stay open; new connections are accepted but not forwarded. */
  pause(): void;
  /** Flush held data and continue forwarding. */
  resume(): void;
  /** Delay every chunk by `ms` in both directions, keeping order. 0 disables. */
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
  /** Close the server and every socket (pending waitForBytes() reject). Idempotent. Emits 'close'. */
  close(): Promise<void>;
}

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

/** Pause reading from a source once this much is held for its direction. */
const HIGH_WATER = 4 * 1024 * 1024;

interface Chunk {
  data: Buffer;
  releaseAt: number;
}

class Pipe {
  queue: Chunk[] = [];
  queued = 0;
  timer: NodeJS.Timeout | undefined;
  ended = false; // source sent FIN
  endForwarded = false;
  constructor(
    readonly conn: Conn,
    readonly dir: Direction,
    readonly src: net.Socket,
    readonly dst: net.Socket,
  ) {}
}

class Conn {
  up: Pipe;
  down: Pipe;
  closed = false;
  dstConnected = false;
  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {
    this.up = new Pipe(this, 'up', client, upstream);
    this.down = new Pipe(this, 'down', upstream, client);
  }
}

class FaultProxy extends EventEmitter implements Proxy {
  port = 0;
  target: { host: string; port: number };
  bytesUp = 0;
  bytesDown = 0;
  droppedUp = 0;
  droppedDown = 0;
  totalConnections = 0;
  private readonly server: net.Server;
  private readonly conns = new Set<Conn>();
  private cutMode = false;
  private pausedMode = false;
  private delayMs = 0;
  private blackholeDown = false;
  private blackholeUp = false;
  private dropDownChunks = 0;
  private closePromise: Promise<void> | undefined;

  constructor(target: { host: string; port: number }) {
    super();
    this.target = target;
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.onConnection(s));
    this.server.on('error', () => {});
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: '127.0.0.1', port: 0 }, () => {
        this.server.removeListener('error', reject);
        this.port = (this.server.address() as net.AddressInfo).port;
        // A forgotten proxy must not keep the test process alive.
        this.server.unref();
        resolve();
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  get connections(): number {
    return this.conns.size;
  }
  get isCut(): boolean {
    return this.cutMode;
  }
  get isPaused(): boolean {
    return this.pausedMode;
  }

  private onConnection(client: net.Socket): void {
    client.on('error', () => {});
    if (this.cutMode || this.closePromise) {
      hardClose(client);
      return;
    }
    this.totalConnections++;
    const upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    upstream.on('error', () => {});
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    const conn = new Conn(client, upstream);
    this.conns.add(conn);
    this.emit('connection', this.conns.size);

    upstream.once('connect', () => {
      conn.dstConnected = true;
      this.pump(conn.up);
    });
    for (const pipe of [conn.up, conn.down]) {
      pipe.src.on('data', (data: Buffer) => this.onData(conn, pipe, data));
      pipe.src.on('end', () => {
        pipe.ended = true;
        this.pump(pipe);
      });
      pipe.src.on('close', (hadError) => {
        if (hadError || !pipe.ended) this.destroyConn(conn);
        else this.maybeFinish(conn);
      });
      pipe.dst.on('drain', () => this.pump(pipe));
    }
    client.resume();
  }

  private onData(conn: Conn, pipe: Pipe, data: Buffer): void {
    if (conn.closed) return;
    if (pipe.dir === 'down' && (this.blackholeDown || this.dropDownChunks > 0)) {
      if (!this.blackholeDown) this.dropDownChunks--;
      this.droppedDown += data.length;
      this.emit('drop', 'down', data.length);
      return;
    }
    if (pipe.dir === 'up' && this.blackholeUp) {
      this.droppedUp += data.length;
      this.emit('drop', 'up', data.length);
      return;
    }
    pipe.queue.push({ data, releaseAt: Date.now() + this.delayMs });
    pipe.queued += data.length;
    if (pipe.queued > HIGH_WATER) pipe.src.pause();
    this.pump(pipe);
  }

  private pump(pipe: Pipe): void {
    const conn = pipe.conn;
    if (conn.closed || this.pausedMode) return;
    if (pipe.dir === 'up' && !conn.dstConnected) return;
    if (pipe.timer) return; // a delayed release is already scheduled
    const now = Date.now();
    while (pipe.queue.length > 0) {
      const head = pipe.queue[0]!;
      if (head.releaseAt > now) {
        pipe.timer = setTimeout(() => {
          pipe.timer = undefined;
          this.pump(pipe);
        }, head.releaseAt - now);
        return;
      }
      if (pipe.dst.writableNeedDrain) return; // resumed on 'drain'
      pipe.queue.shift();
      pipe.queued -= head.data.length;
      if (pipe.dir === 'up') this.bytesUp += head.data.length;
      else this.bytesDown += head.data.length;
      pipe.dst.write(head.data);
      this.emit('data', pipe.dir, head.data.length);
    }
    if (pipe.queued <= HIGH_WATER && pipe.src.isPaused() && !pipe.src.destroyed) pipe.src.resume();
    if (pipe.ended && !pipe.endForwarded) {
      pipe.endForwarded = true;
      pipe.dst.end();
      this.maybeFinish(conn);
    }
  }

  private maybeFinish(conn: Conn): void {
    if (conn.up.endForwarded && conn.down.endForwarded) this.destroyConn(conn);
  }

  private destroyConn(conn: Conn, reset = false): void {
    if (conn.closed) return;
    conn.closed = true;
    for (const p of [conn.up, conn.down]) {
      if (p.timer) clearTimeout(p.timer);
      p.timer = undefined;
      p.queue = [];
      p.queued = 0;
    }
    if (reset) {
      hardClose(conn.client);
      hardClose(conn.upstream);
    } else {
      conn.client.destroy();
      conn.upstream.destroy();
    }
    this.conns.delete(conn);
    this.emit('disconnect', this.conns.size);
  }

  cut(): void {
    this.cutMode = true;
    for (const c of [...this.conns]) this.destroyConn(c, true);
  }

  restore(): void {
    this.cutMode = false;
  }

  pause(): void {
    this.pausedMode = true;
    for (const c of this.conns) {
      for (const p of [c.up, c.down]) {
        if (p.timer) clearTimeout(p.timer);
        p.timer = undefined;
      }
    }
  }

  resume(): void {
    this.pausedMode = false;
    for (const c of [...this.conns]) {
      this.pump(c.up);
      this.pump(c.down);
    }
  }

  setDelay(ms: number): void {
    if (!(ms >= 0)) throw new Error(`bad delay: ${ms}`);
    this.delayMs = ms;
  }

  blackholeReplies(enabled = true): void {
    this.blackholeDown = enabled;
  }

  blackholeRequests(enabled = true): void {
    this.blackholeUp = enabled;
  }

  dropRepliesOnce(n = 1): void {
    this.dropDownChunks += n;
  }

  retarget(target: ProxyTarget): void {
    this.target = parseTarget(target);
  }

  waitForBytes(min: { up?: number; down?: number }, timeoutMs = 5_000): Promise<void> {
    const ok = () => this.bytesUp >= (min.up ?? 0) && this.bytesDown >= (min.down ?? 0);
    if (ok()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onData = () => {
        if (!ok()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `proxy: timed out after ${timeoutMs} ms waiting for up>=${min.up ?? 0} down>=${min.down ?? 0} ` +
              `(up=${this.bytesUp} down=${this.bytesDown})`,
          ),
        );
      }, timeoutMs);
      const onClose = () => {
        cleanup();
        reject(new Error('proxy: closed while waiting for bytes'));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.removeListener('data', onData);
        this.removeListener('close', onClose);
      };
      this.on('data', onData);
      this.once('close', onClose);
    });
  }

  close(): Promise<void> {
    if (!this.closePromise) {
      this.closePromise = new Promise<void>((resolve) => {
        for (const c of [...this.conns]) this.destroyConn(c);
        this.server.close(() => resolve());
        this.emit('close');
      });
    }
    return this.closePromise;
  }
}

function hardClose(s: net.Socket): void {
  try {
    // RST rather than FIN: the peer sees ECONNRESET immediately.
    if (typeof s.resetAndDestroy === 'function' && !s.destroyed && !s.connecting) s.resetAndDestroy();
    else s.destroy();
  } catch {
    s.destroy();
  }
}

/** Start a proxy on 127.0.0.1:<random port> forwarding to `target`. */
export async function startProxy(target: ProxyTarget): Promise<Proxy> {
  const p = new FaultProxy(parseTarget(target));
  await p.listen();
  return p;
}
