// Distributed locks on etcd's server-side lock service (v3lock), so they interoperate with etcdctl and Go
// clients (C++ SyncClient::lock_internal / unlock_internal).

import { LockService } from '../generated/etcdserver/api/v3lock/v3lockpb/v3lock';
import { LeaseService } from '../generated/etcdserver/etcdserverpb/rpc';
import { ClientSlot, type Connection } from './connection';
import { leaseKeeper, type KeptLease } from './lease-keeper';
import { respond } from './respond';
import { Value, type Response } from './response';

const EMPTY = Buffer.alloc(0);

/** The kept leases of the locks `lock()` took on this client, by lock key (hex of its bytes). */
const HELD_LOCKS = new ClientSlot<Map<string, KeptLease>>('held locks');

function locksOf(conn: Connection): Map<string, KeptLease> {
  return conn.slot(HELD_LOCKS, () => new Map<string, KeptLease>());
}

/**
 * `lock(key, ttl)`: grants a lease of `ttl` seconds, keeps it alive, then waits (server-side, no retry) until
 * the lock on `name` is ours. `lock_key()` is the server's key (`<name>/<lease hex>`), `value().lease()` the
 * lease, `index()` the header revision. Timeout (`set_grpc_timeout`): code 4 'gRPC timeout'.
 *
 * On any failure the keepalive is cancelled **and the lease revoked** (C++ only drops the keepalive and lets the
 * lease expire): no lease is left behind, and should the server not have removed our waiter key itself (it does
 * when the wait is cancelled, but not when the connection is lost), the key goes with the lease instead of
 * holding up later lockers for up to `ttl` seconds. A client closed while waiting rejects with
 * ClientClosedError; its lease then expires.
 *
 * While held, the lock lives as long as its lease: if the keepalive stops for good (the lease revoked or expired
 * elsewhere, or lost during a long outage), the lock is lost with it, and `onLost(lockKey, error)` hears of it
 * once (C++ reports nothing). A loss while still waiting for the lock is not reported there: the wait itself
 * then fails or the lock is granted to a lease etcd no longer has, which the keepalive reports at once.
 */
export function lock(conn: Connection, name: Buffer, ttl: number, onLost: (lockKey: string, error: Error) => void): Promise<Response> {
  return respond(conn, 'lock', async () => {
    const granted = await conn.unary(LeaseService.leaseGrant, { TTL: BigInt(ttl), ID: 0n });
    let held: Buffer | undefined;
    let lostEarly: Error | undefined;
    // Only a lock still held is reported lost: unlock() removes it from locksOf first.
    const lost = (key: Buffer, err: Error) => {
      if (locksOf(conn).delete(key.toString('hex'))) onLost(key.toString('utf8'), err);
    };
    const kept = leaseKeeper(conn).add(granted.ID, Number(granted.TTL), (err) => {
      if (held === undefined) lostEarly = err;
      else lost(held, err);
    });
    try {
      const res = await conn.unary(LockService.lock, { name, lease: granted.ID }, { retry: false });
      locksOf(conn).set(res.key.toString('hex'), kept);
      held = res.key;
      if (lostEarly) {
        const err = lostEarly;
        // Told after the lock() call has answered, as every later loss is.
        queueMicrotask(() => lost(res.key, err));
      }
      return {
        index: Number(res.header?.revision ?? 0n),
        value: new Value(res.key, EMPTY, 0, 0, 0, 0, granted.ID),
        lockKey: res.key.toString('utf8'),
      };
    } catch (err) {
      kept.remove();
      if (!conn.closed) await conn.unary(LeaseService.leaseRevoke, { ID: granted.ID }).catch(() => undefined);
      throw err;
    }
  });
}

/**
 * `lock_with_lease(key, lease)`: waits for the lock on `name` held by the caller's own lease, which the caller
 * keeps alive and revokes. Unlike C++ (which leaves it 0), `value().lease()` is that lease.
 */
export function lockWithLease(conn: Connection, name: Buffer, lease: bigint): Promise<Response> {
  return respond(conn, 'lock', async () => {
    const res = await conn.unary(LockService.lock, { name, lease }, { retry: false });
    return {
      index: Number(res.header?.revision ?? 0n),
      value: new Value(res.key, EMPTY, 0, 0, 0, 0, lease),
      lockKey: res.key.toString('utf8'),
    };
  });
}

/**
 * `unlock(lock_key)`: deletes the lock key. If the lock came from `lock()` on this client, its keepalive is
 * cancelled and its lease revoked (awaited) — whatever Unlock answered, so a lock whose Unlock failed is still
 * released by the revoke.
 */
export async function unlock(conn: Connection, key: Buffer): Promise<Response> {
  const res = await respond(conn, 'unlock', async () => {
    const r = await conn.unary(LockService.unlock, { key });
    return { index: Number(r.header?.revision ?? 0n) };
  });
  const locks = locksOf(conn);
  const id = key.toString('hex');
  const kept = locks.get(id);
  if (kept) {
    locks.delete(id);
    kept.remove();
    // A failed revoke (client closing, cluster down) leaves the lease to expire after its TTL.
    await conn.unary(LeaseService.leaseRevoke, { ID: kept.id }).catch(() => undefined);
  }
  return res;
}
