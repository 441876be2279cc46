// One proxied connection: the client socket, the upstream socket, and a queue per direction (so bytes can be
// held or delayed in order), plus what the proxy learns about it (HTTP/2 streams, the etcd peer that dialed).
import type * as net from 'node:net';
import { FrameReader } from './h2-frames';
import type { Direction } from './proxy-api';

/** Pause reading from a source once this much is held for its direction. */
export const HIGH_WATER = 4 * 1024 * 1024;

interface Chunk {
  data: Buffer;
  releaseAt: number;
}

export class Pipe {
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

export class Conn {
  up: Pipe;
  down: Pipe;
  closed = false;
  dstConnected = false;
  /** HTTP/2 frame tracking, for dropAnswer(). */
  readonly upFrames = new FrameReader(true);
  lastStream = 0;
  readonly downFrames = new FrameReader(false);
  /** The sender an etcd peer names in its request (X-Server-From), once its first request header was read. */
  from: string | undefined;
  head = '';
  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {
    this.up = new Pipe(this, 'up', client, upstream);
    this.down = new Pipe(this, 'down', upstream, client);
  }
}

export function hardClose(s: net.Socket): void {
  try {
    // RST rather than FIN: the peer sees ECONNRESET immediately.
    if (typeof s.resetAndDestroy === 'function' && !s.destroyed && !s.connecting) s.resetAndDestroy();
    else s.destroy();
  } catch {
    s.destroy();
  }
}

