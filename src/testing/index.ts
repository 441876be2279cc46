// etcd-apiv3/testing: real etcd members and clusters on loopback, network faults, TLS, history checks and a
// scriptable fake etcd, for integration tests under any test runner. Nothing here downloads anything; nothing
// it starts outlives the test process. See README "Testing your code against etcd".

export { startEtcd, startCluster } from './start';
export type { Etcd, EtcdCluster, EtcdClientTls, StartEtcdOptions } from './cluster';
export { type EtcdMember, READY_TIMEOUT_MS, STOP_GRACE_MS } from './member';
export { type EtcdctlOptions, type EtcdctlResult } from './etcdctl';
export {
  resolveBinaries,
  versionFlags,
  pinnedVersion,
  etcdCacheDir,
  etcdAvailable,
  etcdBin,
  etcdctlBin,
  ETCD_MISSING_MESSAGE,
  type EtcdBinaries,
  type VersionedSettings,
} from './binaries';
export { startProxy, parseTarget, type Proxy, type ProxyTarget, type Direction } from './proxy';
export { makeCerts, mutualTls, type TestPki, type CertFiles, type EtcdTlsOptions } from './certs';
export {
  readHistory,
  checkHistory,
  assertHistory,
  compareHistory,
  toHistoryEvent,
  type HistoryEvent,
  type DeliveredEvent,
  type HistoryRange,
  type HistoryCheck,
  type HistoryDivergence,
} from './history';
export { startFakeEtcd, FakeEtcd, FakeWatchCall, putEvent, deleteEvent } from './fake-etcd';
export { pickFreePorts } from './util';
