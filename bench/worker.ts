// One benchmark job in a child process of its own (so CPU time and RSS are the contender's alone).
// Started by bench.ts (bundled to plain JS first, so no TypeScript loader sits in the measured process),
// with the job as JSON in argv[2]; talks to the parent over the IPC channel (protocol.ts).
import { createDriver, createWriter, pool, Unsupported, type Driver } from './drivers';
import type { ChildMessage, Job, Metrics, ParentMessage } from './protocol';
import { CpuMeter, MB, mean, quantile, RssSampler } from './stats';

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const P = job.params;

// Never outlive the orchestrator, however it ends.
process.on('disconnect', () => process.exit(3));

function send(msg: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

const parentMessages: ParentMessage[] = [];
const parentWaiters: ((m: ParentMessage) => void)[] = [];
process.on('message', (m: ParentMessage) => {
  const w = parentWaiters.shift();
  if (w) w(m);
  else parentMessages.push(m);
});
function fromParent(type: ParentMessage['type']): Promise<void> {
  return new Promise((resolve, reject) => {
    const take = (m: ParentMessage) => (m.type === type ? resolve() : reject(new Error(`expected '${type}' from the parent, got '${m.type}'`)));
    const queued = parentMessages.shift();
    if (queued) take(queued);
    else parentWaiters.push(take);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const nowNs = () => Number(process.hrtime.bigint());
const maxRssMB = () => (process.resourceUsage().maxRSS * 1024) / MB;

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

async function settledMemory(): Promise<{ rss: number; heap: number }> {
  gc();
  await sleep(200);
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss / MB, heap: m.heapUsed / MB };
}

const VALUE = Buffer.alloc(P.valueSize, 'v');
const keyOf = (i: number) => `${job.prefix}${String(i).padStart(6, '0')}`;

/** The watch writer's value: send time (hrtime ns, a clock shared by every process on the machine) and index. */
function stampedValue(index: number): Buffer {
  const head = `${String(process.hrtime.bigint()).padStart(20, '0')}:${String(index).padStart(8, '0')}:`;
  const v = Buffer.alloc(P.valueSize, 'w');
  v.write(head, 0, 'latin1');
  return v;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

// ---- workloads -------------------------------------------------------------------------------------------

/**
 * Sequential puts for `tpWarmupSeconds`, then every put's latency over a `tpSeconds` window (one after another,
 * process.hrtime.bigint). The window's two halves are reported separately (their p50s), so a drift shows.
 */
async function seqPut(d: Driver): Promise<Metrics> {
  await d.connect();
  let i = 0;
  const warmEnd = nowNs() + P.tpWarmupSeconds * 1e9;
  while (nowNs() < warmEnd) await d.put(keyOf(i++ % P.tpKeys), VALUE);
  let lat = new Float64Array(1 << 14);
  let n = 0;
  let half = -1;
  const cpu = new CpuMeter().start();
  const start = nowNs();
  const mid = start + (P.tpSeconds * 1e9) / 2;
  const end = start + P.tpSeconds * 1e9;
  for (;;) {
    const t0 = nowNs();
    if (t0 >= end) break;
    if (half < 0 && t0 >= mid) half = n;
    await d.put(keyOf(i++ % P.tpKeys), VALUE);
    if (n === lat.length) {
      const grown = new Float64Array(n * 2);
      grown.set(lat);
      lat = grown;
    }
    lat[n++] = (nowNs() - t0) / 1000;
  }
  const c = cpu.stop();
  const all = lat.subarray(0, n);
  if (half < 0) half = n;
  return {
    p50Us: quantile(all, 0.5),
    p99Us: quantile(all, 0.99),
    meanUs: mean(all),
    ops: n,
    firstHalf: quantile(all.subarray(0, half), 0.5),
    secondHalf: quantile(all.subarray(half), 0.5),
    cpuPct: c.cpuPct,
    cpuUsPerOp: (c.cpuMs * 1000) / n,
  };
}

async function throughput(d: Driver, op: 'put' | 'get', inflight: number): Promise<Metrics> {
  await d.connect();
  const baseRss = process.memoryUsage.rss() / MB;
  const keys = Array.from({ length: P.tpKeys }, (_, i) => keyOf(i));
  if (op === 'get' && !job.prefilled) await pool(keys.length, 64, (i) => d.put(keys[i]!, VALUE));
  let stop = false;
  let measuring = false;
  let ops = 0;
  let errors = 0;
  let firstError: unknown;
  let next = 0;
  const run =
    op === 'put'
      ? (k: string) => d.put(k, VALUE)
      : async (k: string) => {
          if ((await d.get(k)) !== P.valueSize) throw new Error(`get ${k}: wrong value length`);
        };
  const lane = async () => {
    while (!stop) {
      const k = keys[next++ % keys.length]!;
      try {
        await run(k);
        if (measuring) ops++;
      } catch (err) {
        errors++;
        firstError ??= err;
        if (errors >= 100) stop = true;
      }
    }
  };
  const lanes = Array.from({ length: inflight }, lane);
  await sleep(P.tpWarmupSeconds * 1000);
  const rss = new RssSampler().start(50);
  const cpu = new CpuMeter().start();
  ops = 0;
  measuring = true;
  const t0 = nowNs();
  await sleep((P.tpSeconds * 1000) / 2);
  const halfOps = ops;
  const t1 = nowNs();
  await sleep((P.tpSeconds * 1000) / 2);
  measuring = false;
  const done = ops;
  const t2 = nowNs();
  const c = cpu.stop();
  const r = rss.stop();
  stop = true;
  await Promise.all(lanes);
  if (errors > 0) throw new Error(`${errors} failed ${op}s, first: ${String(firstError)}`);
  return {
    opsPerSec: done / (c.wallMs / 1000),
    ops: done,
    // ops/s in each half of the window: a warm-up that was too short, or other load, shows as a difference.
    firstHalf: halfOps / ((t1 - t0) / 1e9),
    secondHalf: (done - halfOps) / ((t2 - t1) / 1e9),
    cpuPct: c.cpuPct,
    cpuUsPerOp: (c.cpuMs * 1000) / done,
    baseRssMB: baseRss,
    peakRssDeltaMB: Math.max(r.peakMB, maxRssMB()) - baseRss,
    rssPeakSampledMB: r.peakMB,
    rssAvgMB: r.avgMB,
    maxRssMB: maxRssMB(),
    peakRssMB: Math.max(r.peakMB, maxRssMB()),
  };
}

/** Counts the stamped events of a watch: each index exactly once, with its put→event latency. */
class EventCounter {
  readonly seen: Uint8Array;
  readonly lat: Float64Array;
  distinct = 0;
  duplicates = 0;
  received = 0;
  firstEventAt = 0;
  lastEventAt = 0;
  error: Error | undefined;
  private resolveAll!: () => void;
  readonly all = new Promise<void>((r) => (this.resolveAll = r));

  constructor(readonly n: number) {
    this.seen = new Uint8Array(n);
    this.lat = new Float64Array(n);
  }

  readonly onValue = (v: Buffer): void => {
    const now = nowNs();
    if (this.received++ === 0) this.firstEventAt = now;
    const idx = Number(v.toString('latin1', 21, 29));
    if (!(idx >= 0 && idx < this.n)) return void (this.error ??= new Error(`bad event value ${v.toString('latin1', 0, 30)}`));
    if (this.seen[idx]) return void this.duplicates++;
    this.seen[idx] = 1;
    this.lat[this.distinct++] = (now - Number(v.toString('latin1', 0, 20))) / 1000;
    if (this.distinct === this.n) {
      this.lastEventAt = now;
      this.resolveAll();
    }
  };

  readonly onError = (err: Error): void => void (this.error ??= err);

  wait(): Promise<void> {
    return Promise.race([this.all, sleep(P.watchTimeoutSeconds * 1000)]);
  }

  check(): void {
    if (this.error) throw this.error;
    if (this.distinct < this.n) throw new Error(`only ${this.distinct} of ${this.n} events arrived within ${P.watchTimeoutSeconds} s (${this.duplicates} duplicates)`);
    if (this.duplicates > 0) throw new Error(`${this.duplicates} duplicate events`);
  }
}

async function watch(d: Driver): Promise<Metrics> {
  await d.connect();
  const ev = new EventCounter(P.watchEvents);
  const h = await d.watch(job.prefix, true, ev.onValue, ev.onError);
  await send({ type: 'ready' });
  await fromParent('go');
  const cpu = new CpuMeter().start();
  const rss = new RssSampler().start(50);
  await ev.wait();
  const c = cpu.stop();
  const r = rss.stop();
  await h.cancel().catch(() => {});
  ev.check();
  return {
    events: ev.distinct,
    firstEventAtNs: ev.firstEventAt,
    lastEventAtNs: ev.lastEventAt,
    latP50Us: quantile(ev.lat, 0.5),
    latP99Us: quantile(ev.lat, 0.99),
    cpuPct: c.cpuPct,
    cpuMs: c.cpuMs,
    peakRssMB: r.peakMB,
  };
}

/**
 * watch-self: the contender's own client writes the puts (`watchSelfInflight` in flight) and watches them, in
 * one process — a service that both writes and watches, the whole client path on one CPU budget.
 */
async function watchSelf(d: Driver): Promise<Metrics> {
  await d.connect();
  const ev = new EventCounter(P.watchEvents);
  const h = await d.watch(job.prefix, true, ev.onValue, ev.onError);
  const cpu = new CpuMeter().start();
  const rss = new RssSampler().start(50);
  const n = P.watchEvents;
  const firstSendAt = nowNs();
  let next = 0;
  await Promise.all(
    Array.from({ length: P.watchSelfInflight }, async () => {
      while (next < n) {
        const i = next++;
        await d.put(`${job.prefix}${String(i).padStart(6, '0')}`, stampedValue(i));
      }
    }),
  );
  const lastAckAt = nowNs();
  await ev.wait();
  const c = cpu.stop();
  const r = rss.stop();
  await h.cancel().catch(() => {});
  ev.check();
  const spanS = (ev.lastEventAt - firstSendAt) / 1e9;
  return {
    events: ev.distinct,
    eventsPerSec: ev.distinct / spanS,
    writesPerSec: n / ((lastAckAt - firstSendAt) / 1e9),
    tailAfterLastAckMs: (ev.lastEventAt - lastAckAt) / 1e6,
    latP50Us: quantile(ev.lat, 0.5),
    latP99Us: quantile(ev.lat, 0.99),
    cpuPct: c.cpuPct,
    cpuMs: c.cpuMs,
    peakRssMB: r.peakMB,
  };
}

/**
 * The separate writer process of the watch workloads (always the bare http2 floor): single puts with
 * `watchWriterInflight` in flight, or (burst) transactions of `burstTxnOps` puts with `burstInflight` in flight.
 */
async function watchWriter(): Promise<Metrics> {
  const d = createWriter(job.endpoints);
  await d.connect();
  await send({ type: 'ready' });
  await fromParent('go');
  const n = P.watchEvents;
  const per = job.burst ? P.burstTxnOps : 1;
  const inflight = job.burst ? P.burstInflight : P.watchWriterInflight;
  const firstSendAt = nowNs();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inflight, Math.ceil(n / per)) }, async () => {
      while (next < n) {
        const from = next;
        next = Math.min(n, next + per);
        if (!job.burst) await d.put(`${job.prefix}${String(from).padStart(6, '0')}`, stampedValue(from));
        else {
          const entries = [];
          for (let i = from; i < next; i++) entries.push({ key: `${job.prefix}${String(i).padStart(6, '0')}`, value: stampedValue(i) });
          await d.txnPuts(entries);
        }
      }
    }),
  );
  const lastAckAt = nowNs();
  await d.close();
  return { firstSendAtNs: firstSendAt, lastAckAtNs: lastAckAt, writesPerSec: n / ((lastAckAt - firstSendAt) / 1e9) };
}

