// The benchmark's own arithmetic: reading etcd's Go benchmark tool, the keys it writes, and the paired
// ratios with their spread (bench/gobench.ts, bench/rows.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { goPutKeys, parseGoReport } from '../../bench/gobench';
import type { Params } from '../../bench/protocol';
import { renderMarkdown } from '../../bench/report';
import { stability, summarize, type Results } from '../../bench/rows';

// The shape of the tool's output (etcd v3.7.0's pkg/report, --precise --sample), numbers made up.
const REPORT = `
Summary:
  Total:	10.004 secs.
  Slowest:	0.0271 secs.
  Fastest:	0.0006 secs.
  Average:	0.0062 secs.
  Stddev:	0.0034 secs.
  Requests/sec:	9836.25

Response time histogram:
  0.0006 [1]	|
  0.0271 [2]	|

Latency distribution:
  10% in 0.0025 secs.
  50% in 0.005645 secs.
  99% in 0.017951 secs.
  99.9% in 0.024067 secs.

Sample in one second (unix latency throughput):
UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT
1796403490,612.712µs,6.244512ms,27.128458ms,4000
1796403491,500µs,6ms,20ms,10000
1796403492,500µs,1.5ms,20ms,9000
`;

test('parseGoReport: Requests/sec, the 50 % and 99 % lines (not 99.9 %), and the per-second series', () => {
  const r = parseGoReport(REPORT);
  assert.is(r.rps, 9836.25);
  assert.is(Math.round(r.p50Us), 5645);
  assert.is(Math.round(r.p99Us), 17951);
  assert.is(Math.round(r.meanUs), 6200);
  assert.equal(r.perSecond, [4000, 10000, 9000]);
  assert.equal(r.perSecondLatencyUs.map(Math.round), [6245, 6000, 1500]);
});

test('parseGoReport: a report with errors or without a summary is refused', () => {
  assert.throws(() => parseGoReport('nothing here'), /Requests\/sec/);
  assert.throws(() => parseGoReport(`${REPORT}\nError distribution:\n  [3]\tetcdserver: too many requests\n`), /errors/);
});

test('goPutKeys: the 8-byte zig-zag varints Go binary.PutVarint writes', () => {
  const k = goPutKeys(65);
  assert.is(k.length, 65);
  assert.equal([...k[0]!], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal([...k[1]!], [2, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal([...k[63]!], [126, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal([...k[64]!], [0x80, 1, 0, 0, 0, 0, 0, 0]);
});

const cell = (m: Record<string, number>) => ({ ok: true as const, metrics: m });

test('summarize: medians with min–max, paired ratios with their spread, ours/floor against floor + prev_kv', () => {
  const results: Results = {
    'put-256': {
      'ours-http2': [cell({ opsPerSec: 10 }), cell({ opsPerSec: 20 }), cell({ opsPerSec: 30 })],
      etcd3: [cell({ opsPerSec: 5 }), cell({ opsPerSec: 5 }), cell({ opsPerSec: 20 })],
      http2: [cell({ opsPerSec: 100 }), cell({ opsPerSec: 100 }), cell({ opsPerSec: 100 })],
      'http2-prevkv': [cell({ opsPerSec: 10 }), cell({ opsPerSec: 10 }), cell({ opsPerSec: 10 })],
    },
  };
  const row = summarize(results, 3, { listKeys: 1, listValueSize: 1 } as Params).find((s) => s.row.id === 'put-256')!;
  const ours = row.byContender['ours-http2']!;
  assert.equal([ours.median, ours.min, ours.max], [20, 10, 30]);
  // per round 2, 4, 1.5: median 2, not 20/5
  assert.is(row.vsEtcd3['ours-http2'], 2);
  assert.equal(row.vsEtcd3Spread['ours-http2'], { min: 1.5, max: 4, rounds: 3 });
  assert.is(row.floor, 'http2-prevkv');
  assert.is(row.vsFloor['ours-http2'], 2);
  assert.is(row.verdict, 'PASS');
});

test('stability: both halves of every window, with the drift in percent', () => {
  const results: Results = { 'put-64': { etcd3: [cell({ opsPerSec: 1, firstHalf: 100, secondHalf: 125 }), cell({ opsPerSec: 1 })] } };
  const s = stability(results);
  assert.is(s.length, 1);
  assert.equal({ ...s[0]!, driftPct: Math.round(s[0]!.driftPct) }, { workload: 'put-64', contender: 'etcd3', round: 1, firstHalf: 100, secondHalf: 125, driftPct: 25 });
});

test('the Stability section counts windows within 10 % per contender and per round, with the median drift', () => {
  const h = (contender: 'etcd3' | 'http2', round: number, driftPct: number) => ({ workload: 'put-64' as const, contender, round, firstHalf: 100, secondHalf: 100 + driftPct, driftPct });
  const md = renderMarkdown([], {
    quick: false,
    title: 't',
    contenders: ['etcd3', 'http2'],
    skipped: {},
    machineLines: [],
    methodLines: [],
    notes: [],
    stability: [h('etcd3', 1, 2), h('etcd3', 2, -30), h('http2', 1, 4), h('http2', 2, 6)],
  });
  assert.ok(md.includes('1 of 4 windows have halves more than 10 % apart'));
  assert.ok(md.includes('| etcd3 | 1 of 2 (median 16.0 %) | 1 of 1 (median 2.0 %) | 0 of 1 (median 30.0 %) |'), md);
  assert.ok(md.includes('| http2 floor | 2 of 2 (median 5.0 %) |'));
  assert.ok(md.includes('| all | 3 of 4 (median 5.0 %) | 2 of 2 (median 3.0 %) | 1 of 2 (median 18.0 %) |'));
});

test.run();
