// Rendering: the stdout table, bench/results/latest.md and the hand-written SVG chart.
import { CONTENDER_LABEL, type ContenderName } from './drivers';
import type { HalfCheck, RowSummary, Spread } from './rows';

export interface ReportContext {
  quick: boolean;
  title: string;
  contenders: ContenderName[];
  skipped: Partial<Record<ContenderName, string>>;
  machineLines: string[];
  methodLines: string[];
  notes: string[];
  stability: HalfCheck[];
}

export function fmtNum(v: number | undefined, decimals: number): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function fmtRatio(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return `${v.toFixed(2)}×`;
}

function cellText(s: RowSummary, c: ContenderName, skipped: ReportContext['skipped']): string {
  if (skipped[c]) return 'skipped';
  const x = s.byContender[c];
  if (!x) return '–';
  if (x.unsupported && x.okRounds === 0) return 'n/a';
  if (x.okRounds === 0) return x.failedRounds ? 'FAIL' : '–';
  const range = x.okRounds > 1 ? ` (${fmtNum(x.min, s.row.decimals)}–${fmtNum(x.max, s.row.decimals)})` : '';
  return fmtNum(x.median, s.row.decimals) + range + (x.failedRounds ? '*' : '');
}

/** A paired ratio's median with the smallest and largest per-round ratio. */
function ratioText(v: number | undefined, spread: Spread | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return spread && spread.rounds > 1 ? `${fmtRatio(v)} (${spread.min.toFixed(2)}–${spread.max.toFixed(2)})` : fmtRatio(v);
}

function targetText(s: RowSummary): string {
  const parts: string[] = [];
  const t = s.row.target;
  if (t) parts.push(`${t.op === '>=' ? '≥' : '≤'} ${t.value.toFixed(1)}× etcd3`);
  const f = s.row.floorTarget;
  if (f) parts.push(`${f.op === '>=' ? '≥' : '≤'} ${f.value.toFixed(2)}× floor`);
  return parts.join(', ');
}

function verdictText(s: RowSummary): string {
  const parts: string[] = [];
  if (s.verdict) {
    if (!s.best) parts.push(s.verdict);
    else {
      const which = `${s.best.contender === 'ours' ? 'grpc-js' : 'http2'} ${fmtRatio(s.best.ratio)}`;
      parts.push(s.verdictNote ? `${s.verdict} (${which}; ${s.verdictNote})` : `${s.verdict} (${which})`);
    }
  }
  if (s.floorVerdict) {
    parts.push(s.floorBest ? `${s.floorVerdict} (${s.floorBest.contender === 'ours' ? 'grpc-js' : 'http2'} ${fmtRatio(s.floorBest.ratio)} of floor)` : s.floorVerdict);
  }
  return parts.join('; ');
}

interface Column {
  head: string;
  get: (s: RowSummary) => string;
  left?: boolean;
}

function columns(ctx: ReportContext): Column[] {
  const cols: Column[] = [{ head: 'workload', get: (s) => `${s.row.label} [${s.row.unit}]`, left: true }];
  for (const c of ctx.contenders) cols.push({ head: CONTENDER_LABEL[c], get: (s) => cellText(s, c, ctx.skipped) });
  const has = (c: ContenderName) => ctx.contenders.includes(c) && !ctx.skipped[c];
  if (has('etcd3')) {
    if (has('ours')) cols.push({ head: 'ours/etcd3', get: (s) => ratioText(s.vsEtcd3.ours, s.vsEtcd3Spread.ours) });
    if (has('ours-http2')) cols.push({ head: 'ours-h2/etcd3', get: (s) => ratioText(s.vsEtcd3['ours-http2'], s.vsEtcd3Spread['ours-http2']) });
    if (has('go')) cols.push({ head: 'Go/etcd3', get: (s) => ratioText(s.vsEtcd3.go, s.vsEtcd3Spread.go) });
  }
  if (has('ours-http2') && has('ours-base')) cols.push({ head: 'ours-h2/before', get: (s) => ratioText(s.vsBase, s.vsBaseSpread) });
  if (has('http2') || has('http2-prevkv')) {
    const floor = has('http2-prevkv') ? 'floor+prev_kv' : 'h2-floor';
    if (has('ours')) cols.push({ head: `ours/${floor}`, get: (s) => ratioText(s.vsFloor.ours, s.vsFloorSpread.ours) });
    if (has('ours-http2')) cols.push({ head: `ours-h2/${floor}`, get: (s) => ratioText(s.vsFloor['ours-http2'], s.vsFloorSpread['ours-http2']) });
  }
  cols.push({ head: 'target', get: targetText });
  cols.push({ head: 'result', get: verdictText, left: true });
  return cols;
}

