// Summarizes V8 CPU profiles written by `npm run bench -- --cpu-prof DIR`: where a worker's CPU went, by
// self time, grouped into the parts of a call (our client layer, our transport, protobuf, node:http2 and
// streams, timers, GC, ...). Only the profile's part after the warm-up matters little here: the window is
// most of the run.
//
//   npx tsx bench/profile-summary.ts DIR/put-256-ours-http2-*.cpuprofile [more files]
//
// The workers run a bundle (worker.js, copied into DIR): esbuild marks where each source file starts with a
// `// path` comment, which maps a profiled line back to its source file.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** Start lines (1-based) of each source file inside the bundle, ascending. */
function bundleMap(file: string): { line: number; source: string }[] {
  if (!fs.existsSync(file)) return [];
  const out: { line: number; source: string }[] = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((l, i) => {
      const m = /^\/\/ ((?:src|bench|generated|node_modules)\/\S+)$/.exec(l);
      if (m) out.push({ line: i + 1, source: m[1]! });
    });
  return out;
}

function sourceOf(map: { line: number; source: string }[], line: number): string | undefined {
  let found: string | undefined;
  for (const m of map) {
    if (m.line > line) break;
    found = m.source;
  }
  return found;
}

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function group(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)' || fn === '(program)') return fn;
  if (/\/src\/transport\//.test(url)) return 'ours: transport';
  if (/\/src\//.test(url)) return 'ours: client layer (kv, respond, response, connection)';
  if (/\/generated\//.test(url)) return 'protobuf (generated codecs)';
  if (/@bufbuild/.test(url)) return 'protobuf (@bufbuild wire)';
  if (/etcd3\//.test(url)) return 'etcd3';
  if (/@grpc\/grpc-js/.test(url)) return 'grpc-js';
  if (/\/bench\//.test(url) || /worker\.js/.test(url)) return 'bench harness';
  if (/node:internal\/http2|node:http2/.test(url)) return 'node:http2';
  if (/node:internal\/streams|node:stream/.test(url)) return 'node streams';
  if (/node:internal\/timers|node:timers/.test(url)) return 'timers';
  if (/node:internal\/(async_hooks|process\/task_queues)|node:async_hooks/.test(url)) return 'async hooks / microtasks';
  if (/node:internal\/buffer|node:buffer/.test(url)) return 'Buffer';
  if (url === '') return 'native / builtins';
  if (/^node:/.test(url)) return 'other node internals';
  return 'other';
}

for (const file of process.argv.slice(2)) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const map = bundleMap(path.join(path.dirname(file), 'worker.js'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  let busy = 0;
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = { ...n.callFrame };
    if (f.functionName === '(idle)') continue;
    if (/worker\.js$/.test(f.url)) f.url = `/${sourceOf(map, f.lineNumber + 1) ?? 'bench/worker.ts'}`;
    busy += us;
    const g = group(f.url, f.functionName);
    groups.set(g, (groups.get(g) ?? 0) + us);
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*?\/(node_modules|src|bench|generated)\//, '$1/')}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const total = p.endTime - p.startTime;
  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)} %)`);
  for (const [g, us] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`  ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${g}`);
  console.log('  top functions (self time):');
  for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${k}`);
}
