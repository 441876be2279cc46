// `etcd-apiv3/proto`: etcd's generated message types (and service definitions) for `client.raw` and for
// protocol-level tests. Build messages with `X.fromPartial({...})`; encode/decode with `X.encode` / `X.decode`.
// The service definitions (`KVService`, `WatchService`, ...) serve grpc-js servers and clients alike: a client
// class is `grpc.makeGenericClientConstructor(KVService, 'etcdserverpb.KV')`. No grpc-js client classes are
// generated, so importing this module does not load grpc-js.

export * from '../generated/etcdserver/etcdserverpb/rpc';
export * from '../generated/mvcc/mvccpb/kv';
export * from '../generated/auth/authpb/auth';
export * from '../generated/etcdserver/api/v3lock/v3lockpb/v3lock';
export * from '../generated/etcdserver/api/v3election/v3electionpb/v3election';
// Each generated file declares these helpers; the ones from rpc.ts stand for all.
export { type DeepPartial, type Exact, type MessageFns, protobufPackage, protobufFileName } from '../generated/etcdserver/etcdserverpb/rpc';
