// etcd's own benchmark tool (`tools/benchmark` of etcd's root Go module) as a contender: the fastest etcd
// client there is (Go, grpc-go), run as a process of its own in the same rounds as the Node contenders.
//
// How its numbers map onto ours. The tool sends a fixed number of requests (`--total`), not for a duration,
// and prints a summary: Requests/sec (total / wall time of the run), mean, stddev and percentiles of each
// request's latency. So each measured run is preceded by a calibration run of `warmup` seconds' worth of
// requests at a guessed rate, whose Requests/sec sets `--total` for a window of the same length as ours.
//   - put-N / get-N:  --clients N --conns 1 (N requests in flight over one connection, as our lanes over one
//     client); ops/s = Requests/sec; --sample gives requests per second of the run, from which the halves of
//     the window are taken.
//   - seq-put:        --clients 1 --conns 1; p50/p99 = its 50 % / 99 % latency lines.
//   - put:            --val-size 256 --key-space-size 1000 --sequential-keys: 1,000 distinct keys cycled, as
//     ours; its keys are 8-byte varints at the root of the keyspace (deleted afterwards), without prev_kv.
//   - get:            `range KEY` of one of the prefilled keys (linearizable), where ours cycles over 1,000.
//   - client CPU and peak RSS come from /usr/bin/time (user+sys of the measured run, max RSS).

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Metrics, Params } from './protocol';

export type GoWorkload = 'seq-put' | 'put-64' | 'put-256' | 'get-64' | 'get-256';

export function isGoWorkload(w: string): w is GoWorkload {
  return w === 'seq-put' || w === 'put-64' || w === 'put-256' || w === 'get-64' || w === 'get-256';
}

/**
 * The tool's path: ETCD_BENCHMARK_BIN, else what `npm run -s etcd:bin -- benchmark` prints (when the script
 * exists), else the cache path that script uses for the version pinned in etcd/versions.json. Throws why not.
 */
