// Side-by-side benchmark: this client vs the `etcd3` npm package vs etcd's Go benchmark tool vs bare gRPC
// floors (node:http2 with and without prev_kv on puts; grpc-js and ours on grpc-js with --contenders all).
//
//   npm run bench                      full run (5 rounds, 10 s windows; about 40 min on 2 cores)
//   npm run bench -- --quick           smoke run (1 round, 2 s windows, a 20,000-key list; ~3 min)
//   npm run bench -- --rounds 2 --window 3 --warmup 1 --only put,get --contenders ours-http2,etcd3,http2-prevkv
//   npm run bench -- --disk            etcd data dir on disk instead of tmpfs
//   ETCD_ENDPOINTS=http://h:2379 npm run bench    use that etcd (not compacted unless --compact)
//
// Every job runs in a child process of its own (worker.ts, bundled to plain JS with esbuild so no TypeScript
// loader is in the measured process; the Go tool is its own process, gobench.ts). Timed workloads: a warm-up,
// then a window measured in two halves (the Stability section). Results: bench/results/latest.{md,svg,json}.
import * as grpc from '@grpc/grpc-js';
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KVService, MaintenanceService } from '../generated/etcdserver/etcdserverpb/rpc';
import { startEtcd, type Etcd } from '../src/testing';
import { CONTENDER_LABEL, CONTENDERS, DEFAULT_CONTENDERS, supportsManyWatchers, type ContenderName } from './drivers';
import { findGoBenchmark, goPutKeys, isGoWorkload, runGoJob } from './gobench';
import { WORKLOADS, type ChildMessage, type Job, type JobKind, type Metrics, type Params, type ParentMessage, type WorkloadId } from './protocol';
import { renderMarkdown, renderSvg, renderTable, type ReportContext } from './report';
import { stability, summarize, type Cell, type Results } from './rows';

const BENCH_DIR = __dirname;
const BUILD_DIR = path.join(BENCH_DIR, '.build');
const RESULTS_DIR = path.join(BENCH_DIR, 'results');

// ---- options -------------------------------------------------------------------------------------------

interface Options {
  rounds: number;
  quick: boolean;
  disk: boolean;
  only: WorkloadId[];
  contenders: ContenderName[];
  keepaliveSerial: boolean;
  compact: boolean | undefined;
  out: string;
  /** Measured window and warm-up of the timed workloads, seconds (NaN: the default). */
  window: number;
  warmup: number;
  listKeys: number;
  /** --baseline REF: also run this client as of git REF (contender ours-base), for before/after in one run. */
  baseline: string | undefined;
}

const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--window S] [--warmup S] [--list-keys N] [--only w1,w2]
                        [--contenders c1,c2|all] [--disk] [--keepalive-serial] [--compact|--no-compact] [--out DIR]
                        [--cpu-prof DIR] [--baseline REF]
workloads:   ${WORKLOADS.join(', ')} (also: put = put-64,put-256; get = get-64,get-256)
contenders:  ${CONTENDERS.join(', ')} (default: ${DEFAULT_CONTENDERS.join(', ')})
--window S   measured window of seq-put, put-* and get-* (default 10; --quick 2)
--warmup S   warm-up before each window, every contender alike (default 5; --quick 0.5)
--baseline REF  adds contender ours-base: this client as of git REF (same driver, same transport), so a change
             is measured before and after in one run (column ours-h2/before)
env:         ETCD_ENDPOINTS=http://host:port[,...] uses that etcd instead of starting one
             ETCD_BENCHMARK_BIN=path: etcd's Go benchmark tool (else found as described in bench/gobench.ts)`;

/** The worker bundled with --baseline REF's library (contender ours-base). */
let baselineWorkerJs: string | undefined;

/** --cpu-prof DIR: every worker writes a V8 CPU profile there (summarize with bench/profile-summary.ts). */
let cpuProfDir: string | undefined;

/** A problem with how the bench was invoked or configured: printed without a stack. */
class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    rounds: NaN,
    quick: false,
    disk: false,
    only: [...WORKLOADS],
    contenders: [...DEFAULT_CONTENDERS],
    window: NaN,
    warmup: NaN,
    listKeys: NaN,
    baseline: undefined,
    keepaliveSerial: false,
    compact: undefined,
    out: RESULTS_DIR,
  };
  const list = (s: string | undefined, what: string) => {
    if (!s) throw new UsageError(`${what} needs a comma-separated list`);
    return s.split(',').map((x) => x.trim()).filter(Boolean);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--rounds': {
        o.rounds = Number(value());
        if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new UsageError('--rounds must be a positive integer');
        break;
      }
      case '--quick':
        o.quick = true;
        break;
      case '--window':
      case '--warmup': {
        const v = Number(value());
        if (!(v > 0)) throw new UsageError(`${flag} must be a positive number of seconds`);
        o[flag === '--window' ? 'window' : 'warmup'] = v;
        break;
      }
      case '--list-keys': {
        o.listKeys = Number(value());
        if (!Number.isInteger(o.listKeys) || o.listKeys < 1) throw new UsageError('--list-keys must be a positive integer');
        break;
      }
      case '--disk':
        o.disk = true;
        break;
      case '--keepalive-serial':
        o.keepaliveSerial = true;
        break;
      case '--compact':
        o.compact = true;
        break;
      case '--no-compact':
        o.compact = false;
        break;
      case '--cpu-prof':
        cpuProfDir = path.resolve(value() ?? 'bench/profiles');
        break;
      case '--baseline':
        o.baseline = value();
        if (!o.baseline) throw new UsageError('--baseline needs a git revision (a commit, tag or branch)');
        break;
      case '--out':
        o.out = path.resolve(value() ?? RESULTS_DIR);
        break;
      case '--only': {
        const wanted = new Set<WorkloadId>();
        for (const w of list(value(), '--only')) {
          const matches = WORKLOADS.filter((x) => x === w || x.startsWith(`${w}-`));
          if (!matches.length) throw new UsageError(`unknown workload '${w}' (${WORKLOADS.join(', ')})`);
          matches.forEach((m) => wanted.add(m));
        }
        o.only = WORKLOADS.filter((w) => wanted.has(w));
        break;
      }
      case '--contenders': {
        const raw = list(value(), '--contenders');
        const wanted = raw.includes('all') ? CONTENDERS.filter((c) => c !== 'ours-base') : raw;
        for (const c of wanted) if (!(CONTENDERS as readonly string[]).includes(c)) throw new UsageError(`unknown contender '${c}' (${CONTENDERS.join(', ')})`);
        o.contenders = CONTENDERS.filter((c) => wanted.includes(c));
        break;
      }
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
      default:
        throw new UsageError(`unknown argument '${a}'\n${USAGE}`);
    }
  }
  if (Number.isNaN(o.rounds)) o.rounds = o.quick ? 1 : 5;
  if (o.baseline && !o.contenders.includes('ours-base')) o.contenders = CONTENDERS.filter((c) => c === 'ours-base' || o.contenders.includes(c));
  if (!o.baseline && o.contenders.includes('ours-base')) throw new UsageError('contender ours-base needs --baseline REF');
  return o;
}

