// A tiny gRPC server for discovery tests to reach: etcd's own KV.Range (so a client needs no code generation of
// its own), answering with the server's id in the header's member id and counting its calls.

import * as grpc from '@grpc/grpc-js';
import { KVService, RangeResponse, type RangeRequest } from '../../generated/etcdserver/etcdserverpb/rpc';

export interface StubServer {
  id: number;
  /** host:port on 127.0.0.1. */
  address: string;
  /** Range calls answered so far. */
  calls: number;
  close(): void;
}

/** Starts a stub server on a free loopback port. */
export async function startStubServer(id: number): Promise<StubServer> {
  const server = new grpc.Server();
  const s: StubServer = { id, address: '', calls: 0, close: () => server.forceShutdown() };
  server.addService(KVService, {
    range: (_call: grpc.ServerUnaryCall<RangeRequest, RangeResponse>, cb: grpc.sendUnaryData<RangeResponse>) => {
      s.calls++;
      cb(null, RangeResponse.fromPartial({ header: { memberId: BigInt(id) } }));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  s.address = `127.0.0.1:${port}`;
  return s;
}
