// etcd-apiv3/testing leaves nothing behind: a child process starts an etcd (and a PKI) through the kit and then
// ends in each way a test process can end; afterwards the etcd process must be gone and its data directory and
// the PKI directory removed — and a child that simply runs out of work must end by itself.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = path.resolve(__dirname, '../..');

type Ending = 'exit' | 'throw' | 'rejection' | 'SIGINT' | 'SIGTERM' | 'SIGKILL' | 'idle';

const childCode = (ending: Ending) => `
const kit = require(${JSON.stringify(path.join(ROOT, 'src/testing'))});
const path = require('node:path');
(async () => {
  const etcd = await kit.startEtcd({ name: 'leak-${ending}' });
  const pki = kit.makeCerts();
  const proxy = await kit.startProxy(etcd.endpoint);
  process.stdout.write(JSON.stringify({ pid: etcd.pid, dir: path.dirname(etcd.dataDir), pki: pki.dir }) + '\\n');
  await new Promise((r) => process.stdin.once('data', r)); // the parent has looked: now end
  process.stdin.destroy();
  const ending = ${JSON.stringify(ending)};
  if (ending === 'exit') process.exit(3);
  if (ending === 'throw') setTimeout(() => { throw new Error('uncaught on purpose'); }, 10);
  if (ending === 'rejection') Promise.reject(new Error('unhandled on purpose'));
  if (ending.startsWith('SIG')) setInterval(() => {}, 1000); // stays up until the signal
  // 'idle': nothing left to do; the kit's children and sockets must not keep the process alive.
})().catch((e) => { console.error(e); process.exit(99); });
`;

/** True while `pid` is a live process (a zombie waiting for its new parent to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

async function gone(pid: number, dirs: string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = [...(alive(pid) ? [`etcd pid ${pid}`] : []), ...dirs.filter((d) => fs.existsSync(d))];
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function endIn(ending: Ending): Promise<void> {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', childCode(ending)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? String(sig))));
  const info = await new Promise<{ pid: number; dir: string; pki: string }>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve(JSON.parse(line!) as { pid: number; dir: string; pki: string });
    });
    void exited.then(() => reject(new Error(`child ended before starting etcd: ${err}`)));
  });
  assert.ok(alive(info.pid), 'etcd runs while the child does');
  assert.ok(fs.existsSync(info.dir) && fs.existsSync(info.pki), 'the directories exist while the child runs');
  child.stdin.end('go\n');
  if (ending.startsWith('SIG')) child.kill(ending as NodeJS.Signals);
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running after 30 s'), 30_000)))]);
  clearTimeout(timer);
  if (result === 'still running after 30 s') child.kill('SIGKILL');
  assert.is.not(result, 'still running after 30 s', `the child must end by itself (${ending})`);
  const left = await gone(info.pid, [info.dir, info.pki], 5_000);
  assert.equal(left, [], `after ${ending} (child ended with ${result}) nothing is left behind`);
}

for (const ending of ['exit', 'throw', 'rejection', 'SIGINT', 'SIGTERM', 'SIGKILL', 'idle'] as const) {
  test(`a test process ending by ${ending} leaves no etcd process and no directory`, () => endIn(ending));
}

test.run();
