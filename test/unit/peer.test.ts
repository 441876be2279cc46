// @grpc/grpc-js is an optional peer dependency: without it the default client works, and choosing
// what needs it fails at once with MissingPeerDependencyError naming the package. "Without it" is simulated in
// a child process whose module resolution refuses '@grpc/grpc-js' the way Node does for a missing package.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = path.resolve(__dirname, '../..');

const WITHOUT_GRPC = `
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === '@grpc/grpc-js' || request.startsWith('@grpc/grpc-js/')) {
    const err = new Error("Cannot find module '" + request + "'");
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return resolve.call(this, request, ...rest);
};
const { Client, MissingPeerDependencyError, registerEtcdResolver } = require(${JSON.stringify(path.join(ROOT, 'src/index'))});
`;

function run(code: string): string {
  const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', WITHOUT_GRPC + code], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('without @grpc/grpc-js: the default client loads and is usable', () => {
  assert.is(run(`const c = new Client('http://127.0.0.1:1'); c.close().then(() => console.log('ok'));`), 'ok');
});

test("without @grpc/grpc-js: transport 'grpc-js' throws MissingPeerDependencyError naming the package", () => {
  const out = run(`
    try { new Client('http://127.0.0.1:1', { transport: 'grpc-js' }); console.log('no error'); }
    catch (e) { console.log([e instanceof MissingPeerDependencyError, e.code, e.packageName, e.message].join('|')); }`);
  const [isClass, code, pkg, message] = out.split('|');
  assert.is(isClass, 'true');
  assert.is(code, 'ERR_MISSING_PEER_DEPENDENCY');
  assert.is(pkg, '@grpc/grpc-js');
  assert.match(message!, /the 'grpc-js' transport needs the package '@grpc\/grpc-js'.*npm install @grpc\/grpc-js/);
});

test('without @grpc/grpc-js: registerEtcdResolver(client) throws MissingPeerDependencyError naming the package', () => {
  const out = run(`
    const c = new Client('http://127.0.0.1:1');
    try { registerEtcdResolver(c); console.log('no error'); }
    catch (e) { console.log([e instanceof MissingPeerDependencyError, e.message].join('|')); }
    void c.close();`);
  assert.match(out, /^true\|the etcd:\/\/\/ resolver \(registerEtcdResolver\) needs the package '@grpc\/grpc-js'/);
});

test('with @grpc/grpc-js installed (our dev dependency) both still work', () => {
  const r = spawnSync(
    process.execPath,
    ['-r', 'tsx/cjs', '-e', `const { Client, registerEtcdResolver } = require(${JSON.stringify(path.join(ROOT, 'src/index'))});
     const c = new Client('http://127.0.0.1:1', { transport: 'grpc-js' });
     const un = registerEtcdResolver(c, { scheme: 'peertest' }); un(); c.close().then(() => console.log('ok'));`],
    { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
  );
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'ok');
});

test.run();