function paramsFor(o: Options): Params {
  const common = { valueSize: 256, tpKeys: 1000, listValueSize: 1024, watchWriterInflight: 256, watchSelfInflight: 64, watchTimeoutSeconds: 60, burstTxnOps: 100, burstInflight: 4, memRounds: 3, kaTtl: 5, memWatchers: 1000, memLeases: 1000, clients: 100 };
  const p: Params = o.quick
    ? { ...common, tpSeconds: 2, tpWarmupSeconds: 0.5, listKeys: 20_000, watchEvents: 10_000, kaLeases: 1000, kaSeconds: 4, memWatchers: 500, memLeases: 500 }
    : { ...common, tpSeconds: 10, tpWarmupSeconds: 5, listKeys: 200_000, watchEvents: 10_000, kaLeases: 1000, kaSeconds: 15 };
  if (!Number.isNaN(o.window)) p.tpSeconds = o.window;
  if (!Number.isNaN(o.warmup)) p.tpWarmupSeconds = o.warmup;
  if (!Number.isNaN(o.listKeys)) p.listKeys = o.listKeys;
  return p;
}

// ---- child processes -----------------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();

function killAllChildren(): void {
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  liveChildren.clear();
}

let cluster: Etcd | undefined;
let interrupted = false;
process.on('exit', () => {
  killAllChildren();
  fs.rmSync(BUILD_DIR, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping the workers and etcd`);
    killAllChildren();
    // The etcd helper's exit hook kills etcd and removes its data dir.
    process.exit(130);
  });
}

/**
 * Bundles worker.ts. With `libraryRoot`, the driver's `require('../src/index')` resolves to that tree's src/ (a
 * git REF exported by `baselineTree`), so the baseline worker differs from ours only in the library.
 */
async function bundleWorker(name = 'worker.js', libraryRoot?: string): Promise<string> {
  // esbuild comes with tsx. Bundling keeps the measured child free of a TypeScript loader.
  const esbuild = require('esbuild') as typeof import('esbuild');
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const outfile = path.join(BUILD_DIR, name);
  const plugins: import('esbuild').Plugin[] = libraryRoot
    ? [
        {
          name: 'baseline-library',
          setup(b) {
            b.onResolve({ filter: /^\.\.\/src\/index$/ }, (args) =>
              path.resolve(args.resolveDir) === BENCH_DIR ? { path: path.join(libraryRoot, 'src', 'index.ts') } : undefined,
            );
          },
        },
      ]
    : [];
  await esbuild.build({
    entryPoints: [path.join(BENCH_DIR, 'worker.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
    plugins,
  });
  return outfile;
}

/** `git describe`-like name of REF (default HEAD, marked -dirty when the tree has changes), or 'unknown'. */
function gitDescribe(ref?: string): string {
  const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
  try {
    const args = ref ? ['rev-parse', '--short', `${ref}^{commit}`] : ['describe', '--always', '--dirty'];
    return execFileSync('git', args, { cwd: path.join(BENCH_DIR, '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** Exports git REF's src/ and generated/ under .build/baseline (read-only use: the bundle is built from it). */
function baselineTree(ref: string): string {
  const root = path.join(BENCH_DIR, '..');
  const dir = path.join(BUILD_DIR, 'baseline');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
  let commit: string;
  try {
    commit = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    throw new UsageError(`--baseline ${ref}: not a git revision of this repository`);
  }
  const tar = execFileSync('git', ['archive', '--format=tar', commit, 'src', 'generated'], { cwd: root, maxBuffer: 1 << 28 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  return dir;
}

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['ETCD_APIV3_TRANSPORT'];
  delete env['NODE_OPTIONS'];
  return env;
}

class Child {
  readonly proc: ChildProcess;
  private readonly queue: ChildMessage[] = [];
  private waiter: ((m: ChildMessage | Error) => void) | undefined;
  private stderr = '';
  private exitInfo: string | undefined;
  readonly exited: Promise<void>;

  constructor(
    workerJs: string,
    readonly job: Job,
  ) {
    this.proc = fork(job.contender === 'ours-base' ? baselineWorkerJs! : workerJs, [JSON.stringify(job)], {
      execArgv: ['--expose-gc', ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${job.kind}-${job.contender}-${Date.now()}.cpuprofile`] : [])],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: childEnv(),
    });
    liveChildren.add(this.proc);
    const keep = (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    this.proc.on('message', (m: ChildMessage) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(m);
      } else this.queue.push(m);
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        liveChildren.delete(this.proc);
        this.exitInfo = `exited with ${signal ?? `code ${code}`}`;
        // Let a last IPC message that raced the exit be delivered first.
        setImmediate(() => {
          if (this.waiter) {
            const w = this.waiter;
            this.waiter = undefined;
            w(new Error(`worker ${this.exitInfo}${this.stderr ? `:\n${this.stderr.trim()}` : ''}`));
          }
        });
        resolve();
      });
    });
  }

  /** The next message from the child; rejects if it exits first or takes longer than `timeoutMs`. */
  next(timeoutMs: number): Promise<ChildMessage> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exitInfo) return Promise.reject(new Error(`worker ${this.exitInfo}${this.stderr ? `:\n${this.stderr.trim()}` : ''}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.kill();
        reject(new Error(`worker timed out after ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.waiter = (m) => {
        clearTimeout(timer);
        if (m instanceof Error) reject(m);
        else resolve(m);
      };
    });
  }

  /** Waits for `ready`; a result/error instead is turned into an exception. */
  async ready(timeoutMs: number): Promise<void> {
    const m = await this.next(timeoutMs);
    if (m.type === 'ready') return;
    if (m.type === 'error') throw new JobError(m.message, m.unsupported);
    throw new Error(`expected 'ready', got '${m.type}'`);
  }

  async result(timeoutMs: number): Promise<Metrics> {
    const m = await this.next(timeoutMs);
    if (m.type === 'result') return m.metrics;
    if (m.type === 'error') throw new JobError(m.message, m.unsupported);
    throw new Error(`expected a result, got '${m.type}'`);
  }

  send(m: ParentMessage): void {
    if (this.proc.connected) this.proc.send(m);
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

class JobError extends Error {
  constructor(
    message: string,
    readonly unsupported: boolean,
  ) {
    super(message);
  }
}

function toCell(p: PromiseSettledResult<Metrics>): Cell {
  if (p.status === 'fulfilled') return { ok: true, metrics: p.value };
  const e = p.reason as Error;
  return { ok: false, error: (e?.message ?? String(e)).split('\n').slice(0, 6).join(' | '), unsupported: e instanceof JobError && e.unsupported };
}

// ---- etcd admin (bare grpc-js: independent of every contender) --------------------------------------------

class Admin {
  private readonly client: grpc.Client;
  constructor(endpoint: string) {
    this.client = new grpc.Client(new URL(endpoint).host, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  }
  private call<Req, Res>(m: { path: string; requestSerialize: (r: Req) => Buffer; responseDeserialize: (b: Buffer) => Res }, req: Req): Promise<Res> {
    return new Promise((resolve, reject) =>
      this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, { deadline: Date.now() + 60_000 }, (err, res) =>
        err ? reject(err) : resolve(res!),
      ),
    );
  }
  status() {
    return this.call(MaintenanceService.status, {});
  }
  /**
   * Writes `n` keys `<prefix><index>` (values stamped like the watch writer's, send time 0) in transactions of
   * `perTxn` puts; returns the revision of the first transaction.
   */
  async writeKeys(prefix: string, n: number, perTxn: number, valueSize: number, inflight = 1): Promise<bigint> {
    let first = 0n;
    let next = 0;
    const lane = async () => {
      while (next < n) {
        const i = next;
        next += perTxn;
        const rev = await this.writeBatch(prefix, i, Math.min(n, i + perTxn), valueSize);
        if (i === 0) first = rev;
      }
    };
    await Promise.all(Array.from({ length: inflight }, lane));
    return first;
  }
  private async writeBatch(prefix: string, from: number, to: number, valueSize: number): Promise<bigint> {
    const success = [];
    for (let j = from; j < to; j++) {
      const value = Buffer.alloc(valueSize, 'h');
      value.write(`${'0'.repeat(20)}:${String(j).padStart(8, '0')}:`, 0, 'latin1');
      const requestPut = { key: Buffer.from(`${prefix}${String(j).padStart(6, '0')}`), value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false };
      success.push({ request: { $case: 'requestPut' as const, requestPut } });
    }
    const res = await this.call(KVService.txn, { compare: [], success, failure: [] });
    return res.header?.revision ?? 0n;
  }
  /** Deletes these exact keys (what etcd's Go benchmark tool wrote at the root of the keyspace). */
  async deleteKeys(keys: Buffer[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 100) {
      const success = keys.slice(i, i + 100).map((key) => ({
        request: { $case: 'requestDeleteRange' as const, requestDeleteRange: { key, rangeEnd: Buffer.alloc(0), prevKv: false } },
      }));
      await this.call(KVService.txn, { compare: [], success, failure: [] });
    }
  }
  /** Deletes everything under `prefix`; with `compact`, then compacts the whole history (physically). */
  async cleanup(prefix: string, compact: boolean): Promise<void> {
    const key = Buffer.from(prefix);
    const end = Buffer.from(prefix);
    end[end.length - 1]!++;
    const res = await this.call(KVService.deleteRange, { key, rangeEnd: end, prevKv: false });
    if (compact) {
      const rev = res.header?.revision ?? 0n;
      if (rev > 1n) await this.call(KVService.compact, { revision: rev, physical: true }).catch(() => {});
    }
  }
  close(): void {
    this.client.close();
  }
}

// ---- runs --------------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface RunContext {
  opts: Options;
  params: Params;
  workerJs: string;
  endpoints: string[];
  runId: string;
  admin: Admin;
  compact: boolean;
}

