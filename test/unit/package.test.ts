// The published shape: `etcd-apiv3`, `etcd-apiv3/proto` and `etcd-apiv3/testing` load from CommonJS and from ES
// modules, with type declarations, and both module systems see the same classes.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = join(__dirname, '..', '..');

test.before(() => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'pipe' });
});

const run = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();

test('CommonJS: require("etcd-apiv3") and require("etcd-apiv3/proto")', () => {
  const out = run([
    '-e',
    `const m = require('etcd-apiv3'); const p = require('etcd-apiv3/proto');
     console.log([typeof m.Client, typeof m.Watcher, typeof m.Transaction, m.ERROR_KEY_NOT_FOUND, typeof p.PutRequest.fromPartial, 'KeyValue' in p].join(','))`,
  ]);
  assert.is(out, 'function,function,function,100,function,true');
});

test('ES modules: import from "etcd-apiv3" and "etcd-apiv3/proto", same classes as CommonJS', () => {
  const out = run([
    '--input-type=module',
    '-e',
    `import { Client, Response, ERROR_COMPARE_FAILED } from 'etcd-apiv3'; import { RangeRequest } from 'etcd-apiv3/proto';
     import { createRequire } from 'node:module'; const req = createRequire(import.meta.url);
     console.log([typeof Client, ERROR_COMPARE_FAILED, typeof RangeRequest.encode, req('etcd-apiv3').Response === Response].join(','))`,
  ]);
  assert.is(out, 'function,101,function,true');
});

test('type declarations exist for every entry point', () => {
  assert.ok(existsSync(join(root, 'dist/cjs/src/index.d.ts')));
  assert.ok(existsSync(join(root, 'dist/cjs/src/proto.d.ts')));
  assert.ok(existsSync(join(root, 'dist/cjs/src/testing/index.d.ts')));
});

test('etcd-apiv3/testing: CommonJS and ES modules, the same functions, @grpc/grpc-js not loaded, pins readable', () => {
  const names = ['startEtcd', 'startCluster', 'startProxy', 'makeCerts', 'checkHistory', 'startFakeEtcd', 'versionFlags'];
  const cjs = run([
    '-e',
    `const t = require('etcd-apiv3/testing');
     const grpc = Object.keys(require.cache).some((k) => k.includes('@grpc/grpc-js'));
     console.log(${JSON.stringify(names)}.map((n) => typeof t[n]).join(',') + ' grpc=' + grpc + ' ' + t.pinnedVersion('3.6'))`,
  ]);
  assert.match(cjs, /^(function,){6}function grpc=false 3\.6\.\d+$/);
  const esm = run([
    '--input-type=module',
    '-e',
    `import { startEtcd, startProxy } from 'etcd-apiv3/testing'; import { createRequire } from 'node:module';
     const req = createRequire(import.meta.url);
     console.log([typeof startEtcd, req('etcd-apiv3/testing').startProxy === startProxy].join(','))`,
  ]);
  assert.is(esm, 'function,true');
});

test('internal members are not in the published declarations (stripInternal)', () => {
  const read = (f: string) => readFileSync(join(root, 'dist/cjs/src', f), 'utf8');
  // Client.conn is the client's connection: marked @internal in the source, absent from what users see.
  assert.match(readFileSync(join(root, 'src/client.ts'), 'utf8'), /\/\*\* @internal \*\/\n\s+readonly conn: Connection;/);
  assert.not.match(read('client.d.ts'), /\bconn\b\s*:/);
  assert.not.match(read('keepalive.d.ts'), /provideClientClass/);
  assert.not.match(read('lease-keeper.d.ts'), /function leaseKeeper/);
});

test('package.json ships etcd/versions.json (the kit reads the pins at run time)', () => {
  const pkg = JSON.parse(require('node:fs').readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
  assert.ok(pkg.files.includes('etcd/versions.json'));
});

test('the public entry does not export generated message types', () => {
  const out = run(['-e', `const m = require('etcd-apiv3'); console.log(['PutRequest','RangeResponse','KVService'].filter((n) => n in m).length.toString())`]);
  assert.is(out, '0');
});

test('what a user installs: LICENSE (Apache-2.0), repository, @grpc/grpc-js an optional peer, ES-module declarations', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.is(pkg.license, 'Apache-2.0');
  assert.ok(pkg.files.includes('LICENSE'));
  assert.match(readFileSync(join(root, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
  assert.ok(pkg.repository?.url, 'repository');
  assert.not.ok('@grpc/grpc-js' in (pkg.dependencies ?? {}), 'not a dependency');
  assert.ok(pkg.peerDependencies['@grpc/grpc-js'] && pkg.peerDependenciesMeta['@grpc/grpc-js'].optional === true);
  for (const [subpath, target] of Object.entries(pkg.exports) as [string, { import?: { types: string } }][]) {
    if (typeof target === 'string') continue;
    assert.match(target.import!.types, /\.d\.mts$/, `${subpath}: the import condition has ES-module declarations`);
    assert.ok(existsSync(join(root, target.import!.types)), `${subpath}: ${target.import!.types} is built`);
    if (subpath !== '.') assert.ok(pkg.typesVersions['*'][subpath.slice(2)], `${subpath}: typesVersions for node10`);
  }
});

test.run();