async function keepalive(d: Driver): Promise<Metrics> {
  await d.connect();
  const setupStart = nowNs();
  const g = await d.keepAlives(P.kaLeases, P.kaTtl);
  const setupMs = (nowNs() - setupStart) / 1e6;
  await send({ type: 'ready' });
  await fromParent('go');
  const failuresBefore = g.failures();
  const rss = new RssSampler().start(50);
  const cpu = new CpuMeter().start();
  await sleep(P.kaSeconds * 1000);
  const c = cpu.stop();
  const r = rss.stop();
  const failures = g.failures() - failuresBefore;
  // Stay idle until every contender of this round has measured, then clean up.
  await send({ type: 'ready' });
  await fromParent('finish');
  await withTimeout(g.revokeAll(), 60_000, 'revoking the leases').catch(() => {});
  if (failures > 0) throw new Error(`${failures} keepalive failures during the steady state`);
  return { cpuPct: c.cpuPct, cpuMs: c.cpuMs, wallMs: c.wallMs, rssAvgMB: r.avgMB, rssPeakMB: r.peakMB, setupMs, leases: g.count };
}

async function mem(d: Driver): Promise<Metrics> {
  if (!(globalThis as { gc?: unknown }).gc) throw new Error('run with --expose-gc');
  await d.connect();
  await d.get(keyOf(0));
  const base = await settledMemory();
  const t0 = nowNs();
  const watchers = await Promise.all(Array.from({ length: P.memWatchers }, (_, i) => d.watch(keyOf(i), false, () => {}, () => {})));
  const watchersMs = (nowNs() - t0) / 1e6;
  const afterWatchers = await settledMemory();
  const t1 = nowNs();
  const g = await d.keepAlives(P.memLeases, P.kaTtl);
  const leasesMs = (nowNs() - t1) / 1e6;
  // Let every keepalive refresh at least once, so their steady-state state is in place.
  await sleep((P.kaTtl * 1000) / 3 + 300);
  const afterAll = await settledMemory();
  await Promise.all(watchers.map((w) => w.cancel())).catch(() => {});
  await withTimeout(g.revokeAll(), 60_000, 'revoking the leases').catch(() => {});
  return {
    baseRssMB: base.rss,
    baseHeapMB: base.heap,
    watchersRssDeltaMB: afterWatchers.rss - base.rss,
    watchersHeapDeltaMB: afterWatchers.heap - base.heap,
    rssDeltaMB: afterAll.rss - base.rss,
    heapDeltaMB: afterAll.heap - base.heap,
    watchersSetupMs: watchersMs,
    leasesSetupMs: leasesMs,
  };
}

