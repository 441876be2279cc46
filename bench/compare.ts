// Compares the headline ratios of two benchmark runs (their latest.json): does each ratio survive a re-run
// within ±10 %?
//
//   npm run bench -- --out /tmp/run-a && npm run bench -- --out /tmp/run-b
//   npx tsx bench/compare.ts /tmp/run-a/latest.json /tmp/run-b/latest.json

import * as fs from 'node:fs';

interface SummaryRow {
  id: string;
  label: string;
  target?: unknown;
  floorTarget?: unknown;
  vsEtcd3: Record<string, number | null>;
  vsFloor?: Record<string, number | null>;
}

const [fa, fb] = process.argv.slice(2);
if (!fa || !fb) {
  console.error('usage: npx tsx bench/compare.ts A/latest.json B/latest.json');
  process.exit(2);
}
interface Half {
  driftPct: number;
}
const read = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as { summary: SummaryRow[]; stability?: Half[] };
const runA = read(fa);
const runB = read(fb);
const a = runA.summary;
const b = new Map(runB.summary.map((r) => [r.id, r]));

const lines: string[] = [];
let off = 0;
let compared = 0;
const fmt = (v: number | null | undefined) => (typeof v === 'number' ? `${v.toFixed(2)}×` : '–');
for (const ra of a) {
  if (!ra.target && !ra.floorTarget) continue;
  const rb = b.get(ra.id);
  if (!rb) continue;
  const pairs: [string, number | null | undefined, number | null | undefined][] = [];
  for (const c of ['ours-http2', 'ours']) {
    if (ra.target) pairs.push([`${c}/etcd3`, ra.vsEtcd3[c], rb.vsEtcd3[c]]);
    if (ra.floorTarget) pairs.push([`${c}/floor`, ra.vsFloor?.[c], rb.vsFloor?.[c]]);
  }
  for (const [what, x, y] of pairs) {
    if (typeof x !== 'number' || typeof y !== 'number') continue;
    const d = 100 * (y / x - 1);
    compared++;
    if (Math.abs(d) > 10) off++;
    lines.push(`${ra.label.padEnd(48)} ${what.padEnd(18)} ${fmt(x).padStart(7)} ${fmt(y).padStart(7)}  ${d >= 0 ? '+' : ''}${d.toFixed(1)} %${Math.abs(d) > 10 ? '  ✘ beyond ±10 %' : ''}`);
  }
}
console.log(`${'row'.padEnd(48)} ${'ratio'.padEnd(18)} ${'run A'.padStart(7)} ${'run B'.padStart(7)}  change`);
console.log(lines.join('\n'));
console.log(`\n${compared - off} of ${compared} headline ratios within ±10 % of the first run`);
const steady = (st: Half[] | undefined) => (st?.length ? `${st.filter((h) => Math.abs(h.driftPct) <= 10).length} of ${st.length}` : '–');
console.log(`timed windows whose halves are within 10 % of each other: run A ${steady(runA.stability)}, run B ${steady(runB.stability)}`);
process.exit(off > 0 ? 1 : 0);
