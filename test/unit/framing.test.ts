import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AuthenticateRequest,
  AuthService,
  DeleteRangeRequest,
  KVService,
  LeaseKeepAliveRequest,
  LeaseService,
  PutRequest,
  RangeRequest,
  TxnRequest,
  WatchRequest,
  WatchService,
} from '../../generated/etcdserver/etcdserverpb/rpc';
import { frameRequest, requestSerializer } from '../../src/transport/framing';
import { frameMessage } from '../../src/transport/http2/wire';
import type { MethodDescriptor } from '../../src/transport/transport';

/** What the generated serializer plus framing produce: the reference bytes. */
const reference = <Req>(m: MethodDescriptor<Req, unknown>, req: Req) => frameMessage(m.requestSerialize(req));

const big = Buffer.alloc(200 * 1024, 0x61);
const cases: [string, MethodDescriptor<any, unknown>, unknown][] = [
  ['put', KVService.put, PutRequest.fromPartial({ key: Buffer.from('/a'), value: Buffer.alloc(256, 7), lease: 2n ** 62n, prevKv: true })],
  ['put (empty)', KVService.put, PutRequest.fromPartial({})],
  ['range', KVService.range, RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), limit: 1n, revision: 42n, serializable: true })],
  ['deleteRange', KVService.deleteRange, DeleteRangeRequest.fromPartial({ key: Buffer.from('x'), prevKv: true })],
  [
    'txn',
    KVService.txn,
    TxnRequest.fromPartial({
      compare: [{ key: Buffer.from('k'), target: 1, result: 0, targetUnion: { $case: 'modRevision', modRevision: 0n } }],
      success: [{ request: { $case: 'requestPut', requestPut: { key: Buffer.from('k'), value: Buffer.from('v') } } }],
      failure: [{ request: { $case: 'requestRange', requestRange: { key: Buffer.from('k') } } }],
    }),
  ],
  ['watch', WatchService.watch, WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', createRequest: { key: Buffer.from('/p'), rangeEnd: Buffer.from('/q'), startRevision: 9n, prevKv: true, progressNotify: true, fragment: true } } })],
  ['keepalive', LeaseService.leaseKeepAlive, LeaseKeepAliveRequest.fromPartial({ ID: 2n ** 63n - 1n })],
  ['authenticate (not on the fast path)', AuthService.authenticate, AuthenticateRequest.fromPartial({ name: 'u', password: 'p' })],
  ['put larger than the retained writer', KVService.put, PutRequest.fromPartial({ key: Buffer.from('/big'), value: big })],
];

for (const [name, method, req] of cases) {
  test(`frameRequest(${name}) is byte-for-byte the generated serializer's frame`, () => {
    const frame = frameRequest(method, req);
    assert.ok(Buffer.isBuffer(frame));
    assert.is(frame.readUInt32BE(1), frame.length - 5);
    assert.ok(frame.equals(reference(method, req)));
    const bytes = requestSerializer(method)(req);
    assert.ok(Buffer.isBuffer(bytes));
    assert.ok(bytes.equals(Buffer.from(method.requestSerialize(req))));
  });
}

test('frames from the reused writer do not share bytes with later frames', () => {
  const a = frameRequest(KVService.put, PutRequest.fromPartial({ key: Buffer.from('/one'), value: Buffer.from('first') }));
  const copy = Buffer.from(a);
  frameRequest(KVService.put, PutRequest.fromPartial({ key: Buffer.from('/two'), value: Buffer.from('second!') }));
  frameRequest(KVService.put, PutRequest.fromPartial({ key: Buffer.from('/big'), value: big }));
  assert.ok(a.equals(copy));
});

test('an encoder failure leaves no half-written bytes in front of the next request', () => {
  // A bigint field given a string makes the encoder throw part-way through the message.
  const bad = { key: Buffer.from('/k'), value: Buffer.from('v'), lease: 'not a number' } as unknown as PutRequest;
  assert.throws(() => frameRequest(KVService.put, bad));
  const good = PutRequest.fromPartial({ key: Buffer.from('/k'), value: Buffer.from('v') });
  assert.ok(frameRequest(KVService.put, good).equals(reference(KVService.put, good)));
});

test.run();