async function clients(): Promise<Metrics> {
  const key = keyOf(0);
  const setup = createDriver(job.contender, job.endpoints);
  await setup.put(key, VALUE);
  await setup.close();
  const base = await settledMemory();
  const rss = new RssSampler().start(50);
  const t0 = nowNs();
  const ds = Array.from({ length: P.clients }, () => createDriver(job.contender, job.endpoints));
  const lens = await Promise.all(ds.map((d) => d.get(key)));
  const t1 = nowNs();
  const m = process.memoryUsage();
  await Promise.all(ds.map((d) => d.close()));
  const t2 = nowNs();
  const r = rss.stop();
  if (lens.some((l) => l !== P.valueSize)) throw new Error('a get returned the wrong value');
  return {
    totalMs: (t2 - t0) / 1e6,
    createAndGetMs: (t1 - t0) / 1e6,
    closeMs: (t2 - t1) / 1e6,
    rssDeltaMB: m.rss / MB - base.rss,
    heapDeltaMB: m.heapUsed / MB - base.heap,
    peakRssDeltaMB: r.peakMB - base.rss,
  };
}

/**
 * list: one listing of the `listKeys` keys under the prefix (loaded by the orchestrator once per run), through
 * the library's own call. Time from the call to its result; peak RSS sampled every 20 ms and from the kernel.
 */
