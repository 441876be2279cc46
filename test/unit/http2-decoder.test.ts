// The http2 transport's message reassembly (src/transport/http2/decoder.ts), without sockets: chunks are fed
// by hand, split wherever a network could split them.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageDecoder } from '../../src/transport/http2/decoder';
import { frameMessage } from '../../src/transport/http2/wire';

/** Collects what the decoder hands on; `stopAfter` messages makes it ask the decoder to stop. */
class Collector extends MessageDecoder {
  readonly messages: Buffer[] = [];
  readonly views: Buffer[] = [];
  readonly flags: number[] = [];
  constructor(private readonly stopAfter = Infinity) {
    super();
  }
  protected decoded(bytes: Buffer): boolean {
    this.views.push(bytes);
    this.messages.push(Buffer.from(bytes)); // a copy: proves the content at delivery time
    return this.messages.length < this.stopAfter;
  }
  protected malformed(flag: number): void {
    this.flags.push(flag);
  }
}

function payload(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test('a message split at every byte position, in two chunks, comes out whole and once', () => {
  const body = payload(40);
  const frame = frameMessage(body);
  for (let at = 0; at <= frame.length; at++) {
    const d = new Collector();
    d.decode(frame.subarray(0, at));
    d.decode(frame.subarray(at));
    assert.is(d.messages.length, 1, `split at ${at}`);
    assert.ok(d.messages[0]!.equals(body), `split at ${at}`);
    assert.is(d.partial, false, `split at ${at}`);
  }
});

test('a message fed one byte at a time comes out whole; partial is true until its last byte', () => {
  const body = payload(23);
  const frame = frameMessage(body);
  const d = new Collector();
  for (let i = 0; i < frame.length; i++) {
    assert.is(d.messages.length, 0);
    d.decode(frame.subarray(i, i + 1));
    if (i < frame.length - 1) assert.is(d.partial, true, `after byte ${i}`);
  }
  assert.is(d.messages.length, 1);
  assert.ok(d.messages[0]!.equals(body));
  assert.is(d.partial, false);
});

test('several messages in one chunk come out in order; a whole message is a view of the chunk (no copy)', () => {
  const bodies = [payload(3, 1), payload(0), payload(100, 2), payload(1, 3)];
  const chunk = Buffer.concat(bodies.map((b) => frameMessage(b)));
  const d = new Collector();
  d.decode(chunk);
  assert.is(d.messages.length, bodies.length);
  bodies.forEach((b, i) => assert.ok(d.messages[i]!.equals(b), `message ${i}`));
  for (const v of d.views) assert.is(v.buffer, chunk.buffer, 'a view of the chunk');
  assert.is(d.partial, false);
});

test('messages straddling chunk boundaries: every split of a three-message stream', () => {
  const bodies = [payload(7, 4), payload(0), payload(12, 5)];
  const stream = Buffer.concat(bodies.map((b) => frameMessage(b)));
  for (let a = 0; a <= stream.length; a++) {
    for (let b = a; b <= stream.length; b++) {
      const d = new Collector();
      d.decode(stream.subarray(0, a));
      d.decode(stream.subarray(a, b));
      d.decode(stream.subarray(b));
      assert.is(d.messages.length, 3, `splits ${a}/${b}`);
      bodies.forEach((m, i) => assert.ok(d.messages[i]!.equals(m), `splits ${a}/${b}, message ${i}`));
    }
  }
});

test('a 0-length message is delivered, also when its prefix ends a chunk', () => {
  const frame = frameMessage(Buffer.alloc(0));
  const whole = new Collector();
  whole.decode(frame);
  assert.is(whole.messages.length, 1);
  assert.is(whole.messages[0]!.length, 0);
  const split = new Collector();
  split.decode(frame.subarray(0, 2));
  split.decode(frame.subarray(2));
  assert.is(split.messages.length, 1);
  assert.is(split.messages[0]!.length, 0);
  assert.is(split.partial, false);
});

test('a message over 64 KB arrives in 16 KB chunks (as HTTP/2 DATA frames carry it) and is reassembled once', () => {
  const body = payload(200 * 1024 + 3, 9);
  const frame = frameMessage(body);
  const d = new Collector();
  for (let off = 0; off < frame.length; off += 16 * 1024) {
    d.decode(frame.subarray(off, off + 16 * 1024));
    if (off + 16 * 1024 < frame.length) assert.is(d.partial, true);
  }
  assert.is(d.messages.length, 1);
  assert.is(d.messages[0]!.length, body.length);
  assert.ok(d.messages[0]!.equals(body));
  assert.is(d.partial, false);
});

test('a data stream that ends inside a message is partial (prefix or payload)', () => {
  const frame = frameMessage(payload(10));
  const inPrefix = new Collector();
  inPrefix.decode(frame.subarray(0, 3));
  assert.is(inPrefix.partial, true);
  const inBody = new Collector();
  inBody.decode(frame.subarray(0, 8));
  assert.is(inBody.partial, true);
  assert.is(inBody.messages.length, 0);
});

test('a compressed flag (1) or any other non-zero flag is reported, and decoding stops', () => {
  for (const flag of [1, 2, 0x80]) {
    const good = frameMessage(payload(4));
    const bad = frameMessage(payload(4));
    bad[0] = flag;
    // whole prefix in one chunk
    const d = new Collector();
    d.decode(Buffer.concat([good, bad, good]));
    assert.equal(d.flags, [flag]);
    assert.is(d.messages.length, 1, 'the message before it only');
    // prefix split over chunks
    const s = new Collector();
    s.decode(bad.subarray(0, 1));
    s.decode(bad.subarray(1));
    assert.equal(s.flags, [flag]);
    assert.is(s.messages.length, 0);
  }
});

test('when the consumer asks to stop, the rest of the chunk is not decoded', () => {
  const chunk = Buffer.concat([frameMessage(payload(2)), frameMessage(payload(2)), frameMessage(payload(2))]);
  const d = new Collector(1);
  d.decode(chunk);
  assert.is(d.messages.length, 1);
});

test.run();
