// The node:http2 transport against fake servers: grpc-js servers made from our generated service definitions
// (a real gRPC implementation on the other side), a raw node:http2 server for wire details a gRPC server
// will not produce on demand (odd DATA splits, HTTP errors, refused streams), and the fault proxy for
// connections that die or go silent. No etcd needed.

import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ElectionService, LeaderResponse, type LeaderRequest } from '../../generated/etcdserver/api/v3election/v3electionpb/v3election';
import {
  KVService,
  RangeRequest,
  RangeResponse,
  WatchRequest,
  WatchResponse,
  WatchService,
} from '../../generated/etcdserver/etcdserverpb/rpc';
import { GrpcStatusError } from '../../src/errors';
import { createHttp2Transport } from '../../src/transport/http2';
import type { CallOptions, MethodDescriptor, StreamCall, Transport, TransportConfig } from '../../src/transport/transport';
import { makeCerts, pickFreePorts, startProxy, type Proxy, type TestPki } from '../../src/testing';
import { rejection } from '../helpers/throws';
import { eventually } from '../helpers/wait';
import { runChild } from '../helpers/child';

const test = suite('http2 transport (fake servers)');

// ---- helpers -----------------------------------------------------------------------------------------

const transports: Transport[] = [];
function transport(endpoints: { port: number; host?: string }[], extra: Partial<TransportConfig> = {}): Transport {
  const t = createHttp2Transport({
    endpoints: endpoints.map((e) => ({ host: e.host ?? '127.0.0.1', port: e.port })),
    loadBalancer: 'round_robin',
    ...extra,
  });
  transports.push(t);
  return t;
}

function range(t: Transport, key: string, options: CallOptions = {}): Promise<RangeResponse> {
  return t.unary(KVService.range, RangeRequest.fromPartial({ key: Buffer.from(key) }), options);
}

/** An open stream with everything it delivered. */
function open<Req, Res>(t: Transport, method: MethodDescriptor<Req, Res>, request?: Req, options: CallOptions = {}) {
  const messages: Res[] = [];
  let closes = 0;
  let resolveClosed!: (e: GrpcStatusError | null) => void;
  const closed = new Promise<GrpcStatusError | null>((r) => (resolveClosed = r));
  const call: StreamCall<Req> = t.stream(
    method,
    options,
    {
      onMessage: (m) => messages.push(m),
      onClose: (e) => {
        closes++;
        resolveClosed(e);
      },
    },
    request,
  );
  return { call, messages, closed, closes: () => closes };
}

// ---- a fake etcd on grpc-js --------------------------------------------------------------------------

interface Fake {
  readonly name: string;
  readonly port: number;
  /** Unary calls answered, by key. */
  calls: number;
  readonly metadata: Record<string, unknown>[];
  /** Calls the client cancelled (RST_STREAM). */
  cancelled: number;
  /** Deadlines the server saw (from grpc-timeout), ms since the epoch. */
  readonly deadlines: number[];
  readonly watchStreams: grpc.ServerDuplexStream<WatchRequest, WatchResponse>[];
  server: grpc.Server;
  forceShutdown(): void;
  tryShutdown(): Promise<void>;
}

const fakes: Fake[] = [];

/**
 * KV.Range answers by key: `echo` (the server's name as value), `error` (FAILED_PRECONDITION with a message
 * that needs percent-encoding), `hang` (never answers), `slow:N` (after N ms), `meta` (the request metadata),
 * `big:N` (an N-byte value). Watch echoes every create request's key as an event (key and value), ends on
 * key `end`, fails on `fail`, and ends when the client half-closes. Election.Observe (server-streaming)
 * sends `n` responses of `size` bytes for name `n:size`, fails for `fail`.
 */