async function list(d: Driver): Promise<Metrics> {
  await d.connect();
  gc();
  const baseRss = process.memoryUsage.rss() / MB;
  const rss = new RssSampler().start(20);
  const cpu = new CpuMeter().start();
  const n = await d.list(job.prefix);
  const c = cpu.stop();
  const r = rss.stop();
  if (n !== P.listKeys) throw new Error(`listed ${n} keys, expected ${P.listKeys}`);
  const peak = Math.max(r.peakMB, maxRssMB());
  return { listMs: c.wallMs, cpuMs: c.cpuMs, keys: n, baseRssMB: baseRss, peakRssMB: peak, peakRssDeltaMB: peak - baseRss };
}

async function probe(d: Driver): Promise<Metrics> {
  const t0 = nowNs();
  await d.connect();
  await d.put(keyOf(0), VALUE);
  if ((await d.get(keyOf(0))) !== P.valueSize) throw new Error('probe: read back the wrong value');
  return { ms: (nowNs() - t0) / 1e6 };
}

// ---- main ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let d: Driver | undefined;
  try {
    let metrics: Metrics;
    if (job.kind === 'clients') metrics = await clients();
    else if (job.kind === 'watch-writer') metrics = await watchWriter();
    else {
      d = createDriver(job.contender, job.endpoints, { liftReceiveLimit: job.kind === 'list' && !job.defaultReceiveLimit });
      switch (job.kind) {
        case 'probe':
          metrics = await probe(d);
          break;
        case 'seq-put':
          metrics = await seqPut(d);
          break;
        case 'put-64':
          metrics = await throughput(d, 'put', 64);
          break;
        case 'put-256':
          metrics = await throughput(d, 'put', 256);
          break;
        case 'get-64':
          metrics = await throughput(d, 'get', 64);
          break;
        case 'get-256':
          metrics = await throughput(d, 'get', 256);
          break;
        case 'list':
          metrics = await list(d);
          break;
        case 'watch':
          metrics = await watch(d);
          break;
        case 'watch-self':
          metrics = await watchSelf(d);
          break;
        case 'keepalive':
          metrics = await keepalive(d);
          break;
        case 'mem':
          metrics = await mem(d);
          break;
        default:
          throw new Error(`unknown job ${String(job.kind)}`);
      }
    }
    if (d) await withTimeout(d.close(), 10_000, 'close').catch(() => {});
    await send({ type: 'result', metrics });
    process.exit(0);
  } catch (err) {
    const e = err as Error;
    await send({ type: 'error', message: e?.message ?? String(err), unsupported: e instanceof Unsupported });
    process.exit(1);
  }
}

void main();
