// The transaction builder of etcd-cpp-apiv3 (`etcdv3::Transaction`): compares, then the ops to run when they
// all hold (success) or when one fails (failure). `client.txn(t)` sends it.

import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../generated/etcdserver/etcdserverpb/rpc';
import { describe, prefixEnd, toBool, toBytes, toLeaseId, toNonNegativeInt, type Bytes } from './args';

/** How a compare relates the key's property to the given value (C++ `etcdv3::CompareResult`). */
export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];

/** Which property of the key a compare looks at (C++ `etcdv3::CompareTarget`). */
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];

const RESULTS: Record<CompareResult, Compare_CompareResult> = {
  0: Compare_CompareResult.EQUAL,
  1: Compare_CompareResult.GREATER,
  2: Compare_CompareResult.LESS,
  3: Compare_CompareResult.NOT_EQUAL,
};

function toResult(x: unknown): Compare_CompareResult {
  if (typeof x !== 'number' || !(x in RESULTS)) {
    throw new RangeError(`result must be a CompareResult (0-3), got ${describe(x)}`);
  }
  return RESULTS[x as CompareResult];
}

/**
 * The key range an op covers, as C++ `make_request_with_ranges` computes it: one key; with `recursive`,
 * every key with that prefix (`''` meaning every key); a non-empty `range_end` always wins.
 */
export function keyRange(key: Buffer, rangeEnd: Buffer, recursive: boolean): { key: Buffer; rangeEnd: Buffer } {
  let k = key;
  let end: Buffer = Buffer.alloc(0);
  if (recursive) {
    if (key.length === 0) {
      k = Buffer.from([0]);
      end = Buffer.from([0]);
    } else {
      end = prefixEnd(key);
    }
  }
  if (rangeEnd.length > 0) end = rangeEnd;
  return { key: k, rangeEnd: end };
}

/** @internal A range op for a txn. */
export function rangeOp(key: Buffer, rangeEnd: Buffer, limit: number, keysOnly = false): RequestOp {
  return {
    request: {
      $case: 'requestRange',
      requestRange: RangeRequest.fromPartial({ key, rangeEnd, limit: BigInt(limit), keysOnly }),
    },
  };
}

/** @internal A put op for a txn. */
export function putOp(key: Buffer, value: Buffer, lease: bigint, prevKv: boolean): RequestOp {
  return { request: { $case: 'requestPut', requestPut: PutRequest.fromPartial({ key, value, lease, prevKv }) } };
}

/** @internal A delete op for a txn. */
export function deleteOp(key: Buffer, rangeEnd: Buffer, prevKv: boolean): RequestOp {
  return {
    request: { $case: 'requestDeleteRange', requestDeleteRange: DeleteRangeRequest.fromPartial({ key, rangeEnd, prevKv }) },
  };
}

/** @internal A compare. */
export function compare(
  key: Buffer,
  target: CompareTarget,
  result: Compare_CompareResult,
  operand: bigint | Buffer,
  rangeEnd: Buffer = Buffer.alloc(0),
): Compare {
  let targetUnion: Compare['targetUnion'];
  let t: Compare_CompareTarget;
  switch (target) {
    case CompareTarget.VERSION:
      t = Compare_CompareTarget.VERSION;
      targetUnion = { $case: 'version', version: operand as bigint };
      break;
    case CompareTarget.CREATE:
      t = Compare_CompareTarget.CREATE;
      targetUnion = { $case: 'createRevision', createRevision: operand as bigint };
      break;
    case CompareTarget.MOD:
      t = Compare_CompareTarget.MOD;
      targetUnion = { $case: 'modRevision', modRevision: operand as bigint };
      break;
    case CompareTarget.VALUE:
      t = Compare_CompareTarget.VALUE;
      targetUnion = { $case: 'value', value: operand as Buffer };
      break;
    case CompareTarget.LEASE:
      t = Compare_CompareTarget.LEASE;
      targetUnion = { $case: 'lease', lease: operand as bigint };
      break;
  }
  return { key, target: t, result, targetUnion, rangeEnd };
}

function toInt64(name: string, x: unknown): bigint {
  if (typeof x === 'bigint') {
    if (BigInt.asIntN(64, x) !== x) throw new RangeError(`${name} must fit in 64 bits, got ${x}`);
    return x;
  }
  if (typeof x !== 'number') throw new TypeError(`${name} must be a number or bigint, got ${describe(x)}`);
  if (!Number.isSafeInteger(x)) throw new RangeError(`${name} must be a safe integer, got ${describe(x)}`);
  return BigInt(x);
}

function optionalBytes(name: string, x: unknown): Buffer {
  return x === undefined ? Buffer.alloc(0) : toBytes(name, x);
}

/**
 * Splits the C++ overloads `(key, operand, range_end?)` and `(key, result, operand, range_end?)`: with a
 * numeric third argument (or, for VALUE, a numeric second one) the second argument is the result.
 */
function splitCompareArgs(target: CompareTarget, a: unknown, b: unknown, c: unknown): [unknown, unknown, unknown] {
  const explicitResult =
    target === CompareTarget.VALUE ? typeof a === 'number' : typeof b === 'number' || typeof b === 'bigint';
  return explicitResult ? [a, b, c] : [CompareResult.EQUAL, a, b];
}

