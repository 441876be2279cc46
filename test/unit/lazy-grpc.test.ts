// The default transport never loads @grpc/grpc-js (about 15 MB of RSS): neither the client nor the generated
// code imports it at load time. Choosing `transport: 'grpc-js'` loads it on demand.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = path.resolve(__dirname, '../..');

function loadedAfter(code: string): string {
  const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const probe = `
const { Client } = require(${JSON.stringify(path.join(ROOT, 'src/index'))});
require(${JSON.stringify(path.join(ROOT, 'src/proto'))});
const grpcLoaded = () => Object.keys(require.cache).some((k) => k.includes('@grpc/grpc-js'));
`;

test('a client on the default transport, and the proto subpath, leave @grpc/grpc-js unloaded', () => {
  const out = loadedAfter(`${probe}
const c = new Client('http://127.0.0.1:1');
c.close().then(() => console.log(grpcLoaded() ? 'loaded' : 'not loaded'));`);
  assert.is(out, 'not loaded');
});

test("transport: 'grpc-js' loads it on demand", () => {
  const out = loadedAfter(`${probe}
const before = grpcLoaded();
const c = new Client('http://127.0.0.1:1', { transport: 'grpc-js' });
c.close().then(() => console.log(before + ' ' + grpcLoaded()));`);
  assert.is(out, 'false true');
});

test.run();