function job(ctx: RunContext, kind: JobKind, contender: ContenderName, prefix: string): Job {
  return { kind, contender, endpoints: ctx.endpoints, prefix, params: ctx.params };
}

function jobTimeoutMs(p: Params, w: JobKind): number {
  switch (w) {
    case 'seq-put':
    case 'put-64':
    case 'put-256':
    case 'get-64':
    case 'get-256':
      return 60_000 + (p.tpSeconds + p.tpWarmupSeconds) * 1000;
    case 'list':
      return 60_000 + p.listKeys * 2;
    default:
      return 120_000;
  }
}

async function runSimple(ctx: RunContext, kind: JobKind, contender: ContenderName, prefix: string, extra: Partial<Job> = {}): Promise<Metrics> {
  const child = new Child(ctx.workerJs, { ...job(ctx, kind, contender, prefix), ...extra });
  try {
    return await child.result(jobTimeoutMs(ctx.params, kind));
  } finally {
    // A profiled worker writes its profile as it exits: let it.
    if (cpuProfDir) await Promise.race([child.exited, sleep(10_000)]);
    child.kill();
    await child.exited;
  }
}

/** The watcher (the contender) and a separate writer process (always the bare http2 floor). */
async function runWatch(ctx: RunContext, contender: ContenderName, prefix: string, burst: boolean): Promise<Metrics> {
  const watcher = new Child(ctx.workerJs, job(ctx, 'watch', contender, prefix));
  const writer = new Child(ctx.workerJs, { ...job(ctx, 'watch-writer', 'http2', prefix), burst });
  try {
    await Promise.all([watcher.ready(60_000), writer.ready(60_000)]);
    watcher.send({ type: 'go' });
    writer.send({ type: 'go' });
    const timeout = (ctx.params.watchTimeoutSeconds + 60) * 1000;
    const [w, wr] = await Promise.allSettled([watcher.result(timeout), writer.result(timeout)]);
    if (w.status === 'rejected') throw w.reason;
    if (wr.status === 'rejected') throw new Error(`watch writer failed: ${String((wr.reason as Error)?.message ?? wr.reason)}`);
    const m = w.value;
    const wm = wr.value;
    const spanS = (m['lastEventAtNs']! - wm['firstSendAtNs']!) / 1e9;
    return {
      ...m,
      eventsPerSec: m['events']! / spanS,
      deliverySpanMs: spanS * 1000,
      writesPerSec: wm['writesPerSec']!,
      writerSpanMs: (wm['lastAckAtNs']! - wm['firstSendAtNs']!) / 1e6,
      tailAfterLastAckMs: (m['lastEventAtNs']! - wm['lastAckAtNs']!) / 1e6,
    };
  } finally {
    watcher.kill();
    writer.kill();
    await Promise.all([watcher.exited, writer.exited]);
  }
}