type ValueOrRevision = Bytes | number;

/**
 * A transaction under construction (C++ `etcdv3::Transaction`). Methods append; nothing is sent until
 * `client.txn(t)`. A Transaction can be sent more than once and nested with `add_success_txn`.
 */
export class Transaction {
  private readonly compares: Compare[] = [];
  private readonly success: RequestOp[] = [];
  private readonly failure: RequestOp[] = [];

  private addCompare(target: CompareTarget, key: unknown, a: unknown, b: unknown, c: unknown): void {
    const k = toBytes('key', key);
    const [result, operand, rangeEnd] = splitCompareArgs(target, a, b, c);
    const value = target === CompareTarget.VALUE ? toBytes('value', operand) : toInt64(targetName(target), operand);
    this.compares.push(compare(k, target, toResult(result), value, optionalBytes('range_end', rangeEnd)));
  }

  /** Compare the key's version (0 for a missing key). `(key, version, range_end?)` or `(key, result, version, range_end?)`. */
  add_compare_version(key: Bytes, version: number | bigint, range_end?: Bytes): void;
  add_compare_version(key: Bytes, result: CompareResult, version: number | bigint, range_end?: Bytes): void;
  add_compare_version(key: Bytes, a: unknown, b?: unknown, c?: unknown): void {
    this.addCompare(CompareTarget.VERSION, key, a, b, c);
  }
  /** Compare the key's create revision (0 for a missing key). */
  add_compare_create(key: Bytes, create_revision: number | bigint, range_end?: Bytes): void;
  add_compare_create(key: Bytes, result: CompareResult, create_revision: number | bigint, range_end?: Bytes): void;
  add_compare_create(key: Bytes, a: unknown, b?: unknown, c?: unknown): void {
    this.addCompare(CompareTarget.CREATE, key, a, b, c);
  }
  /** Compare the key's mod revision (0 for a missing key). */
  add_compare_mod(key: Bytes, mod_revision: number | bigint, range_end?: Bytes): void;
  add_compare_mod(key: Bytes, result: CompareResult, mod_revision: number | bigint, range_end?: Bytes): void;
  add_compare_mod(key: Bytes, a: unknown, b?: unknown, c?: unknown): void {
    this.addCompare(CompareTarget.MOD, key, a, b, c);
  }
  /** Compare the key's value (false for a missing key). */
  add_compare_value(key: Bytes, value: Bytes, range_end?: Bytes): void;
  add_compare_value(key: Bytes, result: CompareResult, value: Bytes, range_end?: Bytes): void;
  add_compare_value(key: Bytes, a: unknown, b?: unknown, c?: unknown): void {
    this.addCompare(CompareTarget.VALUE, key, a, b, c);
  }
  /** Compare the key's lease id (0 for none). */
  add_compare_lease(key: Bytes, lease: number | bigint, range_end?: Bytes): void;
  add_compare_lease(key: Bytes, result: CompareResult, lease: number | bigint, range_end?: Bytes): void;
  add_compare_lease(key: Bytes, a: unknown, b?: unknown, c?: unknown): void {
    this.addCompare(CompareTarget.LEASE, key, a, b, c);
  }

  private range(ops: RequestOp[], key: unknown, rangeEnd: unknown, recursive: unknown, limit: unknown): void {
    const r = keyRange(toBytes('key', key), optionalBytes('range_end', rangeEnd), recursive === undefined ? false : toBool('recursive', recursive));
    ops.push(rangeOp(r.key, r.rangeEnd, limit === undefined ? 0 : toNonNegativeInt('limit', limit)));
  }
  private put(ops: RequestOp[], key: unknown, value: unknown, leaseId: unknown, prevKv: unknown): void {
    ops.push(
      putOp(
        toBytes('key', key),
        toBytes('value', value),
        leaseId === undefined ? 0n : toLeaseId('leaseid', leaseId),
        prevKv === undefined ? false : toBool('prev_kv', prevKv),
      ),
    );
  }
  private del(ops: RequestOp[], key: unknown, rangeEnd: unknown, recursive: unknown, prevKv: unknown): void {
    const r = keyRange(toBytes('key', key), optionalBytes('range_end', rangeEnd), recursive === undefined ? false : toBool('recursive', recursive));
    ops.push(deleteOp(r.key, r.rangeEnd, prevKv === undefined ? false : toBool('prev_kv', prevKv)));
  }
  private nested(ops: RequestOp[], txn: unknown): void {
    if (!(txn instanceof Transaction)) throw new TypeError(`txn must be a Transaction, got ${describe(txn)}`);
    ops.push({ request: { $case: 'requestTxn', requestTxn: txn.toRequest() } });
  }

