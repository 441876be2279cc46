// The public API below discovery: everything src/index.ts exports except the discovery layer, which is built on
// this module alone (so the layers run one way: discovery imports core, index re-exports both).

export { Client, type ClientOptions, type LoadBalancer } from './client';
export { Response, Value, Event, EventType, Member } from './response';
export { Transaction, CompareResult, CompareTarget } from './txn';
export { KeepAlive, type KeepAliveHandler } from './keepalive';
export { Observer } from './observer';
export { Watcher, type WatchCallback, type WaitCallback } from './watcher';
export { UNREACHABLE_AFTER_MS, type ConnectionState, type ConnectionListener } from './link';
export type { Bytes } from './args';
export type { RawClient, RawService, RawCallOptions } from './raw';
export { resolveEtcdEndpoints } from './endpoints';
export {
  ClientClosedError,
  LeaseExpiredError,
  KeepAliveError,
  GrpcStatusError,
  UnsupportedByServerError,
  ClosedError,
  EtcdError,
  AlreadyRegisteredError,
  RegistrationReplacedError,
  KeyDeletedError,
  LeaseNotReadyError,
  WatchEndedError,
  UnreachableError,
  MissingPeerDependencyError,
  ERROR_GRPC_OK,
  ERROR_GRPC_CANCELLED,
  ERROR_GRPC_UNKNOWN,
  ERROR_GRPC_INVALID_ARGUMENT,
  ERROR_GRPC_DEADLINE_EXCEEDED,
  ERROR_GRPC_NOT_FOUND,
  ERROR_GRPC_ALREADY_EXISTS,
  ERROR_GRPC_PERMISSION_DENIED,
  ERROR_GRPC_RESOURCE_EXHAUSTED,
  ERROR_GRPC_FAILED_PRECONDITION,
  ERROR_GRPC_ABORTED,
  ERROR_GRPC_OUT_OF_RANGE,
  ERROR_GRPC_UNIMPLEMENTED,
  ERROR_GRPC_INTERNAL,
  ERROR_GRPC_UNAVAILABLE,
  ERROR_GRPC_DATA_LOSS,
  ERROR_GRPC_UNAUTHENTICATED,
  ERROR_KEY_NOT_FOUND,
  ERROR_COMPARE_FAILED,
  ERROR_KEY_ALREADY_EXISTS,
  ERROR_ACTION_CANCELLED,
} from './errors';
