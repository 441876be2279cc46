// Leader election on etcd's server-side election service (v3election), interoperable with etcdctl and Go's
// concurrency.Election (C++ campaign / proclaim / leader / resign). Observing is observer.ts.

import { ElectionService, type LeaderKey } from '../generated/etcdserver/api/v3election/v3electionpb/v3election';
import type { Connection } from './connection';
import { respond } from './respond';
import { Value, type Response } from './response';

const EMPTY = Buffer.alloc(0);

/**
 * `campaign(name, lease, value)`: waits (server-side, never retried) until this lease leads `name`. `value()`
 * describes the leader key: `key()` = leader key, `created_index()` = its revision, `lease()`; `as_string()` is
 * '' as in C++. `name()` is the election name. A timeout (`set_grpc_timeout`) answers 4 'gRPC timeout'.
 */
export function campaign(conn: Connection, name: Buffer, lease: bigint, value: Buffer): Promise<Response> {
  return respond(conn, 'campaign', async () => {
    const res = await conn.unary(ElectionService.campaign, { name, lease, value }, { retry: false });
    const leader = res.leader;
    return {
      index: Number(res.header?.revision ?? 0n),
      value: leader ? new Value(leader.key, EMPTY, Number(leader.rev), 0, 0, 0, leader.lease) : new Value(),
      name: (leader?.name ?? name).toString('utf8'),
    };
  });
}

function leaderKey(name: Buffer, lease: bigint, key: Buffer, rev: number): LeaderKey {
  return { name, key, rev: BigInt(rev), lease };
}

/** `proclaim(name, lease, key, rev, value)`: the leader publishes a new value. Action "proclaim" (C++ "preclaim"). */
export function proclaim(conn: Connection, name: Buffer, lease: bigint, key: Buffer, rev: number, value: Buffer): Promise<Response> {
  return respond(conn, 'proclaim', async () => {
    const res = await conn.unary(ElectionService.proclaim, { leader: leaderKey(name, lease, key, rev), value });
    return { index: Number(res.header?.revision ?? 0n), name: name.toString('utf8') };
  });
}

/** `leader(name)`: the current leader's full kv in `value()`; no leader: the server's error, passed through. */
export function leader(conn: Connection, name: Buffer): Promise<Response> {
  return respond(conn, 'leader', async () => {
    const res = await conn.unary(ElectionService.leader, { name });
    return {
      index: Number(res.header?.revision ?? 0n),
      value: res.kv ? Value.fromKv(res.kv) : new Value(),
      name: name.toString('utf8'),
    };
  });
}

/** `resign(name, lease, key, rev)`: gives up leadership (deletes the leader key). */
export function resign(conn: Connection, name: Buffer, lease: bigint, key: Buffer, rev: number): Promise<Response> {
  return respond(conn, 'resign', async () => {
    const res = await conn.unary(ElectionService.resign, { leader: leaderKey(name, lease, key, rev) });
    return { index: Number(res.header?.revision ?? 0n), name: name.toString('utf8') };
  });
}
