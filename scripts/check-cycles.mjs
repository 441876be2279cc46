#!/usr/bin/env node
// `node scripts/check-cycles.mjs [DIR]` (default src): fails when the relative imports between DIR's TypeScript
// files form a cycle. Type-only imports and re-exports count too: a cycle of types still ties the modules'
// layers together. Prints every strongly connected group of files and exits 1; prints a count and exits 0 otherwise.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const dir = resolve(process.argv[2] ?? 'src');

function tsFiles(d, out = []) {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) tsFiles(p, out);
    else if (/\.[mc]?ts$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// Static `import … from './x'`, `export … from './x'`, `import './x'`, and `import('./x')` / `require('./x')`.
const IMPORT = /\b(?:import|export)\b[^'";]*?\bfrom\s*['"](\.{1,2}\/[^'"]*)['"]|\bimport\s*['"](\.{1,2}\/[^'"]*)['"]|\b(?:import|require)\s*\(\s*['"](\.{1,2}\/[^'"]*)['"]\s*\)/g;

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function target(from, spec) {
  const base = resolve(dirname(from), spec.replace(/\.[mc]?js$/, ''));
  for (const candidate of [`${base}.ts`, `${base}.mts`, `${base}.cts`, join(base, 'index.ts')]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const files = tsFiles(dir);
const graph = new Map();
for (const f of files) {
  const deps = new Set();
  for (const m of stripComments(readFileSync(f, 'utf8')).matchAll(IMPORT)) {
    const t = target(f, m[1] ?? m[2] ?? m[3]);
    if (t && t !== f && t.startsWith(dir)) deps.add(t);
  }
  graph.set(f, deps);
}

// Tarjan's strongly connected components, iteratively (no recursion limit on deep chains).
let counter = 0;
const index = new Map();
const low = new Map();
const onStack = new Set();
const stack = [];
const groups = [];
for (const start of graph.keys()) {
  if (index.has(start)) continue;
  const work = [[start, [...graph.get(start)], 0]];
  index.set(start, counter);
  low.set(start, counter++);
  stack.push(start);
  onStack.add(start);
  while (work.length) {
    const frame = work[work.length - 1];
    const [node, deps] = frame;
    if (frame[2] < deps.length) {
      const next = deps[frame[2]++];
      if (!index.has(next)) {
        index.set(next, counter);
        low.set(next, counter++);
        stack.push(next);
        onStack.add(next);
        work.push([next, [...graph.get(next)], 0]);
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), index.get(next)));
      }
      continue;
    }
    work.pop();
    if (work.length) {
      const parent = work[work.length - 1][0];
      low.set(parent, Math.min(low.get(parent), low.get(node)));
    }
    if (low.get(node) === index.get(node)) {
      const group = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        group.push(member);
      } while (member !== node);
      if (group.length > 1) groups.push(group);
    }
  }
}

const rel = (f) => relative(dir, f);
if (groups.length) {
  for (const g of groups) {
    console.log(`import cycle among: ${g.map(rel).sort().join(', ')}`);
    for (const f of g) {
      const inCycle = [...graph.get(f)].filter((t) => g.includes(t)).map(rel);
      console.log(`  ${rel(f)} → ${inCycle.join(', ')}`);
    }
  }
  console.log(`${groups.length} import cycle(s) in ${relative(process.cwd(), dir) || '.'}: the layers must run one way`);
  process.exit(1);
}
console.log(`no import cycle among ${files.length} files in ${relative(process.cwd(), dir) || '.'}`);
