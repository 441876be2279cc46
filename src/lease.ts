// The unary lease calls (C++ leasegrant / leaserevoke / leasetimetolive / leases). Keeping leases alive is
// keepalive.ts.

import { LeaseService } from '../generated/etcdserver/etcdserverpb/rpc';
import type { Connection } from './connection';
import { respond } from './respond';
import { Value, type Response } from './response';

const EMPTY = Buffer.alloc(0);

/** A Value describing a lease: `lease()` is its id, `ttl()` its TTL in seconds. */
function leaseValue(id: bigint, ttl: bigint | number): Value {
  return new Value(EMPTY, EMPTY, 0, 0, 0, Number(ttl), id);
}

/** `leasegrant(ttl)`: a new lease; `value().lease()` is its id and `value().ttl()` the granted TTL. */
export function grant(conn: Connection, ttl: number): Promise<Response> {
  return respond(conn, 'leasegrant', async () => {
    const res = await conn.unary(LeaseService.leaseGrant, { TTL: BigInt(ttl), ID: 0n });
    return { index: Number(res.header?.revision ?? 0n), value: leaseValue(res.ID, res.TTL), message: res.error };
  });
}

/** `leaserevoke(id)`: deletes the lease and every key attached to it; 5 if it does not exist. */
export function revoke(conn: Connection, id: bigint): Promise<Response> {
  return respond(conn, 'leaserevoke', async () => {
    const res = await conn.unary(LeaseService.leaseRevoke, { ID: id });
    return { index: Number(res.header?.revision ?? 0n) };
  });
}

/** `leasetimetolive(id)`: remaining TTL in `value().ttl()`, -1 once revoked or expired (not an error). */
export function timeToLive(conn: Connection, id: bigint): Promise<Response> {
  return respond(conn, 'leasetimetolive', async () => {
    const res = await conn.unary(LeaseService.leaseTimeToLive, { ID: id, keys: false });
    return { index: Number(res.header?.revision ?? 0n), value: leaseValue(res.ID, res.TTL) };
  });
}

/** `leases()`: the ids of every live lease. */
export function list(conn: Connection): Promise<Response> {
  return respond(conn, 'leaseleases', async () => {
    const res = await conn.unary(LeaseService.leaseLeases, {});
    return { index: Number(res.header?.revision ?? 0n), leases: res.leases.map((l) => l.ID) };
  });
}
