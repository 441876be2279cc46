// A tiny gRPC service for the demo: one unary method, JSON on the wire, so it needs no .proto file.
import * as grpc from '@grpc/grpc-js';

export interface HelloRequest {
  from: string;
  n: number;
}
export interface HelloReply {
  instance: string;
  n: number;
}

const json = <T>() => ({
  serialize: (v: T) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as T,
});
const req = json<HelloRequest>();
const res = json<HelloReply>();

export const GreeterService = {
  hello: {
    path: '/demo.Greeter/Hello',
    requestStream: false,
    responseStream: false,
    requestSerialize: req.serialize,
    requestDeserialize: req.deserialize,
    responseSerialize: res.serialize,
    responseDeserialize: res.deserialize,
  },
} satisfies grpc.ServiceDefinition;

export const GreeterClient = grpc.makeGenericClientConstructor(GreeterService, 'Greeter');

/** Starts a greeter on 127.0.0.1 (a free port); resolves with its address and a stop function. */
export async function startGreeter(instance: string): Promise<{ address: string; stop(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(GreeterService, {
    hello: (call: grpc.ServerUnaryCall<HelloRequest, HelloReply>, cb: grpc.sendUnaryData<HelloReply>) =>
      cb(null, { instance, n: call.request.n }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}
