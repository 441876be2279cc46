// Request framing for the node:http2 transport. The generated `requestSerialize` encodes into a fresh writer,
// copies the result out, wraps it in a Buffer (another copy), and framing copies it once more. For the calls
// that run thousands of times a second (KV, watch and keepalive requests) we encode straight into one reused
// writer behind a reserved 5-byte frame header, so a request costs one allocation and one copy. Every other
// method keeps the generated path; the bytes on the wire are the same either way (tested).

import { BinaryWriter } from '@bufbuild/protobuf/wire';
import {
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
import { frameMessage } from './http2-wire';
import type { MethodDescriptor } from './transport';

interface Encoder {
  encode(message: never, writer?: BinaryWriter): BinaryWriter;
}

/** Keyed by descriptor identity, so a hand-made descriptor with a familiar path still uses its own serializer. */
const HOT = new Map<object, Encoder>([
  [KVService.range, RangeRequest],
  [KVService.put, PutRequest],
  [KVService.deleteRange, DeleteRangeRequest],
  [KVService.txn, TxnRequest],
  [WatchService.watch, WatchRequest],
  [LeaseService.leaseKeepAlive, LeaseKeepAliveRequest],
]);

const HEADER = new Uint8Array(5);

/**
 * The writer keeps its buffer between calls (that is the saving); after a request larger than this it is
 * replaced, so one big put does not pin its size for the life of the process.
 */
const RETAIN_BYTES = 64 * 1024;

let writer = new BinaryWriter();

/** One length-prefixed gRPC message for `request`. Throws what the encoder throws (the caller maps it). */
export function frameRequest<Req>(method: MethodDescriptor<Req, unknown>, request: Req): Buffer {
  const encoder = HOT.get(method);
  if (encoder === undefined) return frameMessage(method.requestSerialize(request));
  const w = writer;
  let bytes: Uint8Array;
  try {
    w.raw(HEADER);
    encoder.encode(request as never, w);
    bytes = w.finish();
  } catch (e) {
    // A half-written message must not prefix the next request.
    writer = new BinaryWriter();
    throw e;
  }
  if (bytes.length > RETAIN_BYTES) writer = new BinaryWriter();
  // finish() returned a fresh copy that nothing else references: the frame can own it.
  const frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length - 5, 1);
  return frame;
}
