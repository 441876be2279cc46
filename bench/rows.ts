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
  { id: 'seq-put-p50', workload: 'seq-put', label: 'sequential put p50', unit: 'µs', metric: 'p50Us', better: 'lower', decimals: 0, target: { op: '<=', value: 0.7 } },
  { id: 'seq-put-p99', workload: 'seq-put', label: 'sequential put p99', unit: 'µs', metric: 'p99Us', better: 'lower', decimals: 0 },
  { id: 'seq-put-cpu', workload: 'seq-put', label: 'sequential put: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0 },
  { id: 'put-64', workload: 'put-64', label: 'put, 64 in flight', unit: 'ops/s', metric: 'opsPerSec', better: 'higher', decimals: 0, target: { op: '>=', value: 2.0 } },
  { id: 'put-64-cpuop', workload: 'put-64', label: 'put, 64 in flight: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0 },
  { id: 'put-256', workload: 'put-256', label: 'put, 256 in flight', unit: 'ops/s', metric: 'opsPerSec', better: 'higher', decimals: 0, target: { op: '>=', value: 2.0 } },
  { id: 'put-256-cpu', workload: 'put-256', label: 'put, 256 in flight: client CPU', unit: '%', metric: 'cpuPct', better: 'lower', decimals: 0 },
  { id: 'put-256-cpuop', workload: 'put-256', label: 'put, 256 in flight: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0 },
  { id: 'put-256-rss', workload: 'put-256', label: 'put, 256 in flight: peak RSS', unit: 'MB', metric: 'peakRssMB', better: 'lower', decimals: 1, target: { op: '<=', value: 0.7 } },
  { id: 'put-256-rss-delta', workload: 'put-256', label: 'put, 256 in flight: peak RSS over idle client', unit: 'MB', metric: 'peakRssDeltaMB', better: 'lower', decimals: 1 },
  { id: 'get-64', workload: 'get-64', label: 'get, 64 in flight', unit: 'ops/s', metric: 'opsPerSec', better: 'higher', decimals: 0, target: { op: '>=', value: 1.5 } },
  { id: 'get-64-cpuop', workload: 'get-64', label: 'get, 64 in flight: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0 },
  { id: 'get-256', workload: 'get-256', label: 'get, 256 in flight', unit: 'ops/s', metric: 'opsPerSec', better: 'higher', decimals: 0, target: { op: '>=', value: 1.5 } },
  { id: 'get-256-cpuop', workload: 'get-256', label: 'get, 256 in flight: client CPU per op', unit: 'µs', metric: 'cpuUsPerOp', better: 'lower', decimals: 0 },
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
  perRound: number[];
  okRounds: number;
  failedRounds: number;
  unsupported?: string;
  errors: string[];
}

export interface RowSummary {
  row: RowDef;
  byContender: Partial<Record<ContenderName, ContenderSummary>>;
  /** Median over rounds of the per-round ratio contender/etcd3 (and contender/http2 floor). */
  vsEtcd3: Partial<Record<ContenderName, number>>;
  vsFloor: Partial<Record<ContenderName, number>>;
  /** Our best transport for this row (eligible: no failed round), its ratio, and the verdict. */
  best?: { contender: ContenderName; ratio: number };
  verdict?: 'PASS' | 'FAIL' | 'n/a';
  /** Why the verdict is n/a although there are numbers. */
  verdictNote?: string;
}

export const OURS: ContenderName[] = ['ours', 'ours-http2'];

function pairedRatio(a: number[], b: number[]): number {
  const r: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] !== 0) r.push(a[i]! / b[i]!);
  }
  return median(r);
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
      byContender[c] = { median: median(perRound), perRound, okRounds, failedRounds, unsupported, errors };
    }
    const vsEtcd3: RowSummary['vsEtcd3'] = {};
    const vsFloor: RowSummary['vsFloor'] = {};
    for (const c of CONTENDERS) {
      const s = byContender[c];
      if (!s) continue;
      if (byContender.etcd3) vsEtcd3[c] = pairedRatio(s.perRound, byContender.etcd3.perRound);
      if (byContender.http2) vsFloor[c] = pairedRatio(s.perRound, byContender.http2.perRound);
    }
    const summary: RowSummary = { row, byContender, vsEtcd3, vsFloor };
    if (row.target) {
      let best: RowSummary['best'];
      for (const c of OURS) {
        const s = byContender[c];
        const ratio = vsEtcd3[c];
        if (!s || s.okRounds === 0 || s.failedRounds > 0 || ratio === undefined || !Number.isFinite(ratio)) continue;
        const better = !best || (row.better === 'higher' ? ratio > best.ratio : ratio < best.ratio);
        if (better) best = { contender: c, ratio };
      }
      summary.best = best;
      if (!best) {
        const anyOurs = OURS.some((c) => byContender[c] && byContender[c]!.okRounds + byContender[c]!.failedRounds > 0);
        summary.verdict = anyOurs && byContender.etcd3?.okRounds ? 'FAIL' : 'n/a';
      } else {
        summary.verdict = (row.target.op === '>=' ? best.ratio >= row.target.value : best.ratio <= row.target.value) ? 'PASS' : 'FAIL';
        if (row.boundBy && keptUp(w, best.contender, row, rounds) && keptUp(w, 'etcd3', row, rounds)) {
          summary.verdict = 'n/a';
          summary.verdictNote = 'writer-bound: both kept up with the writer';
        }
      }
    }
    out.push(summary);
  }
  return out;
}