export function findGoBenchmark(repoRoot: string): string {
  const env = process.env['ETCD_BENCHMARK_BIN'];
  if (env) {
    if (!fs.existsSync(env)) throw new Error(`ETCD_BENCHMARK_BIN=${env} does not exist`);
    return env;
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  if (pkg.scripts?.['etcd:bin']) {
    try {
      const out = execFileSync('npm', ['run', '-s', 'etcd:bin', '--', 'benchmark'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15 * 60_000 }).trim();
      const bin = out.split('\n').pop()!.trim();
      if (bin && fs.existsSync(bin)) return bin;
    } catch (err) {
      throw new Error(`npm run etcd:bin -- benchmark failed: ${String((err as { stderr?: string }).stderr ?? err).trim().split('\n').slice(-1)[0]}`);
    }
  }
  const versions = JSON.parse(fs.readFileSync(path.join(repoRoot, 'etcd', 'versions.json'), 'utf8')) as { benchmark?: { version?: string } };
  const v = versions.benchmark?.version;
  const cached = path.join(os.homedir(), '.cache', 'etcd-apiv3', `benchmark-v${v}`, 'benchmark');
  if (v && fs.existsSync(cached)) return cached;
  throw new Error(`etcd's Go benchmark tool not found (no ETCD_BENCHMARK_BIN, no ${cached}); it needs Go to build`);
}

interface RunResult {
  rps: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  total: number;
  /** Requests completed in each second of the run, and their mean latency in µs (from --sample). */
  perSecond: number[];
  perSecondLatencyUs: number[];
  cpuMs: number;
  wallMs: number;
  maxRssMB: number;
}

const secs = (line: string | undefined) => (line ? Number(line.match(/([\d.]+) secs/)?.[1]) * 1e6 : NaN);

/** Parses the tool's summary (and, with --sample, its per-second series). */
export function parseGoReport(out: string): Omit<RunResult, 'cpuMs' | 'wallMs' | 'maxRssMB' | 'total'> {
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
  if (!Number.isFinite(rps)) throw new Error(`no Requests/sec in the tool's output: ${out.slice(-300)}`);
  const lines = out.split('\n');
  const pct = (p: string) => secs(lines.find((l) => l.trim().startsWith(`${p}% in`)));
  const errors = out.match(/Error distribution:\n([\s\S]*?)(\n\n|$)/)?.[1];
  if (errors?.trim()) throw new Error(`the tool reported errors: ${errors.trim().split('\n').slice(0, 3).join(' | ')}`);
  const perSecond: number[] = [];
  const perSecondLatencyUs: number[] = [];
  const sampleAt = out.indexOf('Sample in one second');
  if (sampleAt >= 0) {
    // CSV: UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT (requests in that second)
    for (const l of out.slice(sampleAt).split('\n')) {
      const f = l.trim().split(',');
      if (f.length === 5 && /^\d+$/.test(f[0]!)) {
        perSecond.push(Number(f[4]));
        perSecondLatencyUs.push(goDurationUs(f[2]!));
      }
    }
  }
  return { rps, p50Us: pct('50'), p99Us: pct('99'), meanUs: secs(lines.find((l) => l.trim().startsWith('Average:'))), perSecond, perSecondLatencyUs };
}

/** A Go duration as printed by time.Duration.String() ("612.712µs", "6.2ms", "1.5s", "800ns"), in µs. */
function goDurationUs(d: string): number {
  const m = /^([\d.]+)(ns|µs|us|ms|s)$/.exec(d.trim());
  if (!m) return NaN;
  const scale = { ns: 1e-3, µs: 1, us: 1, ms: 1e3, s: 1e6 }[m[2] as 'ns' | 'µs' | 'us' | 'ms' | 's'];
  return Number(m[1]) * scale;
}

function runTool(bin: string, args: string[], timeoutMs: number): Promise<RunResult> {
  const timeBin = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  const marker = '@@bench-time@@';
  const [cmd, argv] = timeBin ? [timeBin, ['-f', `${marker} %U %S %e %M`, bin, ...args]] : [bin, args];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`benchmark ${args[0]} exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      try {
        const r = parseGoReport(out);
        // The tool's progress bar shares stderr (without a final newline): find the marker anywhere.
        const t = err.match(new RegExp(`${marker} ([\\d.]+) ([\\d.]+) ([\\d.]+) (\\d+)`));
        const cpuMs = t ? (Number(t[1]) + Number(t[2])) * 1000 : NaN;
        resolve({ ...r, total: 0, cpuMs, wallMs: t ? Number(t[3]) * 1000 : wallMs, maxRssMB: t ? Number(t[4]) / 1024 : NaN });
      } catch (e) {
        reject(e);
      }
    });
  });
}

function commonArgs(endpoints: string[], inflight: number): string[] {
  return [`--endpoints=${endpoints.map((e) => new URL(e).host).join(',')}`, `--clients=${inflight}`, '--conns=1', '--precise', '--sample'];
}

function workloadArgs(w: GoWorkload, p: Params, getKey: string, total: number): string[] {
  if (w.startsWith('get-')) return ['range', getKey, `--total=${total}`, '--consistency=l'];
  return ['put', `--total=${total}`, `--val-size=${p.valueSize}`, '--key-size=8', `--key-space-size=${p.tpKeys}`, '--sequential-keys'];
}

/** The keys the tool's put writes (8-byte zig-zag varints of 0..n-1, zero-padded), to delete afterwards. */
export function goPutKeys(n: number): Buffer[] {
  const keys: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const k = Buffer.alloc(8);
    let v = i * 2; // zig-zag of a non-negative number
    let j = 0;
    do {
      k[j++] = (v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
      v = Math.floor(v / 128);
    } while (v > 0);
    keys.push(k);
  }
  return keys;
}

/**
 * One job: a calibration run of about `tpWarmupSeconds` (also the tool's warm-up: connection, server caches),
 * then the measured run sized to `tpSeconds` at the calibrated rate.
 */
export async function runGoJob(bin: string, w: GoWorkload, endpoints: string[], p: Params, getKey: string): Promise<Metrics> {
  const inflight = w === 'seq-put' ? 1 : Number(w.split('-')[1]);
  const guess = w === 'seq-put' ? 1000 : 5000;
  const cal = await runTool(bin, [...workloadArgs(w, p, getKey, Math.max(200, Math.round(guess * p.tpWarmupSeconds))), ...commonArgs(endpoints, inflight)], 120_000);
  const total = Math.max(500, Math.round(cal.rps * p.tpSeconds));
  const r = await runTool(bin, [...workloadArgs(w, p, getKey, total), ...commonArgs(endpoints, inflight)], 60_000 + p.tpSeconds * 10_000);
  // Halves from the per-second series: whole seconds only (the series is by wall-clock second, so the first
  // and the last are partial).
  // Sequential put: the seconds' mean latency (ours compares the halves' p50); otherwise requests per second.
  const secsFull = (w === 'seq-put' ? r.perSecondLatencyUs : r.perSecond).slice(1, -1);
  const h = Math.floor(secsFull.length / 2);
  const avg = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
  const m: Metrics = {
    opsPerSec: r.rps,
    ops: total,
    p50Us: r.p50Us,
    p99Us: r.p99Us,
    meanUs: r.meanUs,
    cpuMs: r.cpuMs,
    cpuPct: (100 * r.cpuMs) / r.wallMs,
    cpuUsPerOp: (r.cpuMs * 1000) / total,
    peakRssMB: r.maxRssMB,
    windowSeconds: total / r.rps,
    calibrationOpsPerSec: cal.rps,
  };
  if (h >= 1) {
    m['firstHalf'] = avg(secsFull.slice(0, h));
    m['secondHalf'] = avg(secsFull.slice(h, 2 * h));
  }
  return m;
}
