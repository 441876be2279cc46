// The main command (`npm start`) keeps working: it starts its own etcd, shows instances going online and
// offline, serves calls round-robin through etcd:///, and stops everything it started.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = join(__dirname, '..', '..');

test('the demo runs the whole mission and stops everything it started', async () => {
  const env = { ...process.env };
  delete env['ETCD_ENDPOINTS'];
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    execFile(process.execPath, ['-r', 'tsx/cjs', join(root, 'examples/demo.ts')], { cwd: root, env, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
  assert.is(code, 0, out);
  for (const name of ['instance-1', 'instance-2', 'instance-3', 'instance-4']) assert.match(out, `ONLINE   greeter/${name}`);
  const crash = /OFFLINE  greeter\/instance-2 \(([\d.]+) s after the crash; TTL 3 s\)/.exec(out);
  assert.ok(crash, 'the crashed instance goes offline');
  // TTL 3 s + etcd's expiry sweep + one watch event, with a loaded machine's slack.
  assert.ok(Number(crash![1]) <= 6.5, `offline within TTL + 3.5 s, took ${crash![1]} s`);
  assert.match(out, 'OFFLINE  greeter/instance-1');
  const served = new Set([...out.matchAll(/served by (instance-\d)/g)].map((m) => m[1]));
  assert.ok(served.size >= 3, `calls spread over instances: ${[...served].join(', ')}`);
  assert.not.match(out, / failed: /, out);
  assert.match(out, 'done: every instance, the caller and etcd are stopped');
});

test.run();