/**
 * Keepalive: each contender's child grants its leases and starts keeping them alive (one after the other),
 * then all measure the same steady-state window at the same time (or one at a time with --keepalive-serial).
 */
async function runKeepalive(ctx: RunContext, order: ContenderName[], prefixOf: (c: ContenderName) => string): Promise<Map<ContenderName, Cell>> {
  const out = new Map<ContenderName, Cell>();
  const batches = ctx.opts.keepaliveSerial ? order.map((c) => [c]) : [order];
  for (const batch of batches) {
    const children = new Map<ContenderName, Child>();
    try {
      for (const c of batch) {
        const child = new Child(ctx.workerJs, job(ctx, 'keepalive', c, prefixOf(c)));
        try {
          await child.ready(120_000);
          children.set(c, child);
        } catch (err) {
          out.set(c, toCell({ status: 'rejected', reason: err }));
          child.kill();
        }
      }
      await sleep(1000);
      for (const child of children.values()) child.send({ type: 'go' });
      const measured = await Promise.allSettled(
        [...children.values()].map((child) => child.ready((ctx.params.kaSeconds + 60) * 1000)),
      );
      for (const child of children.values()) child.send({ type: 'finish' });
      const names = [...children.keys()];
      const results = await Promise.allSettled([...children.values()].map((child) => child.result(120_000)));
      names.forEach((c, i) => {
        const m = measured[i]!;
        out.set(c, m.status === 'rejected' ? toCell(m) : toCell(results[i]!));
      });
    } finally {
      for (const child of children.values()) child.kill();
      await Promise.all([...children.values()].map((c) => c.exited));
    }
  }
  return out;
}