export function renderTable(rows: RowSummary[], ctx: ReportContext): string {
  const cols = columns(ctx);
  const cells = rows.map((s) => cols.map((c) => c.get(s)));
  const widths = cols.map((c, i) => Math.max(c.head.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => (cols[i]!.left ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(cols.map((c) => c.head)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/**
 * Per contender and per round: how many windows kept their halves within 10 %, and the median drift. A warm-up
 * too short for one contender shows as that contender's row; load from elsewhere as one round's column.
 */
function stabilitySummary(st: ReportContext['stability'], rounds: number[]): string[] {
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
  };
  const cell = (hs: ReportContext['stability']) => {
    const ok = hs.filter((h) => Math.abs(h.driftPct) <= 10).length;
    return `${ok} of ${hs.length} (median ${med(hs.map((h) => Math.abs(h.driftPct))).toFixed(1)} %)`;
  };
  const contenders = [...new Set(st.map((h) => h.contender))];
  return [
    '| contender | windows with halves within 10 % (median drift, either way) | ' + rounds.map((r) => `round ${r}`).join(' | ') + ' |',
    '| --- | ---: |' + rounds.map(() => ' ---: |').join(''),
    ...contenders.map((c) => {
      const hs = st.filter((h) => h.contender === c);
      return `| ${CONTENDER_LABEL[c]} | ${cell(hs)} | ${rounds.map((r) => cell(hs.filter((h) => h.round === r))).join(' | ')} |`;
    }),
    `| all | ${cell(st)} | ${rounds.map((r) => cell(st.filter((h) => h.round === r))).join(' | ')} |`,
  ];
}

export function renderMarkdown(rows: RowSummary[], ctx: ReportContext): string {
  const cols = columns(ctx);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out: string[] = [];
  out.push(`# ${ctx.title}`, '');
  if (ctx.quick) {
    out.push('> **QUICK RUN** (`npm run bench -- --quick`): a smoke test with fewer operations and rounds. The numbers are noisy and not representative; use a full run for conclusions.', '');
  }
  out.push(...ctx.machineLines.map((l) => `- ${l}`), '');
  out.push('| ' + cols.map((c) => esc(c.head)).join(' | ') + ' |');
  out.push('|' + cols.map((c) => (c.left ? ' --- ' : ' ---: ')).join('|') + '|');
  for (const s of rows) out.push('| ' + cols.map((c) => esc(c.get(s))).join(' | ') + ' |');
  out.push('');
  out.push(
    'Cells are medians over rounds, with the smallest and largest round in brackets. Ratios are paired: computed per round (same round, same etcd state), then the median is taken; the brackets give the smallest and largest per-round ratio. ' +
      'The floor ratios divide by the http2 floor + prev_kv (the same server work as ours) where it ran. ' +
      '`ours` in a target is the better of our two transports (the one named in the result column); a transport with a failed round is not eligible. ' +
      '`*` = some rounds failed (see notes); `n/a` = the contender does not offer this; `skipped` = the contender could not run at all.',
    '',
  );
  out.push('## Targets', '');
  for (const s of rows) {
    const t = s.row.target;
    const f = s.row.floorTarget;
    if (!t && !f) continue;
    const what = [t ? `ours/etcd3 ${t.op === '>=' ? '≥' : '≤'} ${t.value.toFixed(1)}×` : '', f ? `ours/floor ${f.op === '>=' ? '≥' : '≤'} ${f.value.toFixed(2)}×` : ''].filter(Boolean).join(', ');
    out.push(`- ${s.row.label}: ${what}${s.row.targetNote ? `, ${s.row.targetNote}` : ''} — **${verdictText(s) || 'n/a'}**`);
  }
  out.push('');
  if (ctx.stability.length) {
    const bad = ctx.stability.filter((h) => Math.abs(h.driftPct) > 10);
    out.push('## Stability', '');
    out.push(
      `Each timed window measured in two halves (ops/s; sequential put: p50 µs). ${bad.length} of ${ctx.stability.length} windows have halves more than 10 % apart${bad.length ? ' (marked ✘)' : ''}.`,
    );
    const rounds = [...new Set(ctx.stability.map((h) => h.round))];
    out.push('', ...stabilitySummary(ctx.stability, rounds), '');
    out.push(
      '| workload | contender | ' + rounds.map((r) => `round ${r}: 1st / 2nd half`).join(' | ') + ' |',
      '| --- | --- |' + rounds.map(() => ' ---: |').join(''),
    );
    const keys = [...new Set(ctx.stability.map((h) => `${h.workload}\u0000${h.contender}`))];
    for (const k of keys) {
      const [w, c] = k.split('\u0000') as [string, ContenderName];
      const cells = rounds.map((r) => {
        const h = ctx.stability.find((x) => x.workload === w && x.contender === c && x.round === r);
        if (!h) return '–';
        const d = `${h.driftPct >= 0 ? '+' : ''}${h.driftPct.toFixed(1)} %`;
        return `${fmtNum(h.firstHalf, 0)} / ${fmtNum(h.secondHalf, 0)} (${d}${Math.abs(h.driftPct) > 10 ? ' ✘' : ''})`;
      });
      out.push(`| ${w} | ${CONTENDER_LABEL[c]} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  out.push('## Method', '', ...ctx.methodLines.map((l) => `- ${l}`), '');
  if (Object.keys(ctx.skipped).length) {
    out.push('## Skipped contenders', '');
    for (const [c, why] of Object.entries(ctx.skipped)) out.push(`- ${CONTENDER_LABEL[c as ContenderName]}: ${why}`);
    out.push('');
  }
  const errs: string[] = [];
  for (const s of rows) {
    for (const [c, x] of Object.entries(s.byContender)) {
      if (!x) continue;
      if (x.unsupported && x.okRounds === 0 && !errs.some((e) => e.includes(`${CONTENDER_LABEL[c as ContenderName]}, ${s.row.workload}:`))) {
        errs.push(`${CONTENDER_LABEL[c as ContenderName]}, ${s.row.workload}: n/a — ${x.unsupported}`);
      }
      for (const e of x.errors) {
        const line = `${CONTENDER_LABEL[c as ContenderName]}, ${s.row.workload}: ${e}`;
        if (!errs.includes(line)) errs.push(line);
      }
    }
  }
  if (errs.length || ctx.notes.length) {
    out.push('## Notes', '', ...ctx.notes.map((n) => `- ${n}`), ...errs.map((e) => `- ${e}`), '');
  }
  out.push('![ratios vs etcd3](latest.svg)', '');
  return out.join('\n');
}

const COLORS: Partial<Record<ContenderName, string>> = {
  ours: '#2b6cb0',
  'ours-http2': '#38a169',
  'ours-base': '#9ae6b4',
  go: '#d69e2e',
  'grpc-js': '#a0aec0',
  http2: '#4a5568',
  'http2-prevkv': '#718096',
};

function xmlEsc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Horizontal bars, one group per targeted row: each contender's advantage over etcd3 on a log scale
 * (ratio for higher-is-better metrics, inverse ratio for lower-is-better ones, so longer is always better),
 * with etcd3 at 1× and the target marked.
 */
export function renderSvg(rows: RowSummary[], ctx: ReportContext): string {
  const groups = rows.filter((s) => s.row.target || s.row.floorTarget);
  const bars: ContenderName[] = (['ours', 'ours-http2', 'go', 'grpc-js', 'http2', 'http2-prevkv'] as ContenderName[]).filter(
    (c) => ctx.contenders.includes(c) && !ctx.skipped[c],
  );
  const labelW = 300;
  const plotW = 560;
  const barH = 14;
  const groupGap = 16;
  const top = 64;
  const groupH = bars.length * barH + groupGap;
  const height = top + groups.length * groupH + 56;
  const width = labelW + plotW + 60;
  const minLog = Math.log2(1 / 8);
  const maxLog = Math.log2(16);
  const x = (ratio: number) => {
    const l = Math.min(maxLog, Math.max(minLog, Math.log2(ratio)));
    return labelW + ((l - minLog) / (maxLog - minLog)) * plotW;
  };
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  o.push(`<text x="10" y="20" font-size="15" font-weight="bold">${xmlEsc(ctx.title)}${ctx.quick ? ' — QUICK RUN (not representative)' : ''}</text>`);
  o.push(`<text x="10" y="38" fill="#555">Advantage over etcd3 (log scale; longer is better; lower-is-better metrics inverted). Red tick = target.</text>`);
  // grid
  for (const t of [0.125, 0.25, 0.5, 1, 2, 4, 8, 16]) {
    const gx = x(t).toFixed(1);
    o.push(`<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${height - 40}" stroke="${t === 1 ? '#000' : '#e2e8f0'}" stroke-width="${t === 1 ? 1.5 : 1}"/>`);
    o.push(`<text x="${gx}" y="${height - 26}" text-anchor="middle" fill="#555">${t < 1 ? `1/${1 / t}` : t}×</text>`);
  }
  o.push(`<text x="${x(1) + 4}" y="${top - 12}" fill="#000">etcd3</text>`);
  groups.forEach((s, gi) => {
    const gy = top + gi * groupH;
    const inverted = s.row.better === 'lower';
    o.push(`<text x="${labelW - 8}" y="${gy + (bars.length * barH) / 2 + 4}" text-anchor="end">${xmlEsc(s.row.label)}${inverted ? ' (inv.)' : ''}</text>`);
    bars.forEach((c, bi) => {
      const r = s.vsEtcd3[c];
      const y = gy + bi * barH;
      if (r === undefined || !Number.isFinite(r) || r <= 0) {
        o.push(`<text x="${x(1) + 4}" y="${y + barH - 3}" fill="#999" font-size="10">${xmlEsc(CONTENDER_LABEL[c])}: –</text>`);
        return;
      }
      const adv = inverted ? 1 / r : r;
      const x0 = Math.min(x(1), x(adv));
      const w = Math.max(1, Math.abs(x(adv) - x(1)));
      o.push(`<rect x="${x0.toFixed(1)}" y="${y + 1}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[c]}"/>`);
      const tx = adv >= 1 ? x(adv) + 4 : x(adv) - 4;
      o.push(`<text x="${tx.toFixed(1)}" y="${y + barH - 3}" font-size="10" text-anchor="${adv >= 1 ? 'start' : 'end'}">${adv.toFixed(2)}×</text>`);
    });
    if (s.row.target) {
      const tv = inverted ? 1 / s.row.target.value : s.row.target.value;
      const tx = x(tv).toFixed(1);
      o.push(`<line x1="${tx}" y1="${gy - 2}" x2="${tx}" y2="${gy + bars.length * barH + 2}" stroke="#e53e3e" stroke-width="2"/>`);
    }
  });
  // legend
  let lx = 10;
  const ly = height - 10;
  for (const c of bars) {
    o.push(`<rect x="${lx}" y="${ly - 10}" width="10" height="10" fill="${COLORS[c]}"/>`);
    o.push(`<text x="${lx + 14}" y="${ly}">${xmlEsc(CONTENDER_LABEL[c])}</text>`);
    lx += 20 + CONTENDER_LABEL[c].length * 7;
  }
  o.push('</svg>');
  return o.join('\n') + '\n';
}