  /** On success, read `key` (or its prefix with `recursive`, or `[key, range_end)`), up to `limit` keys. */
  add_success_range(key: Bytes, range_end: Bytes = '', recursive = false, limit = 0): void {
    this.range(this.success, key, range_end, recursive, limit);
  }
  /** On success, write `key`; `prev_kv` asks for the old value in the response. */
  add_success_put(key: Bytes, value: Bytes, leaseid: number | bigint = 0, prev_kv = false): void {
    this.put(this.success, key, value, leaseid, prev_kv);
  }
  /** On success, delete `key` (or its prefix, or `[key, range_end)`). */
  add_success_delete(key: Bytes, range_end: Bytes = '', recursive = false, prev_kv = false): void {
    this.del(this.success, key, range_end, recursive, prev_kv);
  }
  /** On success, run a nested transaction (its state is captured now). */
  add_success_txn(txn: Transaction): void {
    this.nested(this.success, txn);
  }
  /** On failure, read `key` (or a prefix or range). */
  add_failure_range(key: Bytes, range_end: Bytes = '', recursive = false, limit = 0): void {
    this.range(this.failure, key, range_end, recursive, limit);
  }
  /** On failure, write `key`. */
  add_failure_put(key: Bytes, value: Bytes, leaseid: number | bigint = 0, prev_kv = false): void {
    this.put(this.failure, key, value, leaseid, prev_kv);
  }
  /** On failure, delete `key` (or a prefix or range). */
  add_failure_delete(key: Bytes, range_end: Bytes = '', recursive = false, prev_kv = false): void {
    this.del(this.failure, key, range_end, recursive, prev_kv);
  }
  /** On failure, run a nested transaction. */
  add_failure_txn(txn: Transaction): void {
    this.nested(this.failure, txn);
  }

  /** A string `prev` compares VALUE, a number compares MOD (as the C++ int64 overloads do). */
  private prevCompare(key: unknown, prev: unknown, result: Compare_CompareResult): void {
    const k = toBytes('key', key);
    if (typeof prev === 'number' || typeof prev === 'bigint') {
      this.compares.push(compare(k, CompareTarget.MOD, result, toInt64('prev_revision', prev)));
    } else {
      this.compares.push(compare(k, CompareTarget.VALUE, result, toBytes('prev_value', prev)));
    }
    this.failure.push(rangeOp(k, Buffer.alloc(0), 0));
  }

  /** If `key`'s value (string) or mod revision (number) equals `prev`, put `create_key` = `value`; else read `key`. */
  setup_compare_and_create(key: Bytes, prev: ValueOrRevision, create_key: Bytes, value: Bytes, leaseid: number | bigint = 0): void {
    this.prevCompare(key, prev, Compare_CompareResult.EQUAL);
    this.put(this.success, create_key, value, leaseid, false);
  }
  /** If `key` does not match `prev`, put `create_key` = `value`; else read `key`. */
  setup_compare_or_create(key: Bytes, prev: ValueOrRevision, create_key: Bytes, value: Bytes, leaseid: number | bigint = 0): void {
    this.prevCompare(key, prev, Compare_CompareResult.NOT_EQUAL);
    this.put(this.success, create_key, value, leaseid, false);
  }
  /** If `key` matches `prev`, set it to `value`; else read it (so `value()` is the current one). */
  setup_compare_and_swap(key: Bytes, prev: ValueOrRevision, value: Bytes, leaseid: number | bigint = 0): void {
    this.prevCompare(key, prev, Compare_CompareResult.EQUAL);
    this.put(this.success, key, value, leaseid, false);
  }
  /** If `key` does not match `prev`, set it to `value`; else read it. */
  setup_compare_or_swap(key: Bytes, prev: ValueOrRevision, value: Bytes, leaseid: number | bigint = 0): void {
    this.prevCompare(key, prev, Compare_CompareResult.NOT_EQUAL);
    this.put(this.success, key, value, leaseid, false);
  }
  /** If `key` matches `prev`, delete `delete_key` (or a prefix or range); else read `key`. */
  setup_compare_and_delete(key: Bytes, prev: ValueOrRevision, delete_key: Bytes, range_end: Bytes = '', recursive = false): void {
    this.prevCompare(key, prev, Compare_CompareResult.EQUAL);
    this.del(this.success, delete_key, range_end, recursive, true);
  }
  /** If `key` does not match `prev`, delete `delete_key`; else read `key`. */
  setup_compare_or_delete(key: Bytes, prev: ValueOrRevision, delete_key: Bytes, range_end: Bytes = '', recursive = false): void {
    this.prevCompare(key, prev, Compare_CompareResult.NOT_EQUAL);
    this.del(this.success, delete_key, range_end, recursive, true);
  }
  /** Unconditionally put `key` = `value`. */
  setup_put(key: Bytes, value: Bytes): void {
    this.put(this.success, key, value, 0, false);
  }
  /** Unconditionally delete `key` (or a prefix or range), returning the deleted values. */
  setup_delete(key: Bytes, range_end: Bytes = '', recursive = false): void {
    this.del(this.success, key, range_end, recursive, true);
  }

  /** @internal The request `client.txn` sends (C++ `txn_request`). */
  toRequest(): TxnRequest {
    return { compare: [...this.compares], success: [...this.success], failure: [...this.failure] };
  }
}

function targetName(t: CompareTarget): string {
  return ['version', 'create_revision', 'mod_revision', 'value', 'lease'][t]!;
}
