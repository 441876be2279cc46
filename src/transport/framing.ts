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
import { frameMessage } from './http2/wire';
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

/** Encodes into the shared writer, after `prefix` bytes of room; returns the writer's fresh copy. */
function encodeReused(encoder: Encoder, request: unknown, prefix: Uint8Array | undefined): Uint8Array {
  const w = writer;
  let bytes: Uint8Array;
  try {
    if (prefix !== undefined) w.raw(prefix);
    encoder.encode(request as never, w);
    bytes = w.finish();
  } catch (e) {
    // A half-written message must not prefix the next request.
    writer = new BinaryWriter();
    throw e;
  }
  if (bytes.length > RETAIN_BYTES) writer = new BinaryWriter();
  return bytes;
}

/** One length-prefixed gRPC message for `request`. Throws what the encoder throws (the caller maps it). */
export function frameRequest<Req>(method: MethodDescriptor<Req, unknown>, request: Req): Buffer {
  const encoder = HOT.get(method);
  if (encoder === undefined) return frameMessage(method.requestSerialize(request));
  const bytes = encodeReused(encoder, request, HEADER);
  // finish() returned a fresh copy that nothing else references: the frame can own it.
  const frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length - 5, 1);
  return frame;
}

const serializers = new WeakMap<object, (request: never) => Buffer>();

/**
 * The request serializer to hand grpc-js (which frames by itself): the reused writer for the hot methods, the
 * generated one otherwise.
 */
export function requestSerializer<Req>(method: MethodDescriptor<Req, unknown>): (request: Req) => Buffer {
  const encoder = HOT.get(method);
  if (encoder === undefined) return method.requestSerialize;
  let f = serializers.get(method);
  if (f === undefined) {
    f = (request: never) => {
      const bytes = encodeReused(encoder, request, undefined);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    };
    serializers.set(method, f);
  }
  return f as (request: Req) => Buffer;
}
