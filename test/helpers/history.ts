// etcd's own history of a prefix, read without the watch engine: the reference the watch and fail-over tests
// compare against (never a second watcher on the engine under test).

import * as assert from 'uvu/assert';
import { RangeRequest } from '../../generated/etcdserver/etcdserverpb/rpc';
import { EventType, type Client } from '../../src/index';
import type { Seen } from './watch';

/** A writer's own log of acknowledged writes. */
export type WriteLog = { key: string; value: string; rev: number }[];

/** The end of the key range holding every key that starts with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  return end;
}

/**
 * etcd's history of `prefix` over [fromRev, toRev], as the events a watch must deliver. These tests only put, so
 * the event at revision r is the key whose mod_revision is r, read by a raw Range at r filtered to that revision
 * (a revision with no such key is another prefix's write). Nothing here goes through the watch engine.
 */
export async function etcdHistory(client: Client, prefix: string, fromRev: number, toRev: number): Promise<Seen[]> {
  const out: Seen[] = [];
  const key = Buffer.from(prefix);
  const rangeEnd = prefixEnd(prefix);
  for (let rev = fromRev; rev <= toRev; rev++) {
    const r = await client.raw.kv.range(
      RangeRequest.fromPartial({ key, rangeEnd, revision: BigInt(rev), minModRevision: BigInt(rev), maxModRevision: BigInt(rev) }),
    );
    for (const kv of r.kvs) {
      out.push({ type: EventType.PUT, key: kv.key.toString('utf8'), value: kv.value.toString('utf8'), rev: Number(kv.modRevision) });
    }
  }
  return out;
}

/** Every acknowledged write of the writer's own log is in etcd's history, with its key, value and revision. */
export function assertLogInHistory(log: WriteLog, history: Seen[], what: string): void {
  const byRev = new Map(history.map((h) => [h.rev, h]));
  for (const w of log) {
    const h = byRev.get(w.rev);
    assert.ok(h, `${what}: the acknowledged write ${w.key}=${w.value} at ${w.rev} is not in etcd's history`);
    assert.equal({ key: h.key, value: h.value }, { key: w.key, value: w.value }, `${what}: etcd's revision ${w.rev}`);
  }
}

/**
 * At most once: no value appears twice in etcd's history. The writers in these tests give every write a value of
 * its own, so a write applied twice (a retry of a put that had already landed) shows up as a repeated value.
 */
export function assertEachValueOnce(history: Seen[], what: string): void {
  const revsOf = new Map<string, number[]>();
  for (const h of history) revsOf.set(`${h.key}=${h.value}`, [...(revsOf.get(`${h.key}=${h.value}`) ?? []), h.rev]);
  const twice = [...revsOf].filter(([, revs]) => revs.length > 1).map(([kv, revs]) => `${kv} at ${revs.join(', ')}`);
  assert.equal(twice, [], `${what}: writes applied more than once`);
}
