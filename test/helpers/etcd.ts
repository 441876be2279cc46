// The project's own tests written before etcd-apiv3/testing existed use this result shape: `stop()` tears
// everything down, `leader()` resolves to the member, and etcdctl's stdout is a Buffer. It is a thin view of
// the kit (src/testing), which does all the work; new tests should use the kit directly.
import {
  startCluster,
  startEtcd as startKitEtcd,
  type EtcdCluster as KitCluster,
  type EtcdMember,
  type EtcdctlOptions,
  type EtcdTlsOptions,
} from '../../src/testing';

export {
  pickFreePorts,
  etcdAvailable,
  etcdBin,
  etcdctlBin,
  ETCD_MISSING_MESSAGE,
  READY_TIMEOUT_MS,
  STOP_GRACE_MS,
  type EtcdMember,
  type EtcdctlOptions,
  type EtcdTlsOptions,
} from '../../src/testing';

export interface StartEtcdOptions {
  /** Number of members (default 1). */
  members?: number;
  dataDirOnTmpfs?: boolean;
  extraArgs?: string[];
  name?: string;
  tls?: EtcdTlsOptions;
  version?: string;
  /** etcd's timed watch progress notifications every this many ms (the kit's progressNotifyIntervalMs). */
  watchProgressNotifyIntervalMs?: number;
}

export interface EtcdctlResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

export interface EtcdCluster {
  readonly endpoints: string[];
  readonly endpoint: string;
  readonly members: EtcdMember[];
  /** Kills every member and removes all files (the kit's close()). Idempotent. */
  stop(): Promise<void>;
  etcdctl(args: string[], opts?: EtcdctlOptions): Promise<EtcdctlResult>;
  /** The current leader member. */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The kit's own object, for what this older shape does not offer. */
  readonly kit: KitCluster;
}

/** Starts etcd through the kit and returns the older result shape. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const { members = 1, watchProgressNotifyIntervalMs, ...more } = opts;
  const rest = { ...more, progressNotifyIntervalMs: watchProgressNotifyIntervalMs };
  const kit = members === 1 ? await startKitEtcd(rest) : await startCluster(members, rest);
  return {
    kit,
    get endpoints() {
      return kit.endpoints;
    },
    get endpoint() {
      return kit.endpoint;
    },
    get members() {
      return kit.members;
    },
    stop: () => kit.close(),
    etcdctl: (args, o) => kit.etcdctl(args, { ...o, encoding: 'buffer' }),
    leader: async (t) => kit.members[await kit.leader(t)]!,
    waitHealthy: (t) => kit.waitHealthy(t),
  };
}
