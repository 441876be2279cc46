// What is reported: one row per metric, with how to read it and the target it is held to.
import { CONTENDERS, type ContenderName } from './drivers';
import type { Metrics, Params, WorkloadId } from './protocol';
import { median } from './stats';

export interface Target {
  /** ours/etcd3 must be >= (higher is better) or <= (lower is better) this. */
  op: '>=' | '<=';
  value: number;
}

export interface RowDef {
  id: string;
  workload: WorkloadId;
  label: string;
  unit: string;
  metric: string;
  better: 'higher' | 'lower';
  decimals: number;
  target?: Target;
  /** A target held against the floor + prev_kv (ours/floor), e.g. CPU per put. */
  floorTarget?: Target;
  /** Extra condition of the target, described in the report. */
  targetNote?: string;
  /**
   * A metric of the same cell that caps this one (the watch writer's rate). When our best transport and etcd3
   * both reached it (≥ 95 % in the median round), the ratio says nothing about the clients: verdict n/a.
   */
  boundBy?: string;
}

/**
 * The rows of one watch workload: events/s (held to the target), put→event latency, client CPU and, when a
 * separate writer sets the pace, the writer's rate (which then bounds the verdict).
 */
function watchRows(workload: WorkloadId, name: string, o: { p99: boolean; writer?: string }): RowDef[] {
  const rows: RowDef[] = [
    {
      id: workload,
      workload,
      label: `${name}: events delivered`,
      unit: 'ev/s',
      metric: 'eventsPerSec',
      better: 'higher',
      decimals: 0,
      target: { op: '>=', value: 1.7 },
      targetNote: 'and every event delivered in every round',
      ...(o.writer !== undefined ? { boundBy: 'writesPerSec' } : {}),
    },
    { id: `${workload}-p50`, workload, label: `${name}: put→event p50`, unit: 'µs', metric: 'latP50Us', better: 'lower', decimals: 0 },
  ];
  if (o.p99) rows.push({ id: `${workload}-p99`, workload, label: `${name}: put→event p99`, unit: 'µs', metric: 'latP99Us', better: 'lower', decimals: 0 });
  rows.push({ id: `${workload}-cpu`, workload, label: `${name}: client CPU time`, unit: 'ms', metric: 'cpuMs', better: 'lower', decimals: 0 });
  if (o.writer !== undefined) {
    rows.push({ id: `${workload}-writer`, workload, label: `${name}: ${o.writer}`, unit: 'puts/s', metric: 'writesPerSec', better: 'higher', decimals: 0 });
  }
  return rows;
}

