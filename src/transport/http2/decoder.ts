// Reassembly of gRPC's length-prefixed messages from the DATA chunks of one HTTP/2 stream. Pure: no sockets,
// no timers, so it is unit-tested on its own (test/unit/http2-decoder.test.ts).

/**
 * Turns DATA chunks into whole messages: each is a 1-byte flag (0 = uncompressed), a 4-byte big-endian length
 * and the payload. A message that lies whole inside one chunk is handed on as a view of that chunk (no copy);
 * a 5-byte prefix split over chunks is gathered in a small buffer, and a payload split over chunks is copied
 * once into a buffer of its final size, so reassembly stays linear in the bytes received.
 *
 * It is a base class rather than a member object so that a call and its decoder are one allocation (the call
 * extends it). Subclasses say what a message means and when to stop.
 */
export abstract class MessageDecoder {
  private prefix: Buffer | undefined = undefined;
  private prefixGot = 0;
  private body: Buffer | undefined = undefined;
  private bodyGot = 0;

  /**
   * One whole message, a view that stays valid (nothing writes into it later). Returns false to stop decoding:
   * the rest of the chunk is dropped.
   */
  protected abstract decoded(bytes: Buffer): boolean;
  /** A message prefix with a flag other than 0 (1: compressed, which we never negotiate). Decoding stops. */
  protected abstract malformed(flag: number): void;

  /** Feeds one chunk; calls `decoded` for each message it completes. */
  decode(chunk: Buffer): void {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      const body = this.body;
      if (body === undefined) {
        let len: number;
        if (this.prefixGot === 0 && n - off >= 5) {
          if (chunk[off] !== 0) return this.malformed(chunk[off]!);
          len = chunk.readUInt32BE(off + 1);
          off += 5;
        } else {
          const prefix = (this.prefix ??= Buffer.allocUnsafe(5));
          const take = Math.min(5 - this.prefixGot, n - off);
          chunk.copy(prefix, this.prefixGot, off, off + take);
          this.prefixGot += take;
          off += take;
          if (this.prefixGot < 5) return;
          this.prefixGot = 0;
          if (prefix[0] !== 0) return this.malformed(prefix[0]!);
          len = prefix.readUInt32BE(1);
        }
        if (n - off >= len) {
          const msg = chunk.subarray(off, off + len);
          off += len;
          if (!this.decoded(msg)) return;
        } else {
          const b = Buffer.allocUnsafe(len);
          chunk.copy(b, 0, off, n);
          this.body = b;
          this.bodyGot = n - off;
          return;
        }
      } else {
        const take = Math.min(body.length - this.bodyGot, n - off);
        chunk.copy(body, this.bodyGot, off, off + take);
        this.bodyGot += take;
        off += take;
        if (this.bodyGot === body.length) {
          this.body = undefined;
          if (!this.decoded(body)) return;
        }
      }
    }
  }

  /** True when the data so far ended inside a message (a prefix or a payload is incomplete). */
  get partial(): boolean {
    return this.body !== undefined || this.prefixGot !== 0;
  }

  /** Forgets a message in progress (the call starts over on a new stream). */
  protected resetDecoder(): void {
    this.prefixGot = 0;
    this.body = undefined;
  }
}
