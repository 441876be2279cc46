// `npm start`: the whole mission on one machine. Greeter instances (separate processes) register themselves
// in etcd under leases; a caller discovers them, follows them going online and offline, and calls them
// round-robin through a grpc-js channel on `etcd:///greeter`. One instance crashes (SIGKILL: its key expires
// with its lease), a new one starts, one leaves cleanly (deregisters at once). Everything started here is
// stopped on exit or Ctrl-C. With ETCD_ENDPOINTS set it uses that etcd; otherwise it starts its own.

import * as grpc from '@grpc/grpc-js';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client, Discovery, registerEtcdResolver } from '../src/index';
import { startEtcd, type Etcd } from '../src/testing';
import { GreeterClient, type HelloReply } from './greeter';

const TTL = 3;
const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
const say = (what: string) => console.log(`${stamp()} ${what}`);

const children = new Map<string, ChildProcess>();
const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
let etcd: Etcd | undefined;
let stopping = false;

function startInstance(name: string, endpoints: string): Promise<string> {
  const child = fork(join(__dirname, 'greeter-instance.ts'), [name, endpoints], {
    execArgv: ['-r', 'tsx/cjs'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.set(name, child);
  child.on('message', (m: { event: string; instance: string }) => {
    if (m.event === 'lost') say(`${m.instance}: lease lost, re-registering`);
    if (m.event === 'restored') say(`${m.instance}: registration restored`);
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { event: string; address: string }) => (m.event === 'ready' ? resolve(m.address) : reject(new Error(m.event))));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before registering`)));
  });
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function cleanup(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const child of children.values()) if (running(child)) child.kill('SIGKILL');
  await etcd?.close();
}

async function main(): Promise<void> {
  let endpoints = process.env['ETCD_ENDPOINTS'];
  if (endpoints) {
    say(`using etcd at ${endpoints}`);
  } else {
    etcd = await startEtcd({ name: 'demo', dataDirOnTmpfs: true });
    endpoints = etcd.endpoint;
    say(`started a local etcd at ${endpoints} (set ETCD_ENDPOINTS to use another)`);
  }
  const client = new Client(endpoints);

  // The caller's view: discovery callbacks print the timeline.
  const discovery = new Discovery(client, { prefix: '/service' });
  const offlineSince = new Map<string, number>();
  discovery.onOnline((service, instance, address) => say(`ONLINE   ${service}/${instance} at ${address}`));
  discovery.onOffline((service, instance) => {
    const killedAt = offlineSince.get(instance);
    const after = killedAt === undefined ? '' : ` (${((Date.now() - killedAt) / 1000).toFixed(1)} s after the crash; TTL ${TTL} s)`;
    say(`OFFLINE  ${service}/${instance}${after}`);
  });
  await discovery.start();
  const live = () => discovery.instances('greeter').length;

  for (const name of ['instance-1', 'instance-2', 'instance-3']) await startInstance(name, endpoints);
  await waitFor('three instances online', () => live() === 3, 10_000);

  // The caller: a plain grpc-js client whose target is resolved through etcd.
  const unregister = registerEtcdResolver(client, { prefix: '/service' });
  const greeter = new GreeterClient('etcd:///greeter', grpc.credentials.createInsecure());
  const served = new Map<string, number>();
  let n = 0;
  // Hello is idempotent, so a call that hits an instance at the moment it dies is simply sent again.
  const call = (id = ++n, attempt = 1): Promise<void> =>
    new Promise<void>((resolve) => {
      greeter.makeUnaryRequest(
        '/demo.Greeter/Hello',
        (v: unknown) => Buffer.from(JSON.stringify(v)),
        (b: Buffer) => JSON.parse(b.toString()) as HelloReply,
        { from: 'demo', n: id },
        { deadline: Date.now() + 2000 },
        (err: grpc.ServiceError | null, reply?: HelloReply) => {
          if (err && err.code === grpc.status.UNAVAILABLE && attempt === 1) {
            say(`call #${id}: ${err.details}; sending it again`);
            resolve(call(id, 2));
          } else if (err) {
            say(`call #${id} failed: ${err.code} ${err.details}`);
            resolve();
          } else {
            served.set(reply!.instance, (served.get(reply!.instance) ?? 0) + 1);
            say(`call #${id} served by ${reply!.instance}${attempt > 1 ? ' (second try)' : ''}`);
            resolve();
          }
        },
      );
    });
  const calls = async (count: number) => {
    for (let i = 0; i < count; i++) {
      await call();
      await new Promise((r) => setTimeout(r, 150));
    }
  };

  say('calling etcd:///greeter round-robin');
  await calls(6);

  say('crashing instance-2 (SIGKILL: it cannot deregister; etcd drops its key when the lease expires)');
  offlineSince.set('instance-2', Date.now());
  children.get('instance-2')!.kill('SIGKILL');
  await calls(4);
  await waitFor('instance-2 to go offline', () => live() === 2, (TTL + 3) * 1000);

  say('starting instance-4');
  await startInstance('instance-4', endpoints);
  await waitFor('instance-4 online', () => live() === 3, 10_000);
  await calls(6);

  say('stopping instance-1 cleanly (SIGTERM: it deregisters at once)');
  children.get('instance-1')!.kill('SIGTERM');
  await waitFor('instance-1 to go offline', () => live() === 2, 5_000);
  await calls(4);

  say(`calls served: ${[...served].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  greeter.close();
  unregister();
  await discovery.close();
  const exits = [...children.values()].filter(running).map((c) => new Promise((r) => c.once('exit', r)));
  for (const child of children.values()) if (running(child)) child.kill('SIGTERM');
  await Promise.all(exits);
  await client.close();
  await cleanup();
  say('done: every instance, the caller and etcd are stopped');
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    say(`${sig}: stopping everything`);
    void cleanup().then(() => process.exit(130));
  });
}

main().catch(async (err) => {
  console.error(`demo failed: ${err instanceof Error ? err.stack : String(err)}`);
  await cleanup();
  process.exit(1);
});
