// Type-checks every ```ts block of README.md against the package, so the examples a user copies compile.
// Each block is compiled on its own as an ES module (top-level await allowed), importing 'etcd-apiv3' and
// 'etcd-apiv3/proto' as a user would (mapped onto src/ here). A block that is a fragment — it uses a client or
// a lease made by an earlier block — names what it assumes in an HTML comment right above it, invisible on
// the rendered page:
//
//   <!-- ts-context: import { Client } from 'etcd-apiv3'; declare const etcd: Client; -->
//
//   node scripts/check-readme.mjs            (npm run check:readme)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The ```ts blocks with the line they start on and the context comment above them, if any. */
function blocks(text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    let context = '';
    for (let j = i - 1; j >= 0 && lines[j].trim() !== ''; j--) {
      const m = /^<!--\s*ts-context:([\s\S]*?)-->\s*$/.exec(lines[j].trim());
      if (m) context = m[1].trim();
      break;
    }
    out.push({ line: start + 1, code: lines.slice(start, end).join('\n'), context });
    i = end;
  }
  return out;
}

const found = blocks(readme);
if (found.length === 0) throw new Error('README.md has no ```ts block');
const dir = mkdtempSync(join(tmpdir(), 'etcd-apiv3-readme-'));
try {
  const files = found.map((b, n) => {
    const name = `block-${n + 1}-line-${b.line}.mts`;
    // `export {}` keeps a block without imports a module (its own scope, top-level await).
    writeFileSync(join(dir, name), `${b.context}\n${b.code}\nexport {};\n`);
    return name;
  });
  const tsconfig = {
    compilerOptions: {
      module: 'esnext',
      moduleResolution: 'bundler',
      target: 'es2022',
      lib: ['es2023', 'esnext.disposable'],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules/@types')],
      paths: {
        ...subpathSources(),
        '@grpc/grpc-js': [join(root, 'node_modules/@grpc/grpc-js')],
      },
    },
    files,
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    // Errors name block-<n>-line-<README line>.mts: the block starting at that README line (+1 for the context).
    process.stdout.write(String(err.stdout ?? ''));
    process.stderr.write(String(err.stderr ?? ''));
    console.error(`check-readme: README.md examples do not compile (files are named after the README line of each block)`);
    process.exitCode = 1;
  }
  if (!process.exitCode) console.log(`check-readme: ${found.length} TypeScript blocks of README.md compile`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Every subpath of package.json "exports" mapped onto its source (./dist/cjs/src/<name>.js → src/<name>.ts). */
function subpathSources() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const out = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const name = /^\.\/dist\/cjs\/src\/(.+)\.js$/.exec(target?.require?.default ?? '')?.[1];
    if (name) out[`${pkg.name}${subpath.slice(1)}`] = [join(root, 'src', `${name}.ts`)];
  }
  return out;
}
