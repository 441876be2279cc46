// Cluster membership (C++ add_member / list_member / remove_member). Unlike C++, these work on every kind
// of client (TLS, auth, options), because all services share one channel.

import { ClusterService } from '../generated/etcdserver/etcdserverpb/rpc';
import { ClientSlot, type Connection } from './connection';
import { respond } from './respond';
import { Member, type Response } from './response';

/**
 * etcd ignores a membership change proposed while another is still pending, and the ignored call then waits
 * for its deadline (forever without one). So each client sends its membership changes one at a time.
 */
const CHANGE_QUEUE = new ClientSlot<Promise<unknown>>('membership change queue');

function oneAtATime(conn: Connection, change: () => Promise<Response>): Promise<Response> {
  const previous = conn.peekSlot(CHANGE_QUEUE) ?? Promise.resolve();
  const next = previous.then(change, change);
  conn.setSlot(CHANGE_QUEUE, next.catch(() => {}));
  return next;
}

/** `add_member(peer_urls, is_learner)`: `peer_urls` is comma-separated. The new member is in `members()`. */
export function addMember(conn: Connection, peerURLs: string[], isLearner: boolean): Promise<Response> {
  return oneAtATime(conn, () => respond(conn, 'addmember', async () => {
    const res = await conn.unary(ClusterService.memberAdd, { peerURLs, isLearner });
    return { index: Number(res.header?.revision ?? 0n), members: res.member ? [new Member(res.member)] : [] };
  }));
}

/** `list_member()`: every member in `members()`. */
export function listMembers(conn: Connection): Promise<Response> {
  return respond(conn, 'listmember', async () => {
    // The request C++ sends: the answering member's own view (3.5+ reads through raft only when asked to).
    const res = await conn.unary(ClusterService.memberList, { linearizable: false });
    return { index: Number(res.header?.revision ?? 0n), members: res.members.map((m) => new Member(m)) };
  });
}

/** `remove_member(id)`. */
export function removeMember(conn: Connection, id: bigint): Promise<Response> {
  return oneAtATime(conn, () => respond(conn, 'removemember', async () => {
    const res = await conn.unary(ClusterService.memberRemove, { ID: id });
    return { index: Number(res.header?.revision ?? 0n) };
  }));
}