async function startFake(name: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<Fake> {
  const server = new grpc.Server();
  const fake: Fake = {
    name,
    port: 0,
    calls: 0,
    metadata: [],
    cancelled: 0,
    deadlines: [],
    watchStreams: [],
    server,
    forceShutdown: () => server.forceShutdown(),
    tryShutdown: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  server.addService(KVService, {
    range: (call: grpc.ServerUnaryCall<RangeRequest, RangeResponse>, cb: grpc.sendUnaryData<RangeResponse>) => {
      fake.calls++;
      const key = call.request.key.toString();
      fake.metadata.push(call.metadata.getMap());
      const d = call.getDeadline();
      if (d instanceof Date) fake.deadlines.push(d.getTime());
      else if (typeof d === 'number' && Number.isFinite(d)) fake.deadlines.push(d);
      call.on('cancelled', () => fake.cancelled++);
      const reply = (value: Buffer) => cb(null, RangeResponse.fromPartial({ kvs: [{ key: call.request.key, value }], count: 1 }));
      if (key === 'error') return cb({ code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: 100% "wrong", ünïcödé ✓\nsecond line' });
      if (key === 'hang') return;
      if (key.startsWith('slow:')) return void setTimeout(() => reply(Buffer.from(name)), Number(key.slice(5)));
      if (key === 'meta') return reply(Buffer.from(JSON.stringify(call.metadata.getMap())));
      if (key.startsWith('big:')) return reply(pattern(Number(key.slice(4))));
      reply(Buffer.from(name));
    },
  });
  server.addService(WatchService, {
    watch: (call: grpc.ServerDuplexStream<WatchRequest, WatchResponse>) => {
      fake.watchStreams.push(call);
      let n = 0;
      call.on('data', (r: WatchRequest) => {
        if (r.requestUnion?.$case !== 'createRequest') return;
        const key = r.requestUnion.createRequest.key;
        if (key.toString() === 'end') return call.end();
        if (key.toString() === 'fail') return call.emit('error', { code: grpc.status.ABORTED, details: 'watch failed: 50%' });
        call.write(WatchResponse.fromPartial({ watchId: n++, events: [{ kv: { key, value: key } }] }));
      });
      call.on('end', () => call.end());
      call.on('cancelled', () => fake.cancelled++);
      call.on('error', () => {});
    },
  });
  server.addService(ElectionService, {
    observe: (call: grpc.ServerWritableStream<LeaderRequest, LeaderResponse>) => {
      const spec = call.request.name.toString();
      if (spec === 'fail') return call.emit('error', { code: grpc.status.NOT_FOUND, details: 'no such election' });
      const [n, size] = spec.split(':').map(Number) as [number, number];
      for (let i = 0; i < n; i++) call.write(LeaderResponse.fromPartial({ kv: { key: Buffer.from(String(i)), value: pattern(size, i) } }));
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  (fake as { port: number }).port = port;
  fakes.push(fake);
  return fake;
}

/** `size` bytes of a recognisable pattern (seeded, so corrupted or reordered bytes are noticed). */
function pattern(size: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

function createWatch(key: Buffer | string): WatchRequest {
  return WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', createRequest: { key: Buffer.from(key) } } });
}

async function freePort(): Promise<number> {
  return (await pickFreePorts(1))[0]!;
}

// ---- a raw node:http2 server, for wire-level cases ---------------------------------------------------

interface RawServer {
  port: number;
  hits: Map<string, number>;
  close(): Promise<void>;
}
const rawServers: RawServer[] = [];

function grpcFrame(payload: Uint8Array, flag = 0): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = flag;
  b.writeUInt32BE(payload.length, 1);
  Buffer.from(payload).copy(b, 5);
  return b;
}

async function startRaw(): Promise<RawServer> {
  const hits = new Map<string, number>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const p = String(headers[':path']);
    const hit = (hits.get(p) ?? 0) + 1;
    hits.set(p, hit);
    stream.on('error', () => {});
    const ok = { ':status': 200, 'content-type': 'application/grpc' };
    switch (p) {
      case '/raw/split': {
        // Three responses, written in slices of 1..7 bytes (prefixes split too), each its own DATA frame.
        const bytes = Buffer.concat([1, 70_000, 3].map((n, i) => grpcFrame(RangeResponse.encode(RangeResponse.fromPartial({ kvs: [{ key: Buffer.from(`k${i}`), value: pattern(n, i) }], count: i })).finish())));
        stream.respond(ok, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        void (async () => {
          let off = 0;
          let size = 1;
          while (off < bytes.length) {
            const n = off > 200 && off < bytes.length - 200 ? 16_384 : size; // the big middle in full frames
            stream.write(bytes.subarray(off, off + n));
            off += n;
            size = (size % 7) + 1;
            await new Promise((r) => setImmediate(r));
          }
          stream.end();
        })();
        return;
      }
      case '/raw/coalesced': {
        // Many whole messages in one write (one DATA frame).
        const msgs = Array.from({ length: 50 }, (_, i) =>
          grpcFrame(RangeResponse.encode(RangeResponse.fromPartial({ kvs: [{ key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) }] })).finish()),
        );
        stream.respond(ok, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.concat(msgs));
        return;
      }
      case '/raw/http503':
        stream.respond({ ':status': 503, 'content-type': 'text/plain' });
        stream.end('overloaded');
        return;
      case '/raw/http404':
        stream.respond({ ':status': 404 });
        stream.end();
        return;
      case '/raw/html':
        stream.respond({ ':status': 200, 'content-type': 'text/html' });
        stream.end('<html></html>');
        return;
      case '/raw/nostatus':
        stream.respond(ok);
        stream.end(grpcFrame(RangeResponse.encode(RangeResponse.fromPartial({})).finish()));
        return;
      case '/raw/compressed':
        stream.respond(ok, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(grpcFrame(Buffer.from([1, 2, 3]), 1));
        return;
      case '/raw/trailers-only':
        stream.respond({ ...ok, 'grpc-status': '5', 'grpc-message': 'key %22a%22 not found %zz 100%25' }, { endStream: true });
        return;
      case '/raw/refuse-once':
        if (hit === 1) return void stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        stream.respond(ok, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(grpcFrame(RangeResponse.encode(RangeResponse.fromPartial({ count: hit })).finish()));
        return;
      case '/raw/refuse-always':
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      case '/raw/reset-internal':
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      default:
        stream.respond({ ...ok, 'grpc-status': '12', 'grpc-message': 'unknown path' }, { endStream: true });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const raw: RawServer = {
    port: (server.address() as net.AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
  rawServers.push(raw);
  return raw;
}

const rawMethod = (p: string) => ({ ...KVService.range, path: p });

test.after(async () => {
  for (const t of transports) t.close();
  for (const f of fakes) f.forceShutdown();
  await Promise.all(rawServers.map((r) => r.close()));
  for (const p of proxies) await p.close();
  pki?.cleanup();
});

const proxies: Proxy[] = [];
async function proxyTo(port: number): Promise<Proxy> {
  const p = await startProxy({ host: '127.0.0.1', port });
  proxies.push(p);
  return p;
}

// ---- unary -------------------------------------------------------------------------------------------

let a: Fake;
let b: Fake;
let raw: RawServer;

test.before(async () => {
  [a, b, raw] = await Promise.all([startFake('a'), startFake('b'), startRaw()]);
});

test('unary: the response arrives decoded; 256 concurrent calls share one connection', async () => {
  const t = transport([{ port: a.port }]);
  const r = await range(t, 'echo');
  assert.is(r.kvs[0]!.value.toString(), 'a');
  assert.is(r.count, 1n);
  const all = await Promise.all(Array.from({ length: 256 }, (_, i) => range(t, `echo-${i}`)));
  all.forEach((x, i) => assert.is(x.kvs[0]!.key.toString(), `echo-${i}`));
});

test('unary: a server error arrives with its code and percent-decoded message (trailers-only)', async () => {
  const t = transport([{ port: a.port }]);
  const e = await rejection(range(t, 'error'), GrpcStatusError);
  assert.is(e.code, grpc.status.FAILED_PRECONDITION);
  assert.is(e.details, 'etcdserver: 100% "wrong", ünïcödé ✓\nsecond line');
  assert.is(e.localDeadline, false);
  const tr = transport([{ port: raw.port }]);
  const e2 = await rejection(tr.unary(rawMethod('/raw/trailers-only'), RangeRequest.fromPartial({}), {}), GrpcStatusError);
  assert.is(e2.code, 5);
  assert.is(e2.details, 'key "a" not found %zz 100%');
});

test('unary: big responses (5 MiB) arrive intact', async () => {
  const t = transport([{ port: a.port }]);
  const r = await range(t, `big:${5 * 1024 * 1024}`);
  assert.ok(r.kvs[0]!.value.equals(pattern(5 * 1024 * 1024)));
});

test('unary: a deadline rejects with code 4 localDeadline, resets the stream, and reaches the server as grpc-timeout', async () => {
  const t = transport([{ port: a.port }]);
  await range(t, 'echo'); // connected
  const cancelledBefore = a.cancelled;
  const t0 = Date.now();
  const deadline = t0 + 200;
  const e = await rejection(range(t, 'hang', { deadline }), GrpcStatusError);
  const ms = Date.now() - t0;
  assert.is(e.code, 4);
  assert.is(e.details, 'Deadline exceeded');
  assert.is(e.localDeadline, true);
  assert.ok(ms >= 190 && ms < 3000, `took ${ms} ms (a 200 ms deadline; a timer never fires early, may fire late on a loaded machine)`);
  await eventually(() => a.cancelled > cancelledBefore, 2000, 'the server to see the cancellation');
  const seen = a.deadlines[a.deadlines.length - 1]!;
  assert.ok(Math.abs(seen - deadline) < 1000, `server deadline ${seen} vs ${deadline} (grpc-timeout is relative: off by the send delay)`);
  // an already expired deadline fails at once
  const e2 = await rejection(range(t, 'echo', { deadline: Date.now() - 1 }), GrpcStatusError);
  assert.is(e2.code, 4);
  assert.is(e2.localDeadline, true);
});

test('unary: a local deadline ends the call like a deadline (code 4 localDeadline, stream reset) but is not sent as grpc-timeout', async () => {
  const t = transport([{ port: a.port }]);
  await range(t, 'echo'); // connected
  const cancelledBefore = a.cancelled;
  const deadlinesBefore = a.deadlines.length;
  const t0 = Date.now();
  const e = await rejection(range(t, 'hang', { localDeadline: t0 + 200 }), GrpcStatusError);
  const ms = Date.now() - t0;
  assert.is(e.code, 4);
  assert.is(e.localDeadline, true);
  assert.ok(ms >= 190 && ms < 3000, `took ${ms} ms (a 200 ms deadline; a timer never fires early, may fire late on a loaded machine)`);
  await eventually(() => a.cancelled > cancelledBefore, 2000, 'the server to see the cancellation');
  assert.is(a.deadlines.length, deadlinesBefore, 'the server was told no deadline');
  // with both, the server is told the caller's deadline and the earlier local one ends the call
  const t1 = Date.now();
  const deadline = t1 + 60_000;
  const e2 = await rejection(range(t, 'hang', { deadline, localDeadline: t1 + 200 }), GrpcStatusError);
  assert.is(e2.code, 4);
  assert.ok(Date.now() - t1 < 3000, `took ${Date.now() - t1} ms (the 200 ms local deadline, not the 60 s one)`);
  const seen = a.deadlines[a.deadlines.length - 1]!;
  assert.ok(Math.abs(seen - deadline) < 1000, `server deadline ${seen} vs ${deadline} (grpc-timeout is relative: off by the send delay)`);
});

test('unary: an AbortSignal rejects with its reason and cancels the call on the server', async () => {
  const t = transport([{ port: a.port }]);
  await range(t, 'echo');
  const before = a.cancelled;
  const ac = new AbortController();
  const p = range(t, 'hang', { signal: ac.signal });
  await eventually(() => a.calls > 0 && a.metadata.length > 0, 1000, 'the call to arrive');
  setTimeout(() => ac.abort(new Error('stop it')), 50);
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.instance(err, Error);
  assert.is((err as Error).message, 'stop it');
  await eventually(() => a.cancelled > before, 2000, 'the server to see the cancellation');
  // aborted before the call: rejects at once
  const ac2 = new AbortController();
  ac2.abort(new Error('early'));
  let err2: unknown;
  await range(t, 'echo', { signal: ac2.signal }).catch((e) => (err2 = e));
  assert.is((err2 as Error).message, 'early');
});

test('unary: metadata arrives at the server', async () => {
  const t = transport([{ port: a.port }]);
  const r = await range(t, 'meta', { metadata: { token: 'secret.123', hasleader: 'true' } });
  const md = JSON.parse(r.kvs[0]!.value.toString()) as Record<string, string>;
  assert.is(md['token'], 'secret.123');
  assert.is(md['hasleader'], 'true');
  assert.is(md['content-type'], undefined, 'grpc-js strips its own headers');
});

// ---- wire details ------------------------------------------------------------------------------------

test('messages split across DATA frames (prefix included) and coalesced within one are reassembled', async () => {
  const t = transport([{ port: raw.port }]);
  const split = open(t, { ...ElectionService.observe, path: '/raw/split', responseDeserialize: (b: Buffer) => RangeResponse.decode(b) } as unknown as MethodDescriptor<LeaderRequest, RangeResponse>, { name: Buffer.alloc(0) });
  assert.is(await split.closed, null);
  assert.is(split.messages.length, 3);
  [1, 70_000, 3].forEach((n, i) => {
    assert.is(split.messages[i]!.kvs[0]!.key.toString(), `k${i}`);
    assert.ok(split.messages[i]!.kvs[0]!.value.equals(pattern(n, i)), `message ${i} intact`);
  });
  const co = open(t, { ...ElectionService.observe, path: '/raw/coalesced', responseDeserialize: (b: Buffer) => RangeResponse.decode(b) } as unknown as MethodDescriptor<LeaderRequest, RangeResponse>, { name: Buffer.alloc(0) });
  assert.is(await co.closed, null);
  assert.equal(co.messages.map((m) => m.kvs[0]!.value.toString()), Array.from({ length: 50 }, (_, i) => `v${i}`));
});

test('HTTP errors and missing statuses map to gRPC codes with a clear message', async () => {
  const t = transport([{ port: raw.port }]);
  const call = (p: string) => rejection(t.unary(rawMethod(p), RangeRequest.fromPartial({}), {}), GrpcStatusError);
  const e503 = await call('/raw/http503');
  assert.is(e503.code, 14);
  assert.match(e503.details, /HTTP status code 503/);
  const e404 = await call('/raw/http404');
  assert.is(e404.code, 12);
  const html = await call('/raw/html');
  assert.is(html.code, 2);
  assert.match(html.details, /content-type/);
  const none = await call('/raw/nostatus');
  assert.is(none.code, 13);
  assert.match(none.details, /without sending a gRPC status/);
  const comp = await call('/raw/compressed');
  assert.is(comp.code, 13);
  assert.match(comp.details, /compress/);
  const rst = await call('/raw/reset-internal');
  assert.is(rst.code, 13);
  assert.match(rst.details, /RST_STREAM/);
});

test('a refused stream (never processed) is retried transparently; if always refused: 14 with sent=false', async () => {
  const t = transport([{ port: raw.port }]);
  const r = await t.unary(rawMethod('/raw/refuse-once'), RangeRequest.fromPartial({}), {});
  assert.is(r.count, 2n, 'answered by the second attempt');
  const e = await rejection(t.unary(rawMethod('/raw/refuse-always'), RangeRequest.fromPartial({}), {}), GrpcStatusError);
  assert.is(e.code, 14);
  assert.is(e.sent, false);
  assert.is(raw.hits.get('/raw/refuse-always'), 3, 'sent three times in all');
});

// ---- streams -----------------------------------------------------------------------------------------

test('bidi stream: many small and several big (> 64 KiB) messages both ways, in order; end() half-closes', async () => {
  const t = transport([{ port: a.port }]);
  const s = open(t, WatchService.watch);
  const sent: Buffer[] = [];
  for (let i = 0; i < 500; i++) {
    const key = i % 100 === 50 ? pattern(100_000 + i * 1000, i) : Buffer.from(`key-${i}`);
    sent.push(key);
    s.call.write(createWatch(key));
  }
  s.call.write(createWatch(pattern(3 * 1024 * 1024, 3)));
  sent.push(pattern(3 * 1024 * 1024, 3));
  await eventually(() => s.messages.length === sent.length, 10_000, 'every echo');
  s.messages.forEach((m, i) => {
    assert.is(m.watchId, BigInt(i));
    assert.ok(m.events[0]!.kv!.value.equals(sent[i]!), `echo ${i} intact`);
  });
  s.call.end();
  assert.is(await s.closed, null, 'the server ends its side after our half-close');
  assert.is(s.closes(), 1);
  s.call.write(createWatch('after')); // no-op after close
  s.call.cancel();
  await new Promise((r) => setImmediate(r));
  assert.is(s.closes(), 1, 'onClose exactly once');
});

test('bidi stream: writes before the connection is up are queued; server end and server error are reported', async () => {
  const t = transport([{ port: a.port }]);
  const s = open(t, WatchService.watch);
  s.call.write(createWatch('early-1'));
  s.call.write(createWatch('early-2'));
  s.call.write(createWatch('end'));
  assert.is(await s.closed, null);
  assert.equal(s.messages.map((m) => m.events[0]!.kv!.key.toString()), ['early-1', 'early-2']);
  const f = open(t, WatchService.watch);
  f.call.write(createWatch('fail'));
  const e = await f.closed;
  assert.instance(e, GrpcStatusError);
  assert.is(e!.code, grpc.status.ABORTED);
  assert.is(e!.details, 'watch failed: 50%');
});

test('cancel(): RST_STREAM reaches the server, onClose(CANCELLED "Cancelled on client") once, no messages after', async () => {
  const t = transport([{ port: a.port }]);
  const s = open(t, WatchService.watch);
  s.call.write(createWatch('one'));
  await eventually(() => s.messages.length === 1, 2000, 'the first echo');
  const before = a.cancelled;
  s.call.cancel();
  s.call.write(createWatch('two'));
  const e = await s.closed;
  assert.is(e?.code, 1);
  assert.is(e?.details, 'Cancelled on client');
  await eventually(() => a.cancelled > before, 2000, 'the server to see the cancel');
  s.call.cancel();
  s.call.end();
  assert.is(s.closes(), 1);
  assert.is(s.messages.length, 1);
  // a stream cancelled before it was ever opened
  const t2 = transport([{ port: a.port }]);
  const early = open(t2, WatchService.watch);
  early.call.cancel();
  assert.is((await early.closed)?.code, 1);
  // an aborted signal cancels a stream too
  const ac = new AbortController();
  const sig = open(t, WatchService.watch, undefined, { signal: ac.signal });
  sig.call.write(createWatch('x'));
  await eventually(() => sig.messages.length === 1, 2000, 'the echo');
  ac.abort();
  assert.is((await sig.closed)?.code, 1);
});

test('server-streaming: every message in order, then a clean end; errors, including trailers-only ones', async () => {
  const t = transport([{ port: a.port }]);
  const s = open(t, ElectionService.observe, { name: Buffer.from('200:5000') });
  assert.is(await s.closed, null);
  assert.is(s.messages.length, 200);
  s.messages.forEach((m, i) => assert.ok(m.kv!.value.equals(pattern(5000, i)), `message ${i}`));
  const f = open(t, ElectionService.observe, { name: Buffer.from('fail') });
  const e = await f.closed;
  assert.is(e?.code, grpc.status.NOT_FOUND);
  assert.is(e?.details, 'no such election');
  assert.is(f.messages.length, 0);
});

// ---- connections -------------------------------------------------------------------------------------

test('no server listening: code 14, sent=false, quickly; also for streams', async () => {
  const port = await freePort();
  const t = transport([{ port }]);
  const t0 = Date.now();
  const e = await rejection(range(t, 'echo'), GrpcStatusError);
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms (a refused connection fails at once, not after a connect wait)`);
  assert.is(e.code, 14);
  assert.is(e.sent, false);
  assert.match(e.details, /^no connection to any etcd endpoint: .*ECONNREFUSED/);
  const s = open(t, WatchService.watch); // every endpoint is backing off now: it fails at once, but not inside stream()
  assert.is(s.closes(), 0, 'onClose is never called inside stream()');
  const se = await s.closed;
  assert.is(se?.code, 14);
  assert.is(se?.sent, false);
  const expired = open(t, WatchService.watch, undefined, { deadline: Date.now() - 1 });
  assert.is(expired.closes(), 0);
  assert.is((await expired.closed)?.code, 4);
});

test('a server that accepts TCP but never speaks HTTP/2 (a stopped etcd) is never used: calls go elsewhere, or wait ≤ 5 s', async () => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((sock) => void sockets.push(sock)); // the kernel accepts; nobody answers
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  try {
    const both = transport([{ port }, { port: a.port }]);
    const t0 = Date.now();
    const answers = await Promise.all(Array.from({ length: 10 }, () => range(both, 'echo')));
    assert.ok(answers.every((r) => r.kvs[0]!.value.toString() === 'a'));
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms (not the 5 s wait on the silent server)`);
    const only = transport([{ port }]);
    const d = await rejection(range(only, 'echo', { deadline: Date.now() + 300 }), GrpcStatusError);
    assert.is(d.code, 4);
    assert.is(d.localDeadline, true);
    const t1 = Date.now();
    const e = await rejection(range(only, 'echo'), GrpcStatusError);
    const ms = Date.now() - t1;
    assert.is(e.code, 14);
    assert.is(e.sent, false);
    assert.ok(ms > 4000 && ms < 10_000, `gave up after ${ms} ms (a 5 s connect wait)`);
  } finally {
    for (const sock of sockets) sock.destroy();
    silent.close();
  }
});

test('the server goes away mid-call: UNAVAILABLE (not claimed unsent); the next call reconnects', async () => {
  const proxy = await proxyTo(a.port);
  const t = transport([{ port: proxy.port }]);
  await range(t, 'echo');
  const hanging = range(t, 'hang');
  const stream = open(t, WatchService.watch);
  stream.call.write(createWatch('k'));
  await eventually(() => stream.messages.length === 1, 2000, 'the stream to be up');
  proxy.cut();
  const e = await rejection(hanging, GrpcStatusError);
  assert.is(e.code, 14);
  assert.is(e.sent, undefined, 'the request may have been processed');
  assert.match(e.details, /lost/);
  const se = await stream.closed;
  assert.is(se?.code, 14);
  assert.is(se?.sent, undefined);
  // while cut: calls fail unsent
  const down = await rejection(range(t, 'echo'), GrpcStatusError);
  assert.is(down.code, 14);
  assert.is(down.sent, false);
  proxy.restore();
  const r = await eventually(() => range(t, 'echo').catch(() => undefined), 5000, 'a call after restore');
  assert.is(r.kvs[0]!.value.toString(), 'a');
});

test('two endpoints: calls alternate round-robin; one server stops → every call goes to the other', async () => {
  const x = await startFake('x');
  const y = await startFake('y');
  const t = transport([{ port: x.port }, { port: y.port }]);
  await eventually(async () => (await range(t, 'echo'), x.calls > 0 && y.calls > 0), 3000, 'both endpoints connected');
  x.calls = y.calls = 0;
  const answers: string[] = [];
  for (let i = 0; i < 20; i++) answers.push((await range(t, 'echo')).kvs[0]!.value.toString());
  assert.is(x.calls, 10);
  assert.is(y.calls, 10);
  for (let i = 1; i < 20; i++) assert.is.not(answers[i], answers[i - 1], 'alternating');
  const concurrent = await Promise.all(Array.from({ length: 40 }, () => range(t, 'echo')));
  assert.is(concurrent.filter((r) => r.kvs[0]!.value.toString() === 'x').length, 20);
  x.forceShutdown();
  // the client notices the dead connection; from then on every call goes to y
  await eventually(() => range(t, 'echo').then(() => true, () => false), 3000, 'a call to succeed after x stopped');
  y.calls = 0;
  for (let i = 0; i < 20; i++) assert.is((await range(t, 'echo')).kvs[0]!.value.toString(), 'y');
  const many = await Promise.all(Array.from({ length: 40 }, () => range(t, 'echo')));
  assert.ok(many.every((r) => r.kvs[0]!.value.toString() === 'y'));
  assert.is(y.calls, 60);
});

test('GOAWAY (graceful shutdown): calls in flight finish there, new calls go to the other endpoint', async () => {
  const x = await startFake('gx');
  const y = await startFake('gy');
  const t = transport([{ port: x.port }, { port: y.port }]);
  await eventually(async () => (await range(t, 'echo'), x.calls > 0 && y.calls > 0), 3000, 'both endpoints connected');
  const slow = Array.from({ length: 4 }, () => range(t, 'slow:300'));
  await eventually(() => x.calls + y.calls >= 6, 1000, 'slow calls to arrive');
  const shutdown = x.tryShutdown(); // GOAWAY now; calls that cross it are refused there and retried on gy
  x.calls = 0;
  const after = await Promise.all(Array.from({ length: 20 }, () => range(t, 'echo')));
  assert.ok(after.every((r) => r.kvs[0]!.value.toString() === 'gy'), 'new calls avoid the server going away');
  assert.is(x.calls, 0);
  const done = await Promise.all(slow);
  assert.is(done.length, 4, 'slow calls on the closing server completed');
  await shutdown;
});

test('pick_first: every call goes to the first endpoint; when it stops, to the next', async () => {
  const x = await startFake('px');
  const y = await startFake('py');
  const t = transport([{ port: x.port }, { port: y.port }], { loadBalancer: 'pick_first' });
  for (let i = 0; i < 10; i++) assert.is((await range(t, 'echo')).kvs[0]!.value.toString(), 'px');
  await Promise.all(Array.from({ length: 10 }, () => range(t, 'echo')));
  assert.is(y.calls, 0);
  x.forceShutdown();
  await eventually(() => range(t, 'echo').then((r) => r.kvs[0]!.value.toString() === 'py', () => false), 3000, 'fail-over to py');
  // a dead first endpoint is skipped from the start
  const dead = await freePort();
  const t2 = transport([{ port: dead }, { port: y.port }], { loadBalancer: 'pick_first' });
  assert.is((await range(t2, 'echo')).kvs[0]!.value.toString(), 'py');
});

test('close(): in-flight calls and streams end (CANCELLED), later calls fail at once, close() twice is fine', async () => {
  const t = transport([{ port: a.port }]);
  await range(t, 'echo');
  const hanging = range(t, 'hang');
  const s = open(t, WatchService.watch);
  s.call.write(createWatch('k'));
  await eventually(() => s.messages.length === 1, 2000, 'the stream to be up');
  t.close();
  t.close();
  const e = await rejection(hanging, GrpcStatusError);
  assert.ok(e.code === 1 || e.code === 14, `code ${e.code}`);
  const se = await s.closed;
  assert.ok(se?.code === 1 || se?.code === 14);
  assert.is(s.closes(), 1);
  const after = await rejection(range(t, 'echo'), GrpcStatusError);
  assert.is(after.code, 14);
  assert.is(after.sent, false);
  const as = open(t, WatchService.watch);
  assert.is((await as.closed)?.code, 14);
});

/** Runs a script in a child node (with tsx) and resolves with its exit code, or 'hung' after `ms`. */
async function runToExit(script: string, ms: number): Promise<number | 'hung'> {
  const r = await runChild({ code: script, timeoutMs: ms, stdio: 'inherit' });
  return r.hung ? 'hung' : (r.code ?? -1);
}

test('nothing keeps the process alive: after close(), and for an idle open client (like grpc-js)', async () => {
  const prelude = `
    const { createHttp2Transport } = require('./src/transport/http2');
    const { KVService, WatchService, RangeRequest, WatchRequest } = require('./generated/etcdserver/etcdserverpb/rpc');
    const t = createHttp2Transport({ endpoints: [{ host: '127.0.0.1', port: ${a.port} }], loadBalancer: 'round_robin' });
    const range = (key, o = {}) => t.unary(KVService.range, RangeRequest.fromPartial({ key: Buffer.from(key) }), o);
  `;
  const closing = `${prelude}
    (async () => {
      await range('echo');
      const hang = range('hang').catch(() => {});
      let echoed;
      const up = new Promise((r) => (echoed = r));
      const s = t.stream(WatchService.watch, {}, { onMessage: () => echoed(), onClose() {} });
      s.write(WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', createRequest: { key: Buffer.from('k') } } }));
      range('slow:5000', { deadline: Date.now() + 60000 }).catch(() => {});
      await up; // the stream is open and both calls are out
      t.close();
    })();`;
  const idle = `${prelude}
    (async () => { await range('echo'); await range('echo', { deadline: Date.now() + 60000 }); })();`;
  const [c1, c2] = await Promise.all([runToExit(closing, 15_000), runToExit(idle, 15_000)]);
  assert.is(c1, 0, 'closed client: process exits by itself');
  assert.is(c2, 0, 'idle client: process exits by itself');
});

test('keepalive: no pings while idle; pings while a stream is open; a silent connection is detected', async () => {
  const options = { channelOptions: { 'grpc.keepalive_time_ms': 5000, 'grpc.keepalive_timeout_ms': 1000 } };
  const [pIdle, pActive, pDead] = await Promise.all([proxyTo(a.port), proxyTo(a.port), proxyTo(a.port)]);
  const idle = transport([{ port: pIdle.port }], options);
  const active = transport([{ port: pActive.port }], options);
  const dead = transport([{ port: pDead.port }], options);
  await Promise.all([range(idle, 'echo'), range(active, 'echo'), range(dead, 'echo')]);
  const s = open(active, WatchService.watch);
  s.call.write(createWatch('k'));
  await eventually(() => s.messages.length === 1, 2000, 'the stream to be up');
  const before = a.calls;
  const hanging = range(dead, 'hang');
  await eventually(() => a.calls > before, 2000, 'the hanging call to arrive');
  const [idleUp, activeUp] = [pIdle.bytesUp, pActive.bytesUp];
  pDead.pause();
  const t0 = Date.now();
  const e = await rejection(hanging, GrpcStatusError);
  const ms = Date.now() - t0;
  assert.is(e.code, 14);
  assert.match(e.details, /keepalive/);
  assert.ok(ms < 12_000, `half-open connection detected after ${ms} ms (ping every 5 s, 1 s to answer)`);
  await eventually(() => pActive.bytesUp >= activeUp + 17, 6000, 'a PING frame (17 bytes) on the active connection');
  assert.is(pIdle.bytesUp, idleUp, 'no bytes at all on the idle connection');
  s.call.cancel();
  pDead.resume();
});

// ---- TLS ---------------------------------------------------------------------------------------------

let pki: TestPki | undefined;
/** The kit's throw-away PKI (src/testing/certs.ts) as PEM buffers: `cluster` is issued for DNS:etcd-cluster only. */
function certs() {
  const p = (pki = makeCerts());
  const b = (pem: string) => Buffer.from(pem);
  return {
    ca: b(p.ca.cert),
    otherCa: b(p.otherCa.cert),
    server: { cert: b(p.server.cert), key: b(p.server.key) },
    named: { cert: b(p.cluster.cert), key: b(p.cluster.key) },
    client: { cert: b(p.client.cert), key: b(p.client.key) },
  };
}

test('TLS: mutual TLS by IP; targetNameOverride; wrong CA and missing client cert fail with 14, not a hang', async () => {
  const c = certs();
  const mtls = await startFake('tls', grpc.ServerCredentials.createSsl(c.ca, [{ cert_chain: c.server.cert, private_key: c.server.key }], true));
  const named = await startFake('named', grpc.ServerCredentials.createSsl(c.ca, [{ cert_chain: c.named.cert, private_key: c.named.key }], false));
  const client = { ca: c.ca, cert: c.client.cert, key: c.client.key };

  const ok = transport([{ port: mtls.port }], { tls: client });
  assert.is((await range(ok, 'echo')).kvs[0]!.value.toString(), 'tls');
  const s = open(ok, WatchService.watch);
  s.call.write(createWatch('over tls'));
  await eventually(() => s.messages.length === 1, 2000, 'an echo over TLS');
  s.call.cancel();
  const byName = transport([{ port: mtls.port, host: 'localhost' }], { tls: client });
  assert.is((await range(byName, 'echo')).kvs[0]!.value.toString(), 'tls');

  const override = transport([{ port: named.port }], { tls: { ca: c.ca, targetNameOverride: 'etcd-cluster' } });
  assert.is((await range(override, 'echo')).kvs[0]!.value.toString(), 'named');
  const noOverride = transport([{ port: named.port }], { tls: { ca: c.ca } });
  const mismatch = await rejection(range(noOverride, 'echo'), GrpcStatusError);
  assert.is(mismatch.code, 14);
  assert.match(mismatch.details, /cert/i);

  const wrongCa = transport([{ port: mtls.port }], { tls: { ...client, ca: c.otherCa } });
  const t0 = Date.now();
  const e = await rejection(range(wrongCa, 'echo'), GrpcStatusError);
  assert.is(e.code, 14);
  assert.is(e.sent, false);
  assert.match(e.details, /certificate/);
  assert.ok(Date.now() - t0 < 10_000, `a refused handshake fails, not hangs: took ${Date.now() - t0} ms`);

  const noCert = transport([{ port: mtls.port }], { tls: { ca: c.ca } });
  const t1 = Date.now();
  const e2 = await rejection(range(noCert, 'echo'), GrpcStatusError);
  assert.is(e2.code, 14, e2.details);
  assert.ok(Date.now() - t1 < 10_000, `a refused handshake fails, not hangs: took ${Date.now() - t1} ms`);
});

test.run();