export const ROWS: RowDef[] = [
  { id: 'seq-put-p50', workload: 'seq-put', label: 'sequential put p50', unit: 'µs', metric: 'p50Us', better: 'lower', decimals: 0, target: { op: '<=', value: 0.6 } },
  { id: 'seq-put-p99', workload: 'seq-put', label: 'sequential put p99', unit: 'µs', metric: 'p99Us', better: 'lower', decimals: 0 },
  { id: 'seq-put-cpu', workload: 'seq-put', label: 'sequential put: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0 },
  { id: 'put-64', workload: 'put-64', label: 'put, 64 in flight', unit: 'ops/s', metric: 'opsPerSec', better: 'higher', decimals: 0, target: { op: '>=', value: 2.0 } },
  { id: 'put-64-cpuop', workload: 'put-64', label: 'put, 64 in flight: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0, floorTarget: { op: '<=', value: 1.15 } },
  { id: 'put-256', workload: 'put-256', label: 'put, 256 in flight', unit: 'ops/s', metric: 'opsPerSec', better: 'higher', decimals: 0, target: { op: '>=', value: 2.0 } },
  { id: 'put-256-cpu', workload: 'put-256', label: 'put, 256 in flight: client CPU', unit: '%', metric: 'cpuPct', better: 'lower', decimals: 0 },
  { id: 'put-256-cpuop', workload: 'put-256', label: 'put, 256 in flight: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0, floorTarget: { op: '<=', value: 1.15 } },
  { id: 'put-256-rss', workload: 'put-256', label: 'put, 256 in flight: peak RSS', unit: 'MB', metric: 'peakRssMB', better: 'lower', decimals: 1, floorTarget: { op: '<=', value: 1.1 } },
  { id: 'put-256-rss-delta', workload: 'put-256', label: 'put, 256 in flight: peak RSS over idle client', unit: 'MB', metric: 'peakRssDeltaMB', better: 'lower', decimals: 1 },
  { id: 'get-64', workload: 'get-64', label: 'get, 64 in flight', unit: 'ops/s', metric: 'opsPerSec', better: 'higher', decimals: 0, target: { op: '>=', value: 1.5 } },
  { id: 'get-64-cpuop', workload: 'get-64', label: 'get, 64 in flight: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0 },
  { id: 'get-256', workload: 'get-256', label: 'get, 256 in flight', unit: 'ops/s', metric: 'opsPerSec', better: 'higher', decimals: 0, target: { op: '>=', value: 1.5 } },
  { id: 'get-256-cpuop', workload: 'get-256', label: 'get, 256 in flight: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0 },
  { id: 'list-time', workload: 'list', label: 'list {listKeys} keys × {listValueSize} B: time', unit: 'ms', metric: 'listMs', better: 'lower', decimals: 0 },
  { id: 'list-rss', workload: 'list', label: 'list {listKeys} keys × {listValueSize} B: client peak RSS', unit: 'MB', metric: 'peakRssMB', better: 'lower', decimals: 1 },
  ...watchRows('watch', 'watch', { p99: true, writer: 'writer rate (http2 floor)' }),
  ...watchRows('watch-self', 'watch, own writes', { p99: false }),
  ...watchRows('watch-burst', 'watch, burst writes', { p99: true, writer: 'writer rate' }),
  { id: 'keepalive-cpu', workload: 'keepalive', label: 'keepalive ×{kaLeases}: client CPU', unit: '%', metric: 'cpuPct', better: 'lower', decimals: 2, target: { op: '<=', value: 0.4 } },
  { id: 'keepalive-rss', workload: 'keepalive', label: 'keepalive ×{kaLeases}: RSS', unit: 'MB', metric: 'rssAvgMB', better: 'lower', decimals: 1 },
  { id: 'keepalive-setup', workload: 'keepalive', label: 'keepalive ×{kaLeases}: setup', unit: 'ms', metric: 'setupMs', better: 'lower', decimals: 0 },
  { id: 'mem-watchers-rss', workload: 'mem', label: '{memWatchers} watchers: RSS Δ', unit: 'MB', metric: 'watchersRssDeltaMB', better: 'lower', decimals: 1 },
  { id: 'mem-watchers-heap', workload: 'mem', label: '{memWatchers} watchers: heap Δ', unit: 'MB', metric: 'watchersHeapDeltaMB', better: 'lower', decimals: 1 },
  { id: 'mem-rss', workload: 'mem', label: '{memWatchers} watchers + {memLeases} keepalives: RSS Δ', unit: 'MB', metric: 'rssDeltaMB', better: 'lower', decimals: 1 },
  { id: 'mem-heap', workload: 'mem', label: '{memWatchers} watchers + {memLeases} keepalives: heap Δ', unit: 'MB', metric: 'heapDeltaMB', better: 'lower', decimals: 1 },
  { id: 'clients-time', workload: 'clients', label: '{clients} clients: create, get, close', unit: 'ms', metric: 'totalMs', better: 'lower', decimals: 0 },
  { id: 'clients-rss', workload: 'clients', label: '{clients} clients: RSS Δ (all open)', unit: 'MB', metric: 'rssDeltaMB', better: 'lower', decimals: 1 },
  { id: 'clients-heap', workload: 'clients', label: '{clients} clients: heap Δ (all open)', unit: 'MB', metric: 'heapDeltaMB', better: 'lower', decimals: 1 },
];

/** One job's outcome in one round. */
export type Cell = { ok: true; metrics: Metrics } | { ok: false; error: string; unsupported: boolean };

/** results[workload][contender][round] */
export type Results = Partial<Record<WorkloadId, Partial<Record<ContenderName, (Cell | undefined)[]>>>>;

export interface ContenderSummary {
  median: number;
  min: number;
  max: number;
  perRound: number[];
  okRounds: number;
  failedRounds: number;
  unsupported?: string;
  errors: string[];
}

export interface RowSummary {
  row: RowDef;
  byContender: Partial<Record<ContenderName, ContenderSummary>>;
  /** Median over rounds of the per-round ratio contender/etcd3 (and contender/floor), with its spread. */
  vsEtcd3: Partial<Record<ContenderName, number>>;
  vsEtcd3Spread: Partial<Record<ContenderName, Spread>>;
  vsFloor: Partial<Record<ContenderName, number>>;
  vsFloorSpread: Partial<Record<ContenderName, Spread>>;
  /** `--baseline`: the paired ratio ours-http2 / ours-base (the same client before the change), with its spread. */
  vsBase?: number;
  vsBaseSpread?: Spread;
  /** The floor the vsFloor ratios divide by: floor + prev_kv when it ran, else the bare http2 floor. */
  floor?: ContenderName;
  /** Our best transport for this row (eligible: no failed round), its ratio, and the verdict. */
  best?: { contender: ContenderName; ratio: number };
  verdict?: 'PASS' | 'FAIL' | 'n/a';
  /** Why the verdict is n/a although there are numbers. */
  verdictNote?: string;
  /** The same for `floorTarget` (ours/floor). */
  floorBest?: { contender: ContenderName; ratio: number };
  floorVerdict?: 'PASS' | 'FAIL' | 'n/a';
}

/** The smallest and largest per-round paired ratio. */
export interface Spread {
  min: number;
  max: number;
  rounds: number;
}

export const OURS: ContenderName[] = ['ours', 'ours-http2'];

/** The per-round ratios a[r]/b[r] of the rounds where both have a number. */
function pairedRatios(a: number[], b: number[]): number[] {
  const r: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] !== 0) r.push(a[i]! / b[i]!);
  }
  return r;
}

function spreadOf(r: number[]): Spread {
  return { min: r.length ? Math.min(...r) : NaN, max: r.length ? Math.max(...r) : NaN, rounds: r.length };
}

/** Our best transport for a target (eligible: no failed round) and whether it meets the target. */
function judge(
  row: RowDef,
  target: Target,
  byContender: RowSummary['byContender'],
  ratios: Partial<Record<ContenderName, number>>,
  reference: ContenderName | undefined,
): { best?: { contender: ContenderName; ratio: number }; verdict: 'PASS' | 'FAIL' | 'n/a' } {
  let best: { contender: ContenderName; ratio: number } | undefined;
  for (const c of OURS) {
    const s = byContender[c];
    const ratio = ratios[c];
    if (!s || s.okRounds === 0 || s.failedRounds > 0 || ratio === undefined || !Number.isFinite(ratio)) continue;
    const better = !best || (row.better === 'higher' ? ratio > best.ratio : ratio < best.ratio);
    if (better) best = { contender: c, ratio };
  }
  if (!best) {
    const anyOurs = OURS.some((c) => byContender[c] && byContender[c]!.okRounds + byContender[c]!.failedRounds > 0);
    return { verdict: anyOurs && reference && byContender[reference]?.okRounds ? 'FAIL' : 'n/a' };
  }
  return { best, verdict: (target.op === '>=' ? best.ratio >= target.value : best.ratio <= target.value) ? 'PASS' : 'FAIL' };
}

/** Median over rounds of metric / boundBy is at least 95 %: the contender kept up with what was offered. */
function keptUp(w: Partial<Record<ContenderName, (Cell | undefined)[]>>, c: ContenderName, row: RowDef, rounds: number): boolean {
  const fractions: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const cell = w[c]?.[r];
    if (cell?.ok) fractions.push((cell.metrics[row.metric] ?? NaN) / (cell.metrics[row.boundBy!] ?? NaN));
  }
  return median(fractions) >= 0.95;
}

/** `{name}` in a label becomes that parameter's value. */
function fillLabel(label: string, params: Params): string {
  return label.replace(/\{(\w+)\}/g, (_, k: string) => String((params as unknown as Record<string, unknown>)[k] ?? k));
}

export function summarize(results: Results, rounds: number, params: Params): RowSummary[] {
  const out: RowSummary[] = [];
  for (const def of ROWS) {
    const row = { ...def, label: fillLabel(def.label, params) };
    const w = results[row.workload];
    if (!w) continue;
    const byContender: RowSummary['byContender'] = {};
    for (const c of CONTENDERS) {
      const cells = w[c];
      if (!cells) continue;
      const perRound: number[] = [];
      const errors: string[] = [];
      let okRounds = 0;
      let failedRounds = 0;
      let unsupported: string | undefined;
      for (let r = 0; r < rounds; r++) {
        const cell = cells[r];
        if (!cell) {
          perRound.push(NaN);
          continue;
        }
        if (cell.ok) {
          const v = cell.metrics[row.metric];
          perRound.push(typeof v === 'number' ? v : NaN);
          okRounds++;
        } else {
          perRound.push(NaN);
          if (cell.unsupported) unsupported = cell.error;
          else {
            failedRounds++;
            errors.push(`round ${r + 1}: ${cell.error}`);
          }
        }
      }
      const finite = perRound.filter(Number.isFinite);
      byContender[c] = {
        median: median(perRound),
        min: finite.length ? Math.min(...finite) : NaN,
        max: finite.length ? Math.max(...finite) : NaN,
        perRound,
        okRounds,
        failedRounds,
        unsupported,
        errors,
      };
    }
    const floor: ContenderName | undefined = byContender['http2-prevkv']?.okRounds ? 'http2-prevkv' : byContender.http2 ? 'http2' : undefined;
    const vsEtcd3: RowSummary['vsEtcd3'] = {};
    const vsEtcd3Spread: RowSummary['vsEtcd3Spread'] = {};
    const vsFloor: RowSummary['vsFloor'] = {};
    const vsFloorSpread: RowSummary['vsFloorSpread'] = {};
    for (const c of CONTENDERS) {
      const s = byContender[c];
      if (!s) continue;
      if (byContender.etcd3) {
        const r = pairedRatios(s.perRound, byContender.etcd3.perRound);
        vsEtcd3[c] = median(r);
        vsEtcd3Spread[c] = spreadOf(r);
      }
      if (floor) {
        const r = pairedRatios(s.perRound, byContender[floor]!.perRound);
        vsFloor[c] = median(r);
        vsFloorSpread[c] = spreadOf(r);
      }
    }
    const summary: RowSummary = { row, byContender, vsEtcd3, vsEtcd3Spread, vsFloor, vsFloorSpread, ...(floor ? { floor } : {}) };
    if (byContender['ours-http2'] && byContender['ours-base']) {
      const r = pairedRatios(byContender['ours-http2'].perRound, byContender['ours-base'].perRound);
      summary.vsBase = median(r);
      summary.vsBaseSpread = spreadOf(r);
    }
    if (row.target) {
      const j = judge(row, row.target, byContender, vsEtcd3, 'etcd3');
      if (j.best) summary.best = j.best;
      summary.verdict = j.verdict;
      if (j.best && row.boundBy && keptUp(w, j.best.contender, row, rounds) && keptUp(w, 'etcd3', row, rounds)) {
        summary.verdict = 'n/a';
        summary.verdictNote = 'writer-bound: both kept up with the writer';
      }
    }
    if (row.floorTarget) {
      const j = judge(row, row.floorTarget, byContender, vsFloor, floor);
      if (j.best) summary.floorBest = j.best;
      summary.floorVerdict = j.verdict;
    }
    out.push(summary);
  }
  return out;
}

/** One window's two halves (ops/s, or p50 µs for sequential put), for the stability check. */
export interface HalfCheck {
  workload: WorkloadId;
  contender: ContenderName;
  round: number;
  firstHalf: number;
  secondHalf: number;
  /** (second − first) / first, in percent. */
  driftPct: number;
}

/** Every timed window's halves, in workload, contender, round order. */
export function stability(results: Results): HalfCheck[] {
  const out: HalfCheck[] = [];
  for (const [w, byC] of Object.entries(results) as [WorkloadId, Results[WorkloadId]][]) {
    for (const c of CONTENDERS) {
      byC?.[c]?.forEach((cell, r) => {
        if (!cell?.ok || cell.metrics['firstHalf'] === undefined) return;
        const a = cell.metrics['firstHalf']!;
        const b = cell.metrics['secondHalf']!;
        out.push({ workload: w, contender: c, round: r + 1, firstHalf: a, secondHalf: b, driftPct: 100 * (b / a - 1) });
      });
    }
  }
  return out;
}
