/**
 * A TCP fault-injection proxy in front of etcd (or anything else), on 127.0.0.1 with a free port.
 *
 *   await using proxy = await startProxy(etcd.endpoint);
 *   new Client(proxy.endpoint);
 *   proxy.cut();          // reset (RST) every connection and refuse new ones
 *   proxy.blackhole();    // accept, forward nothing, answer nothing (bytes are held, as TCP would retransmit)
 *   proxy.delay(200);     // add 200 ms to every chunk, both ways
 *   proxy.partition('up');// one way: client->server bytes are held, server->client bytes flow
 *   await proxy.dropAnswer(); // the next request reaches etcd, its answer is lost and the connection reset
 *   proxy.restore();      // all of the above undone (held bytes are delivered)
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { FRAME_HEADERS, type FrameHeader } from './h2-frames';
import { Conn, HIGH_WATER, hardClose, type Pipe } from './proxy-conn';
import { parseTarget, type Direction, type Proxy, type ProxyTarget } from './proxy-api';

export { parseTarget, type Direction, type Proxy, type ProxyTarget } from './proxy-api';

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
  private readonly held = new Set<Direction>();
  /** `${direction} ${sender}`: bytes held on the connections of one etcd peer (partitionFrom()). */
  private readonly heldFrom = new Set<string>();
  private delayMs = 0;
  private dropping: DropState | undefined;
  private readonly secure: boolean;
  private blackholeDown = false;
  private blackholeUp = false;
  private dropDownChunks = 0;
  private closePromise: Promise<void> | undefined;

  constructor(target: { host: string; port: number }, secure: boolean) {
    super();
    this.target = target;
    this.secure = secure;
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
  get endpoint(): string {
    return `${this.secure ? 'https' : 'http'}://127.0.0.1:${this.port}`;
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
    return this.held.size === 2;
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
    // Only the client at the other end decides whether the process stays up, not the proxy in between.
    upstream.unref();
    client.unref();
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
    if (pipe.dir === 'up' && conn.from === undefined && conn.head.length < 8192) {
      // etcd's peer requests (HTTP/1.1) name their sender: the first request on a connection tells who dialed it.
      conn.head += data.toString('latin1');
      conn.from = /\r\nX-Server-From: *([0-9a-f]+)\r\n/i.exec(conn.head)?.[1]?.toLowerCase();
    }
    // Frame boundaries are tracked from a connection's first byte, so dropAnswer() can be armed at any time.
    const frames = (pipe.dir === 'up' ? conn.upFrames : conn.downFrames).feed(data);
    let opened: number | undefined;
    for (const f of frames) {
      if (pipe.dir !== 'up' || f.streamId % 2 === 0 || f.streamId <= conn.lastStream) continue;
      if (f.type === FRAME_HEADERS) opened ??= f.streamId;
      conn.lastStream = f.streamId;
    }
    if (this.dropping && this.watchForAnswer(conn, pipe, data, frames, opened)) return;
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
    if (conn.closed || this.held.has(pipe.dir)) return;
    if (conn.from !== undefined && this.heldFrom.has(`${pipe.dir} ${conn.from}`)) return;
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

  partitionFrom(sender: string, held: Direction | undefined): void {
    const id = sender.toLowerCase();
    if (held) {
      this.heldFrom.add(`${held} ${id}`);
      return;
    }
    this.heldFrom.delete(`up ${id}`);
    this.heldFrom.delete(`down ${id}`);
    this.resume(false);
  }

  restore(): void {
    this.heldFrom.clear();
    this.cutMode = false;
    this.delayMs = 0;
    this.blackholeUp = false;
    this.blackholeDown = false;
    this.dropDownChunks = 0;
    this.resume();
  }

  private hold(dirs: Direction[]): void {
    for (const d of dirs) this.held.add(d);
    for (const c of this.conns) {
      for (const p of [c.up, c.down]) {
        if (!this.held.has(p.dir)) continue;
        if (p.timer) clearTimeout(p.timer);
        p.timer = undefined;
      }
    }
  }

  blackhole(): void {
    this.hold(['up', 'down']);
  }

  pause(): void {
    this.blackhole();
  }

  partition(held: Direction): void {
    if (held !== 'up' && held !== 'down') throw new Error(`partition: 'up' or 'down', got ${String(held)}`);
    this.hold([held]);
  }

  resume(clear = true): void {
    if (clear) this.held.clear();
    for (const c of [...this.conns]) {
      this.pump(c.up);
      this.pump(c.down);
    }
  }

  delay(ms: number): void {
    if (!(ms >= 0)) throw new Error(`bad delay: ${ms}`);
    this.delayMs = ms;
  }

  setDelay(ms: number): void {
    this.delay(ms);
  }

  dropAnswer(timeoutMs = 10_000): Promise<void> {
    if (this.dropping) return Promise.reject(new Error('proxy: dropAnswer() is already armed'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.dropping = undefined;
        reject(new Error(`proxy: no request answered through the proxy within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.dropping = {
        settle: (err) => {
          clearTimeout(timer);
          this.dropping = undefined;
          if (err) reject(err);
          else resolve();
        },
      };
    });
  }

  /** dropAnswer() at work: true when `data` was swallowed. */
  private watchForAnswer(conn: Conn, pipe: Pipe, data: Buffer, frames: FrameHeader[], opened: number | undefined): boolean {
    const d = this.dropping!;
    if (pipe.dir === 'up') {
      if (d.conn) return false;
      if (!conn.upFrames.h2) d.conn = conn; // not h2c (TLS): the connection that speaks next is the one
      if (opened !== undefined) {
        d.conn = conn;
        d.streamId = opened;
      }
      return false;
    }
    if (d.conn !== conn) return false;
    const answered = d.streamId === undefined ? true : frames.some((f) => f.streamId === d.streamId);
    if (!answered) return false;
    this.droppedDown += data.length;
    this.emit('drop', 'down', data.length);
    this.destroyConn(conn, true);
    d.settle();
    return true;
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

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  close(): Promise<void> {
    if (!this.closePromise) {
      this.dropping?.settle(new Error('proxy: closed before an answer was dropped'));
      this.closePromise = new Promise<void>((resolve) => {
        for (const c of [...this.conns]) this.destroyConn(c);
        this.server.close(() => resolve());
        this.emit('close');
      });
    }
    return this.closePromise;
  }
}

interface DropState {
  conn?: Conn;
  streamId?: number;
  settle(err?: Error): void;
}

/** Starts a proxy on 127.0.0.1 (free port) forwarding to `target` (an etcd endpoint, 'host:port' or {host, port}). */
export async function startProxy(target: ProxyTarget): Promise<Proxy> {
  const secure = typeof target === 'string' && /^\s*https:/i.test(target);
  const p = new FaultProxy(parseTarget(target), secure);
  await p.listen();
  return p;
}
