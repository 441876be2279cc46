// One instance of the demo's greeter service, in its own process: serves, registers itself in etcd under a
// lease kept alive, and deregisters on SIGTERM. A SIGKILL leaves its key to expire with the lease.
import { Client, Registry } from '../src/index';
import { startGreeter } from './greeter';

async function main(): Promise<void> {
  const [instance, endpoints] = process.argv.slice(2);
  if (!instance || !endpoints) throw new Error('usage: greeter-instance <instance> <etcd endpoints>');
  const server = await startGreeter(instance);
  // A grace: a raft leader election (etcd keeps the lease) is not reported as a lost registration.
  const client = new Client(endpoints, { keepAliveGraceMs: 5000 });
  const registry = new Registry(client, { prefix: '/service', ttl: 3 });
  const registration = await registry.register('greeter', instance, server.address);
  registration.onLost(() => process.send?.({ event: 'lost', instance }));
  registration.onRestored(() => process.send?.({ event: 'restored', instance }));
  process.send?.({ event: 'ready', instance, address: server.address });
  process.once('SIGTERM', async () => {
    await registration.close(); // deregisters now: the key goes away with the lease
    await client.close();
    await server.stop();
    process.exit(0);
  });
}

main().catch((err) => {
  console.error(`greeter-instance: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
