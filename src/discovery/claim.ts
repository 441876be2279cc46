// The one etcd-specific step of a registration: write the instance's key under a lease in one transaction,
// only if nobody else holds it, and otherwise find out who does. Used by Registration for the first write
// (create-if-absent), a repair (the key was deleted under a live lease) and a restore (move the key from the
// lost lease to the new one).

import { ERROR_COMPARE_FAILED, ERROR_GRPC_NOT_FOUND, Transaction, type Response, type Value } from '../core';
import { EtcdError } from '../errors';

/** What a conditional write of the key found. */
export type Claim =
  /** Written now, under the lease, as of `revision`. */
  | { kind: 'written'; revision: number }
  /** Already under the lease: our own write whose answer was lost and retried, or someone writing under our lease. */
  | { kind: 'mine'; revision: number }
  /** Someone else holds the key (another lease, or none). */
  | { kind: 'held'; holder: Value }
  /** Not written, yet not there either (the `from` lease no longer holds it, and nothing does). */
  | { kind: 'absent' }
  /** etcd refused; `leaseGone` when it was because the lease no longer exists. */
  | { kind: 'failed'; error: Error; leaseGone: boolean };

/** The one call of a client a claim makes. */
export interface TxnClient {
  txn(t: Transaction): Promise<Response>;
}

/** The EtcdError of a refused write: `<what> <who>: etcd answered <code> <message>`, with etcd's code and details. */
export function etcdError(what: string, who: string, r: Response): EtcdError {
  return new EtcdError(`${what} ${who}: etcd answered ${r.error_code()} ${r.error_message()}`, r.error_code(), r.error_message());
}

/**
 * Writes `key` = `value` under `lease` in one transaction if the key is absent (or, with `from`, if it is held
 * by the lease `from`); otherwise reads who holds it. `who` names the registration in an error
 * (`service 'x' instance 'y'`).
 * @throws ClientClosedError (from the client)
 */
export async function claim(client: TxnClient, who: string, key: string, value: string, lease: bigint, from?: bigint): Promise<Claim> {
  const t = new Transaction();
  if (from === undefined) t.add_compare_create(key, 0);
  else t.add_compare_lease(key, from);
  t.add_success_put(key, value, lease);
  t.add_failure_range(key);
  const r = await client.txn(t);
  if (r.is_ok()) return { kind: 'written', revision: r.index() };
  if (r.error_code() !== ERROR_COMPARE_FAILED) {
    // A put under a lease etcd does not know fails with NOT_FOUND ('requested lease not found').
    return { kind: 'failed', error: etcdError('cannot register', who, r), leaseGone: r.error_code() === ERROR_GRPC_NOT_FOUND };
  }
  const holder = r.values()[0];
  if (!holder) return { kind: 'absent' };
  if (holder.lease() === lease) return { kind: 'mine', revision: r.index() };
  return { kind: 'held', holder };
}
