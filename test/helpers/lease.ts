// Lease facts read from etcd itself, written once.

import type { Client } from '../../src/index';

/** The lease's remaining TTL in seconds as etcd reports it (LeaseTimeToLive); -1 once it has expired. */
export async function remainingTtl(client: Client, id: bigint): Promise<number> {
  const r = await client.leasetimetolive(id);
  if (!r.is_ok()) throw new Error(`leasetimetolive(${id}) failed: ${r.error_code()} ${r.error_message()}`);
  return r.value().ttl();
}
