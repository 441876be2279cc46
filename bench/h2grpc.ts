// The bare node:http2 gRPC floor: one HTTP/2 session, gRPC framing by hand, generated codecs. No retries,
// no deadlines, no auth, no balancing: the least work a Node client can do per call, as a yardstick.
import * as http2 from 'node:http2';

const GRPC_HEADERS_BASE = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' } as const;

export class GrpcStatus extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`gRPC status ${code}: ${message}`);
  }
}

/** Frames one message: 1 byte "compressed" flag (0), 4 bytes big-endian length, payload. */
export function frame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

/** Incremental gRPC message parser for a stream of DATA chunks. */
class Deframer {
  /** Unconsumed chunks; concatenated only once a whole message is there (no quadratic copying). */
  private chunks: Buffer[] = [];
  private size = 0;
  /** Length of the message being assembled (-1: header not read yet). */
  private need = -1;
  constructor(private readonly onMessage: (msg: Buffer) => void) {}

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.size -= n;
      return out;
    }
    const all = Buffer.concat(this.chunks, this.size);
    const out = all.subarray(0, n);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.size -= n;
    return out;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.size < 5) return;
        this.need = this.take(5).readUInt32BE(1);
      }
      if (this.size < this.need) return;
      const msg = this.take(this.need);
      this.need = -1;
      this.onMessage(msg);
    }
  }
}

function statusOf(headers: http2.IncomingHttpHeaders | undefined): { code: number; message: string } | undefined {
  const s = headers?.['grpc-status'];
  if (s === undefined) return undefined;
  const m = headers?.['grpc-message'];
  return { code: Number(s), message: typeof m === 'string' ? decodeURIComponent(m) : '' };
}

export interface H2Stream {
  write(msg: Uint8Array): void;
  end(): void;
  cancel(): void;
}

export class H2Channel {
  readonly session: http2.ClientHttp2Session;
  private readonly headers = new Map<string, http2.OutgoingHttpHeaders>();
  private readonly connected: Promise<void>;

  /** `endpoint`: `http://host:port`. */
  constructor(endpoint: string) {
    this.session = http2.connect(endpoint, { settings: { initialWindowSize: 1 << 24, enablePush: false } });
    this.session.on('error', () => {});
    this.connected = new Promise((resolve, reject) => {
      this.session.once('connect', () => {
        // A large connection window so a fast stream of watch events is not throttled by flow control.
        try {
          this.session.setLocalWindowSize(1 << 24);
        } catch {
          /* older Node */
        }
        resolve();
      });
      this.session.once('error', reject);
    });
  }

  ready(): Promise<void> {
    return this.connected;
  }

  private hdr(path: string): http2.OutgoingHttpHeaders {
    let h = this.headers.get(path);
    if (!h) this.headers.set(path, (h = { ...GRPC_HEADERS_BASE, ':path': path }));
    return h;
  }

  /** One unary call: the serialized request in, the serialized response out. */
  unary(path: string, request: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const req = this.session.request(this.hdr(path));
      let status: { code: number; message: string } | undefined;
      const chunks: Buffer[] = [];
      req.on('response', (h) => (status ??= statusOf(h)));
      req.on('trailers', (t) => (status = statusOf(t) ?? status));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', reject);
      req.on('close', () => {
        if (!status) return reject(new GrpcStatus(14, `stream closed without status (rst ${req.rstCode})`));
        if (status.code !== 0) return reject(new GrpcStatus(status.code, status.message));
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (body.length < 5) return reject(new GrpcStatus(13, 'empty response'));
        resolve(body.subarray(5, 5 + body.readUInt32BE(1)));
      });
      req.end(frame(request));
    });
  }

  /** A bidirectional stream; `onEnd` gets null for a clean end, else the error. */
  stream(path: string, onMessage: (msg: Buffer) => void, onEnd: (err: Error | null) => void): H2Stream {
    const req = this.session.request(this.hdr(path));
    const deframer = new Deframer(onMessage);
    let status: { code: number; message: string } | undefined;
    req.on('response', (h) => (status ??= statusOf(h)));
    req.on('trailers', (t) => (status = statusOf(t) ?? status));
    req.on('data', (c: Buffer) => deframer.push(c));
    req.on('error', () => {});
    req.on('close', () => onEnd(status && status.code === 0 ? null : new GrpcStatus(status?.code ?? 14, status?.message ?? 'stream reset')));
    return {
      write: (msg) => void req.write(frame(msg)),
      end: () => void req.end(),
      cancel: () => void req.close(http2.constants.NGHTTP2_CANCEL),
    };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.session.closed || this.session.destroyed) return resolve();
      this.session.close(() => resolve());
    });
  }
}
