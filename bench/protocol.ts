// What the orchestrator (bench.ts) and a worker child (worker.ts) tell each other over the IPC channel.
import type { ContenderName } from './drivers';

export const WORKLOADS = ['seq-put', 'put-64', 'put-256', 'get-64', 'get-256', 'list', 'watch', 'watch-self', 'watch-burst', 'keepalive', 'mem', 'clients'] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

/** Internal jobs that are not workloads of their own. */
export type JobKind = WorkloadId | 'probe' | 'watch-writer';

export interface Params {
  /** 256 in the brief. */
  valueSize: number;
  /** The measured window of sequential put and put/get throughput, and the warm-up before it, seconds. */
  tpSeconds: number;
  tpWarmupSeconds: number;
  /** The list workload: this many keys of `listValueSize` bytes, loaded once per run, listed in one call. */
  listKeys: number;
  listValueSize: number;
  /** Distinct keys cycled through by the put/get throughput runs. */
  tpKeys: number;
  watchEvents: number;
  /** Puts in flight in the separate watch writer process. */
  watchWriterInflight: number;
  /** Puts in flight in watch-self, where the contender writes the puts it watches. */
  watchSelfInflight: number;
  watchTimeoutSeconds: number;
  /** Puts per transaction: watch-burst's writer, and the bench's own bulk writes. */
  burstTxnOps: number;
  /** Transactions in flight in watch-burst's writer. */
  burstInflight: number;
  kaLeases: number;
  kaTtl: number;
  kaSeconds: number;
  /** mem and clients run in at most this many rounds (they vary little). */
  memRounds: number;
  memWatchers: number;
  memLeases: number;
  clients: number;
}

export interface Job {
  kind: JobKind;
  contender: ContenderName;
  endpoints: string[];
  /** Every key this job writes starts with it. */
  prefix: string;
  params: Params;
  /** get-*: the keys under `prefix` were written by the orchestrator already. */
  prefilled?: boolean;
  /** watch-writer: write the puts in transactions of `params.burstTxnOps` puts each. */
  burst?: boolean;
  /** list, etcd3: keep grpc-js's default 4 MB receive limit instead of lifting it. */
  defaultReceiveLimit?: boolean;
}

/** Numbers a job reports (all plain numbers so they aggregate generically). */
export type Metrics = Record<string, number>;

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'result'; metrics: Metrics; notes?: string[] }
  | { type: 'error'; message: string; unsupported: boolean };

export type ParentMessage = { type: 'go' } | { type: 'finish' };
