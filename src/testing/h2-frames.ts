// Just enough HTTP/2 framing for the fault proxy to tell requests apart on a plain-text (h2c) gRPC
// connection: frame boundaries and headers (type, flags, stream id), never payloads. Frames may span chunks.

/** The fixed bytes a client sends before its first frame. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export const FRAME_HEADERS = 0x1;
export const FLAG_END_STREAM = 0x1;

export interface FrameHeader {
  type: number;
  flags: number;
  streamId: number;
}

/** Tracks frame boundaries in one direction of one connection. `h2` turns false if the bytes are not h2c. */
export class FrameReader {
  h2 = true;
  private skip: number;
  private pending: Buffer = Buffer.alloc(0);
  private prefaceChecked: boolean;

  /** `clientSide`: this direction starts with the client preface. */
  constructor(clientSide: boolean) {
    this.skip = clientSide ? PREFACE.length : 0;
    this.prefaceChecked = !clientSide;
  }

  /** The headers of every frame that starts in `chunk`. */
  feed(chunk: Buffer): FrameHeader[] {
    if (!this.h2) return [];
    let buf: Buffer = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (!this.prefaceChecked) {
      const n = Math.min(buf.length, PREFACE.length);
      if (!buf.subarray(0, n).equals(PREFACE.subarray(0, n))) {
        this.h2 = false; // TLS or not HTTP/2: the proxy falls back to byte-level behaviour
        return [];
      }
      if (buf.length < PREFACE.length) {
        this.pending = buf;
        return [];
      }
      this.prefaceChecked = true;
    }
    const out: FrameHeader[] = [];
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length);
        this.skip -= n;
        buf = buf.subarray(n);
        if (this.skip > 0) break;
      }
      if (buf.length < 9) break;
      const length = buf.readUIntBE(0, 3);
      out.push({ type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff });
      buf = buf.subarray(9);
      this.skip = length;
    }
    this.pending = Buffer.from(buf);
    return out;
  }
}