/** The second half of a window against the first, in percent (the stability check). */
function driftText(m: Metrics): string {
  const d = 100 * (m['secondHalf']! / m['firstHalf']! - 1);
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)} %${Math.abs(d) > 10 ? ' UNSTABLE' : ''}`;
}

/** The Go tool's cell in the workloads it has no counterpart for. */
const goOnly: Cell = { ok: false, error: 'etcd\'s Go benchmark tool is run for sequential put, put and get only', unsupported: true };

function describeCell(w: WorkloadId, cell: Cell): string {
  if (!cell.ok) return cell.unsupported ? `n/a (${cell.error})` : `FAILED: ${cell.error}`;
  const m = cell.metrics;
  const n = (v: number | undefined, d = 0) => (v === undefined ? '?' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  const halves = m['firstHalf'] !== undefined ? `; halves ${n(m['firstHalf'])} / ${n(m['secondHalf'])} (${driftText(m)})` : '';
  switch (w) {
    case 'seq-put':
      return `p50 ${n(m['p50Us'])} µs, p99 ${n(m['p99Us'])} µs, CPU ${n(m['cpuUsPerOp'])} µs/op${halves}`;
    case 'put-64':
    case 'put-256':
    case 'get-64':
    case 'get-256':
      return `${n(m['opsPerSec'])} ops/s, CPU ${n(m['cpuPct'])} % (${n(m['cpuUsPerOp'])} µs/op), peak RSS ${n(m['peakRssMB'], 1)} MB${halves}`;
    case 'list':
      return `${n(m['keys'])} keys in ${n(m['listMs'])} ms, CPU ${n(m['cpuMs'])} ms, peak RSS ${n(m['peakRssMB'], 1)} MB`;
    case 'watch':
    case 'watch-self':
    case 'watch-burst':
      return `${n(m['eventsPerSec'])} ev/s (writer ${n(m['writesPerSec'])} puts/s), p50 ${n(m['latP50Us'])} µs, p99 ${n(m['latP99Us'])} µs, CPU ${n(m['cpuMs'])} ms`;
    case 'keepalive':
      return `CPU ${n(m['cpuPct'], 2)} %, RSS ${n(m['rssAvgMB'], 1)} MB, setup ${n(m['setupMs'])} ms`;
    case 'mem':
      return `RSS Δ ${n(m['rssDeltaMB'], 1)} MB, heap Δ ${n(m['heapDeltaMB'], 1)} MB (watchers alone: ${n(m['watchersRssDeltaMB'], 1)} / ${n(m['watchersHeapDeltaMB'], 1)} MB)`;
    case 'clients':
      return `${n(m['totalMs'])} ms, RSS Δ ${n(m['rssDeltaMB'], 1)} MB, heap Δ ${n(m['heapDeltaMB'], 1)} MB`;
  }
}

// ---- main --------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const params = paramsFor(opts);
  const t0 = Date.now();
  const loadStart = os.loadavg();
  const log = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}`);

  const workerJs = await bundleWorker();
  if (opts.baseline) {
    const tree = baselineTree(opts.baseline);
    baselineWorkerJs = await bundleWorker('worker-baseline.js', tree);
  }
  if (cpuProfDir) {
    // The profiles point into the bundle: keep a copy beside them (profile-summary.ts maps lines to sources).
    fs.mkdirSync(cpuProfDir, { recursive: true });
    fs.copyFileSync(workerJs, path.join(cpuProfDir, 'worker.js'));
  }
  const external = process.env['ETCD_ENDPOINTS'];
  let endpoints: string[];
  let etcdWhere: string;
  if (external) {
    endpoints = external.split(',').map((s) => s.trim()).filter(Boolean).map((e) => (/^\w+:\/\//.test(e) ? e : `http://${e}`));
    etcdWhere = `external (ETCD_ENDPOINTS=${external})`;
  } else {
    cluster = await startEtcd({ dataDirOnTmpfs: !opts.disk, name: 'etcd-bench', args: ['--quota-backend-bytes=8589934592'] });
    endpoints = cluster.endpoints;
    etcdWhere = opts.disk ? `started by the bench, data dir on disk (${os.tmpdir()})` : 'started by the bench, data dir on tmpfs (/dev/shm)';
  }
  const compact = opts.compact ?? !external;
  const admin = new Admin(endpoints[0]!);
  const runId = `${Date.now().toString(36)}-${process.pid}`;
  const ctx: RunContext = { opts, params, workerJs, endpoints, runId, admin, compact };
  try {
    const status = await admin.status().catch((err: Error) => {
      throw new UsageError(`cannot reach etcd at ${endpoints[0]}: ${err.message}`);
    });
    const etcdVersion = status.version;
    log(`etcd ${etcdVersion} at ${endpoints.join(',')} — ${etcdWhere}`);
    log(`${opts.quick ? 'QUICK run' : 'full run'}: ${opts.rounds} round(s), workloads ${opts.only.join(', ')}`);
    if (loadStart[0]! > os.cpus().length * 0.5) log(`warning: load average is ${loadStart[0]!.toFixed(2)} on ${os.cpus().length} CPUs before the run; results will be noisy`);

    // Which contenders can run at all (ours-http2 is skipped while its transport is not available).
    const skipped: Partial<Record<ContenderName, string>> = {};
    let goBin = '';
    const probes = await Promise.allSettled(
      opts.contenders.map((c) =>
        c === 'go'
          ? Promise.resolve().then(() => void (goBin = findGoBenchmark(path.join(BENCH_DIR, '..'))))
          : runSimple(ctx, 'probe', c, `/bench/${runId}/probe/${c}/`),
      ),
    );
    opts.contenders.forEach((c, i) => {
      const p = probes[i]!;
      if (p.status === 'rejected') {
        skipped[c] = String((p.reason as Error)?.message ?? p.reason).split('\n')[0]!;
        log(`skipping ${CONTENDER_LABEL[c]}: ${skipped[c]}`);
      }
    });
    await admin.cleanup(`/bench/${runId}/probe/`, compact);
    const active = opts.contenders.filter((c) => !skipped[c]);
    if (active.length === 0) throw new Error('no contender can run');
    if (goBin) log(`etcd's Go benchmark tool: ${goBin}`);

    // etcd starts cold: its Go heap, raft log and bbolt pages grow to their working size under the first
    // minute of load, and a first round measured on that would differ from the rest for every contender.
    // So before round 1 the server gets the timed workloads' load once, from one client (the floor when it
    // runs), unmeasured; it applies to everyone alike.
    const timed = opts.only.filter((w) => w === 'seq-put' || w.startsWith('put-') || w.startsWith('get-'));
    const settler = active.includes('http2') ? 'http2' : active.find((c) => c !== 'go');
    if (timed.length && settler && !opts.quick) {
      const started = Date.now();
      const settleKeys = `/bench/${runId}/settle/get-keys/`;
      await admin.writeKeys(settleKeys, params.tpKeys, params.burstTxnOps, params.valueSize);
      for (const w of ['put-256', 'get-256', 'put-64'] as const) {
        await Promise.allSettled([
          w.startsWith('get-') ? runSimple(ctx, w, settler, settleKeys, { prefilled: true }) : runSimple(ctx, w, settler, `/bench/${runId}/settle/${w}/`),
        ]);
      }
      await admin.cleanup(`/bench/${runId}/settle/`, compact);
      log(`settled etcd: put-256, get-256 and put-64 once by ${CONTENDER_LABEL[settler]}, unmeasured (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }

    const results: Results = {};
    const roundsInfo: { round: number; order: ContenderName[]; seconds: number }[] = [];
    const record = (w: WorkloadId, c: ContenderName, r: number, cell: Cell) => {
      ((results[w] ??= {})[c] ??= new Array(opts.rounds).fill(undefined))[r] = cell;
    };

    for (let r = 0; r < opts.rounds; r++) {
      const roundStart = Date.now();
      const order = active.map((_, i) => active[(i + r) % active.length]!);
      log(`round ${r + 1}/${opts.rounds}: order ${order.join(' → ')}`);
      const getKeys = `/bench/${runId}/r${r}/get-keys/`;
      if (opts.only.some((w) => w.startsWith('get-'))) await admin.writeKeys(getKeys, params.tpKeys, params.burstTxnOps, params.valueSize);
      for (const w of opts.only) {
        if ((w === 'mem' || w === 'clients') && r >= params.memRounds) continue;
        if (w === 'list') continue; // its own phase after the rounds (below)
        const prefixOf = (c: ContenderName) => `/bench/${runId}/r${r}/${w}/${c}/`;
        if (w === 'keepalive') {
          const cells = await runKeepalive(ctx, order.filter((c) => c !== 'go'), prefixOf);
          for (const c of order) {
            const cell = cells.get(c) ?? (c === 'go' ? goOnly : { ok: false, error: 'not run', unsupported: false });
            record(w, c, r, cell);
            log(`  ${w.padEnd(9)} ${CONTENDER_LABEL[c].padEnd(19)} ${describeCell(w, cell)}`);
          }
          await admin.cleanup(`/bench/${runId}/r${r}/${w}/`, compact);
          continue;
        }
        for (const c of order) {
          let cell: Cell;
          if (w === 'mem' && !supportsManyWatchers(c)) {
            cell = { ok: false, error: 'bare floors have no watcher/keepalive layer to measure', unsupported: true };
          } else if (c === 'go' && !isGoWorkload(w)) {
            cell = goOnly;
          } else {
            const started = Date.now();
            const p =
              c === 'go' && isGoWorkload(w)
                ? runGoJob(goBin, w, endpoints, params, `${getKeys}000000`)
                : w === 'watch' || w === 'watch-burst'
                  ? runWatch(ctx, c, prefixOf(c), w === 'watch-burst')
                  : w.startsWith('get-')
                    ? runSimple(ctx, w, c, getKeys, { prefilled: true })
                    : runSimple(ctx, w, c, prefixOf(c));
            cell = toCell(await Promise.allSettled([p]).then((x) => x[0]!));
            log(`  ${w.padEnd(9)} ${CONTENDER_LABEL[c].padEnd(19)} ${describeCell(w, cell)}  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
            if (c === 'go' && (w === 'seq-put' || w.startsWith('put-'))) await admin.deleteKeys(goPutKeys(params.tpKeys));
            await admin.cleanup(prefixOf(c), compact);
          }
          record(w, c, r, cell);
        }
      }
      await admin.cleanup(`/bench/${runId}/r${r}/`, compact);
      roundsInfo.push({ round: r + 1, order, seconds: (Date.now() - roundStart) / 1000 });
      if (r + 1 < opts.rounds) {
        const perRound = (Date.now() - t0) / (r + 1) / 1000;
        log(`round ${r + 1} took ${roundsInfo.at(-1)!.seconds.toFixed(0)} s; about ${Math.round(perRound * (opts.rounds - r - 1))} s to go`);
      }
    }

    // The list workload: its keys are loaded once and read by every contender in each of its rounds (order
    // rotated as above). It runs after the other workloads, so they never share etcd with 200 MB of extra keys
    // (and the compaction after each of their jobs stays cheap).
    const listPrefix = `/bench/${runId}/list/`;
    const listNotes: string[] = [];
    if (opts.only.includes('list')) {
      const started = Date.now();
      await admin.writeKeys(listPrefix, params.listKeys, params.burstTxnOps, params.listValueSize, 4);
      log(`list: loaded ${params.listKeys.toLocaleString('en-US')} keys of ${params.listValueSize} bytes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (active.includes('etcd3')) {
        // etcd3 as a user gets it: grpc-js's default 4 MB receive limit (the rounds lift it).
        const cell = toCell(await Promise.allSettled([runSimple(ctx, 'list', 'etcd3', listPrefix, { defaultReceiveLimit: true })]).then((x) => x[0]!));
        const what = cell.ok ? `listed every key (${describeCell('list', cell)})` : `failed: ${cell.error}`;
        listNotes.push(`list: etcd3 with grpc-js's default receive limit (4 MB) ${what}; the rows use etcd3 with \`grpcOptions: { 'grpc.max_receive_message_length': -1 }\`.`);
        log(`  list      etcd3, default receive limit: ${what}`);
      }
      for (let r = 0; r < opts.rounds; r++) {
        const order = active.map((_, i) => active[(i + r) % active.length]!);
        for (const c of order) {
          let cell: Cell;
          if (!(c === 'ours' || c === 'ours-http2' || c === 'ours-base' || c === 'etcd3')) {
            cell = { ok: false, error: 'the list row compares the libraries\' own listing calls', unsupported: true };
          } else {
            const started = Date.now();
            cell = toCell(await Promise.allSettled([runSimple(ctx, 'list', c, listPrefix)]).then((x) => x[0]!));
            log(`  list r${r + 1}   ${CONTENDER_LABEL[c].padEnd(19)} ${describeCell('list', cell)}  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
          }
          record('list', c, r, cell);
        }
      }
    }
    await admin.cleanup(`/bench/${runId}/`, compact);

    // ---- report ----
    const summary = summarize(results, opts.rounds, params);
    const totalS = (Date.now() - t0) / 1000;
    const cpus = os.cpus();
    const machine = {
      cpuModel: cpus[0]?.model ?? 'unknown',
      cpuCount: cpus.length,
      totalMemMB: Math.round(os.totalmem() / 2 ** 20),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      etcdVersion,
      etcd: etcdWhere,
      loadAvgAtStart: loadStart.map((x) => +x.toFixed(2)),
      loadAvgAtEnd: os.loadavg().map((x) => +x.toFixed(2)),
    };
    const title = `etcd-apiv3 benchmark${opts.quick ? ' (quick)' : ''}`;
    const rctx: ReportContext = {
      quick: opts.quick,
      title,
      contenders: opts.contenders,
      skipped,
      machineLines: [
        `${new Date(t0).toISOString()}, ${opts.quick ? '**quick run**, ' : ''}${opts.rounds} round(s), total ${totalS.toFixed(0)} s`,
        `${machine.cpuModel} ×${machine.cpuCount}, ${machine.totalMemMB} MB RAM, ${machine.os}`,
        `Node ${machine.node}; etcd ${etcdVersion}, ${etcdWhere}`,
        `command: \`${process.env['ETCD_VERSION'] ? `ETCD_VERSION=${process.env['ETCD_VERSION']} ` : ''}npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` at ${gitDescribe()}`,
        ...(opts.baseline ? [`ours (http2) before = this client as of \`${opts.baseline}\` (${gitDescribe(opts.baseline)}), same driver and transport; ours-h2/before = paired ratio`] : []),
        `load average (1/5/15 min) at start ${machine.loadAvgAtStart.join(' / ')}, at end ${machine.loadAvgAtEnd.join(' / ')} — on a shared 2-core machine, other load skews absolute numbers; the paired ratios and CPU-per-op rows are the more robust readings`,
      ],
      methodLines: [
        `Each job runs in a fresh child Node process (bundled JS, \`--expose-gc\`), so CPU (process.cpuUsage Δ / wall) and RSS are the contender's own. Contender order rotates per round (round r starts with contender r mod n).`,
        `Values ${params.valueSize} bytes; keys under a per-run, per-job prefix, deleted after each job${compact ? ', then etcd is compacted' : ''}.`,
        `Timed workloads (sequential put, put and get throughput): every contender alike gets ${params.tpWarmupSeconds} s of the same work as warm-up, then a ${params.tpSeconds} s measured window. Before round 1, etcd itself is settled: put-256, get-256 and put-64 run once by the http2 floor, unmeasured, so that no contender's first round meets a cold server. Each window is also measured in two halves (ops/s; for sequential put the p50): the Stability section shows the second half against the first for every contender and round, flagged when they differ by more than 10 %.`,
        `sequential put: one put after another over ${params.tpKeys.toLocaleString('en-US')} keys, each timed (process.hrtime.bigint); p50/p99 over the window.`,
        `put/get throughput: 64 or 256 lanes each awaiting one call at a time over ${params.tpKeys.toLocaleString('en-US')} keys (for gets written beforehand by the bench); ops completed in the window. CPU per op = process CPU time in the window / ops. Peak RSS = max(RSS sampled every 50 ms, resourceUsage().maxRSS).`,
        `Floors: the bare node:http2 client sends puts without prev_kv (as etcd3 does); "http2 floor+prev_kv" asks for the previous kv like our put (C++ \`put\` returns \`prev_value()\`): the same server work and response. The "ours/floor" columns compare with floor+prev_kv.`,
        `Go benchmark: etcd's own \`tools/benchmark\` (its process, grpc-go): \`put --clients N --conns 1 --val-size ${params.valueSize} --key-size 8 --key-space-size ${params.tpKeys} --sequential-keys\` (no prev_kv), \`range KEY --consistency l\` on one prefilled key, N = 1 for sequential put. It runs a number of requests, not a duration: a calibration run of ~${params.tpWarmupSeconds} s (its warm-up) sets \`--total\` to its rate × ${params.tpSeconds} s. ops/s = its Requests/sec; p50/p99 = its 50 %/99 % latency lines; halves from its per-second samples (\`--sample\`: requests per second; for sequential put the seconds' mean latency); CPU and peak RSS from /usr/bin/time.`,
        `list: ${params.listKeys.toLocaleString('en-US')} keys of ${params.listValueSize} bytes, loaded once per run after the other workloads (which never share etcd with them); in each of the rounds every contender lists them once through its library's own call (ours: \`client.ls(prefix)\`; etcd3: \`getAll().prefix(p).buffers()\`, one Range), in a fresh process: time of the call and the process's peak RSS (sampled every 20 ms, and the kernel's maxRSS).`,
        `watch: one prefix watcher in the contender's process; ${params.watchEvents.toLocaleString('en-US')} puts (distinct keys, value carrying the hrtime send stamp) by a SEPARATE writer process using the bare http2 floor with ${params.watchWriterInflight} in flight. events/s = events / (last event received − first put sent), on the machine-wide monotonic clock. Every event must arrive exactly once within ${params.watchTimeoutSeconds} s, or the round fails.`,
        `watch, own writes: one prefix watcher and the ${params.watchEvents.toLocaleString('en-US')} puts it watches, both made by the contender's own client in one process, ${params.watchSelfInflight} puts in flight (a service that writes and watches: the whole client path shares one CPU budget, as in the issue's table). events/s = events / (last event received − first put sent). Every event must arrive exactly once, or the round fails.`,
        `watch, burst writes: as watch, but the writer puts ${params.burstTxnOps} keys per transaction, ${params.burstInflight} transactions in flight: events arrive several times faster than with single puts, in watch responses of ${params.burstTxnOps} events each (one per transaction).`,
        `keepalive: ${params.kaLeases.toLocaleString('en-US')} leases (TTL ${params.kaTtl} s) granted and kept alive (setup excluded), then CPU % and RSS over ${params.kaSeconds} s of steady state. ${opts.keepaliveSerial ? 'One contender at a time.' : 'All contenders of a round measure the same window at the same time (setups run one after another before it); each in its own process.'} The floors send all keepalives on one stream every TTL/3.`,
        `mem (at most ${params.memRounds} rounds, as clients): baseline = a connected client after gc; then ${params.memWatchers.toLocaleString('en-US')} watchers on distinct keys, then ${params.memLeases.toLocaleString('en-US')} keepalives; RSS/heapUsed Δ after gc. Not run for the bare floors.`,
        `clients: ${params.clients} clients created, one get each (concurrently), then all closed; RSS/heapUsed Δ measured while all are open.`,
        'ours/etcd3 ratios: for throughput/events higher is better; for latency, CPU and memory lower is better.',
      ],
      notes: [...listNotes],
      stability: stability(results),
    };
    if (opts.quick) rctx.notes.push(`Quick run: ${opts.rounds} round(s), shorter windows and fewer operations (see Method); expect noise of ±20 % or more.`);
    const writerPace = (id: string) => {
      const row = summary.find((s) => s.row.id === id);
      const v = row ? Object.values(row.byContender).map((x) => x?.median ?? NaN).filter(Number.isFinite) : [];
      return v.length ? Math.round(Math.max(...v)).toLocaleString('en-US') : undefined;
    };
    const paces = [['single puts', writerPace('watch-writer')], ['bursts', writerPace('watch-burst-writer')]].filter(([, v]) => v);
    if (paces.length) {
      rctx.notes.push(
        `Watch events/s follows the writer's pace (${paces.map(([k, v]) => `${k}: up to ~${v} puts/s`).join(', ')}): etcd, the writer and the watcher share ${os.cpus().length} cores and etcd's ingest is the limit, so a ratio near 1× means the client kept up. The client CPU time rows (per ${params.watchEvents.toLocaleString('en-US')} events) measure the client's own cost.`,
      );
    }
    console.log('\n' + renderTable(summary, rctx) + '\n');
    for (const n of rctx.notes) console.log(`note: ${n}`);
    const unstable = rctx.stability.filter((h) => Math.abs(h.driftPct) > 10);
    console.log(`stability: ${rctx.stability.length - unstable.length} of ${rctx.stability.length} windows have halves within 10 % of each other`);
    for (const h of unstable) console.log(`  unstable: ${h.workload} ${CONTENDER_LABEL[h.contender]} round ${h.round}: ${h.firstHalf.toFixed(0)} → ${h.secondHalf.toFixed(0)} (${h.driftPct.toFixed(1)} %)`);
    for (const [c, why] of Object.entries(skipped)) console.log(`note: ${CONTENDER_LABEL[c as ContenderName]} skipped: ${why}`);

    fs.mkdirSync(opts.out, { recursive: true });
    fs.writeFileSync(path.join(opts.out, 'latest.md'), renderMarkdown(summary, rctx));
    fs.writeFileSync(path.join(opts.out, 'latest.svg'), renderSvg(summary, rctx));
    const json = {
      quick: opts.quick,
      startedAt: new Date(t0).toISOString(),
      durationSeconds: totalS,
      options: { ...opts, out: undefined },
      params,
      machine,
      endpoints,
      skipped,
      rounds: roundsInfo,
      results,
      stability: rctx.stability,
      summary: summary.map((s) => ({
        id: s.row.id,
        label: s.row.label,
        unit: s.row.unit,
        better: s.row.better,
        target: s.row.target,
        medians: Object.fromEntries(Object.entries(s.byContender).map(([c, x]) => [c, x!.median])),
        perRound: Object.fromEntries(Object.entries(s.byContender).map(([c, x]) => [c, x!.perRound])),
        vsEtcd3: s.vsEtcd3,
        vsEtcd3Spread: s.vsEtcd3Spread,
        floor: s.floor,
        vsFloor: s.vsFloor,
        vsFloorSpread: s.vsFloorSpread,
        ...(s.vsBase !== undefined ? { vsBase: s.vsBase, vsBaseSpread: s.vsBaseSpread } : {}),
        best: s.best,
        verdict: s.verdict,
        verdictNote: s.verdictNote,
        floorTarget: s.row.floorTarget,
        floorBest: s.floorBest,
        floorVerdict: s.floorVerdict,
      })),
    };
    fs.writeFileSync(path.join(opts.out, 'latest.json'), JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
    const budget = opts.quick ? 300 : 3600;
    if (totalS > budget && opts.rounds === (opts.quick ? 1 : 5) && opts.only.length === WORKLOADS.length) {
      log(`warning: this run took ${totalS.toFixed(0)} s, over its ${budget} s budget (load average now ${os.loadavg()[0]!.toFixed(2)})`);
    }
    log(`done in ${totalS.toFixed(0)} s; wrote ${path.relative(process.cwd(), opts.out)}/latest.{md,svg,json}`);
  } finally {
    killAllChildren();
    admin.close();
    if (cluster) await cluster.close();
    fs.rmSync(BUILD_DIR, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof UsageError ? `bench: ${err.message}` : err instanceof Error ? (err.stack ?? err.message) : err);
  killAllChildren();
  void (cluster?.close() ?? Promise.resolve()).finally(() => process.exit(1));
});
