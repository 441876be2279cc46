// Key-value calls with etcd-cpp-apiv3's semantics: which request each sends and what its Response holds
// (as C++ etcd::Client does). Arguments arrive here already checked by the Client.

import {
  DeleteRangeRequest,
  KVService,
  PutRequest,
  RangeRequest,
  type TxnRequest,
  type TxnResponse,
} from '../generated/etcdserver/etcdserverpb/rpc';
import type { Connection } from './connection';
import {
  ERROR_COMPARE_FAILED,
  ERROR_KEY_ALREADY_EXISTS,
  ERROR_KEY_NOT_FOUND,
  MESSAGE_COMPARE_FAILED,
  MESSAGE_KEY_ALREADY_EXISTS,
  MESSAGE_KEY_NOT_FOUND,
} from './errors';
import { listingSwitch, listRange, operationDeadline } from './listing';
import { respond } from './respond';
import { Value, type Response, type ResponseInit } from './response';
import { compare, CompareTarget, putOp, rangeOp, deleteOp } from './txn';
import { Compare_CompareResult } from '../generated/etcdserver/etcdserverpb/rpc';

export const ACTION_GET = 'get';
export const ACTION_SET = 'set';
export const ACTION_CREATE = 'create';
export const ACTION_UPDATE = 'update';
export const ACTION_DELETE = 'delete';
export const ACTION_COMPARE_SWAP = 'compareAndSwap';
export const ACTION_COMPARE_DELETE = 'compareAndDelete';
export const ACTION_TXN = 'txn';

const EMPTY = Buffer.alloc(0);
const NUL = Buffer.from([0]);

const notFound = (index: number): ResponseInit => ({ code: ERROR_KEY_NOT_FOUND, message: MESSAGE_KEY_NOT_FOUND, index });

// Every field at its default, built once: get and put copy these and set their own fields, where
// `fromPartial` would build a fresh base (two empty Buffers) and test every field on each call.
const RANGE_DEFAULTS: Readonly<RangeRequest> = Object.freeze(RangeRequest.fromPartial({}));
const PUT_DEFAULTS: Readonly<PutRequest> = Object.freeze(PutRequest.fromPartial({}));

/** `head()`: the store revision and the answering member's identity, from a one-key range. */
export function head(conn: Connection): Promise<Response> {
  return respond(conn, ACTION_GET, async () => {
    const res = await conn.unary(KVService.range, RangeRequest.fromPartial({ key: NUL, limit: 1n }));
    const h = res.header;
    return {
      index: Number(h?.revision ?? 0n),
      clusterId: h?.clusterId ?? 0n,
      memberId: h?.memberId ?? 0n,
      raftTerm: h?.raftTerm ?? 0n,
    };
  });
}

/** `get(key[, revision])`: one key, at the latest or a past revision; 100 when absent. */
export function get(conn: Connection, key: Buffer, revision: number): Promise<Response> {
  return respond(conn, ACTION_GET, async () => {
    const res = await conn.unary(KVService.range, { ...RANGE_DEFAULTS, key, revision: BigInt(revision) });
    const index = Number(res.header?.revision ?? 0n);
    const kv = res.kvs[0];
    if (!kv) return notFound(index);
    return { index, value: Value.fromKv(kv) };
  });
}

/** `set`/`put`: unconditional write; `prev_value()` is the old kv, `value()` stays empty as in C++. */
export function put(conn: Connection, key: Buffer, value: Buffer, lease: bigint): Promise<Response> {
  return respond(conn, ACTION_SET, async () => {
    const res = await conn.unary(KVService.put, { ...PUT_DEFAULTS, key, value, lease, prevKv: true });
    const init: ResponseInit = { index: Number(res.header?.revision ?? 0n) };
    if (res.prevKv) init.prevValue = Value.fromKv(res.prevKv);
    return init;
  });
}

/** The common reading of a txn response, as C++ reads it. */
export function parseTxn(res: TxnResponse): ResponseInit & { succeeded: boolean } {
  const values: Value[] = [];
  const prevValues: Value[] = [];
  for (const op of res.responses) {
    const r = op.response;
    if (!r) continue;
    switch (r.$case) {
      case 'responseRange':
        for (const kv of r.responseRange.kvs) values.push(Value.fromKv(kv));
        break;
      case 'responsePut':
        prevValues.push(r.responsePut.prevKv ? Value.fromKv(r.responsePut.prevKv) : new Value());
        break;
      case 'responseDeleteRange':
        for (const kv of r.responseDeleteRange.prevKvs) {
          const v = Value.fromKv(kv);
          values.push(v);
          prevValues.push(v);
        }
        break;
      case 'responseTxn':
        break;
    }
  }
  const init: ResponseInit & { succeeded: boolean } = {
    succeeded: res.succeeded,
    index: Number(res.header?.revision ?? 0n),
    values,
  };
  if (values[0]) init.value = values[0];
  if (prevValues[0]) init.prevValue = prevValues[0];
  return init;
}

function txnCall(conn: Connection, request: TxnRequest): Promise<TxnResponse> {
  return conn.unary(KVService.txn, request);
}

/** `add`: create only if absent; 105 with the existing kv (untouched) otherwise. */
export function add(conn: Connection, key: Buffer, value: Buffer, lease: bigint): Promise<Response> {
  return respond(conn, ACTION_CREATE, async () => {
    const r = parseTxn(
      await txnCall(conn, {
        compare: [compare(key, CompareTarget.MOD, Compare_CompareResult.EQUAL, 0n)],
        success: [putOp(key, value, lease, false), rangeOp(key, EMPTY, 0)],
        failure: [rangeOp(key, EMPTY, 0)],
      }),
    );
    if (!r.succeeded) return { ...r, code: ERROR_KEY_ALREADY_EXISTS, message: MESSAGE_KEY_ALREADY_EXISTS, prevValue: undefined };
    return { ...r, prevValue: undefined };
  });
}

/** `modify`: update only if present; 100 with action "" and index 0 otherwise (as C++). */
export function modify(conn: Connection, key: Buffer, value: Buffer, lease: bigint): Promise<Response> {
  return respond(conn, ACTION_UPDATE, async () => {
    const r = parseTxn(
      await txnCall(conn, {
        compare: [compare(key, CompareTarget.VERSION, Compare_CompareResult.GREATER, 0n)],
        success: [putOp(key, value, lease, true), rangeOp(key, EMPTY, 0)],
        failure: [rangeOp(key, EMPTY, 0)],
      }),
    );
    if (!r.succeeded) return { code: ERROR_KEY_NOT_FOUND, message: MESSAGE_KEY_NOT_FOUND, action: '', index: 0 };
    return r;
  });
}

/** The compare of modify_if / rm_if: a string (bytes) old value compares VALUE, a number compares MOD. */
function expectation(key: Buffer, old: Buffer | number) {
  return typeof old === 'number'
    ? compare(key, CompareTarget.MOD, Compare_CompareResult.EQUAL, BigInt(old))
    : compare(key, CompareTarget.VALUE, Compare_CompareResult.EQUAL, old);
}

/** `modify_if`: update only if the value (or mod revision) matches; 101 with the current kv otherwise. */
export function modifyIf(conn: Connection, key: Buffer, value: Buffer, old: Buffer | number, lease: bigint): Promise<Response> {
  return respond(conn, ACTION_COMPARE_SWAP, async () => {
    const r = parseTxn(
      await txnCall(conn, {
        compare: [expectation(key, old)],
        success: [putOp(key, value, lease, false), rangeOp(key, EMPTY, 0)],
        failure: [rangeOp(key, EMPTY, 0)],
      }),
    );
    // A put without prev_kv contributes an empty prev value; C++ leaves prev_value() empty here too.
    if (!r.succeeded) return { ...r, code: ERROR_COMPARE_FAILED, message: MESSAGE_COMPARE_FAILED };
    return r;
  });
}

/** `rm`: delete one key; 100 when there was none. */
export function rm(conn: Connection, key: Buffer): Promise<Response> {
  return deleteRange(conn, key, EMPTY);
}

/** `rm_if`: delete only if the value (or mod revision) matches; 101 with the current kv otherwise. */
export function rmIf(conn: Connection, key: Buffer, old: Buffer | number): Promise<Response> {
  return respond(conn, ACTION_COMPARE_DELETE, async () => {
    const r = parseTxn(
      await txnCall(conn, {
        compare: [expectation(key, old)],
        success: [deleteOp(key, EMPTY, true)],
        failure: [rangeOp(key, EMPTY, 0)],
      }),
    );
    if (!r.succeeded) return { ...r, code: ERROR_COMPARE_FAILED, message: MESSAGE_COMPARE_FAILED, prevValue: undefined };
    return r;
  });
}

/** `rm` / `rmdir`: delete `[key, rangeEnd)` (one key if rangeEnd is empty); every deleted kv in `values()`. */
export function deleteRange(conn: Connection, key: Buffer, rangeEnd: Buffer): Promise<Response> {
  if (rangeEnd.length > 0) return deleteListed(conn, key, rangeEnd);
  return respond(conn, ACTION_DELETE, async () => deleteWithPrevKvs(conn, key, rangeEnd));
}

/** One DeleteRange that returns what it deleted: exact, but its answer is one message of every deleted kv. */
async function deleteWithPrevKvs(conn: Connection, key: Buffer, rangeEnd: Buffer, signal?: AbortSignal): Promise<ResponseInit> {
  const request = DeleteRangeRequest.fromPartial({ key, rangeEnd, prevKv: true });
  const res = await conn.unary(KVService.deleteRange, request, signal ? { timeout: false, signal } : {});
  return deleted(Number(res.header?.revision ?? 0n), res.prevKvs.map((kv) => Value.fromKv(kv)));
}

function deleted(index: number, values: Value[]): ResponseInit {
  if (values.length === 0) return notFound(index);
  return { index, values, value: values[0]!, prevValue: values[0]! };
}

/** How often rmdir lists again because the range changed between its listing and its delete. */
const RMDIR_ATTEMPTS = 3;

/**
 * `rmdir` of a range, with a result of any size. A DeleteRange with prev_kv would answer with every deleted kv
 * in one message, bounded by message-size limits. Instead: list the range at revision R (listing.ts: streamed
 * or paged), then delete it in a Txn that holds only if no key in the range was created or modified after R
 * (`mod_revision < R + 1` over the range), without prev_kv. If the compare fails, list again; after
 * RMDIR_ATTEMPTS, fall back to the single DeleteRange with prev_kv. If keys were deleted by someone else
 * between R and the delete (the Txn deleted fewer keys than were listed), the keys present just before the
 * delete are read at the revision before it, so `values()` holds exactly what this call deleted. `index()` is
 * the delete's revision, as with one DeleteRange. The whole call runs under one `set_grpc_timeout` deadline.
 */
function deleteListed(conn: Connection, key: Buffer, rangeEnd: Buffer): Promise<Response> {
  return respond(conn, ACTION_DELETE, async () => {
    const deadline = operationDeadline(conn);
    const signal = deadline.signal;
    const options = signal ? { timeout: false, signal } : {};
    try {
      for (let attempt = 1; attempt <= RMDIR_ATTEMPTS; attempt++) {
        const listing = await listRange(conn, { key, rangeEnd, limit: 0, revision: 0, keysOnly: false }, signal);
        await listingSwitch.afterRmdirListing?.(attempt);
        const res = await conn.unary(
          KVService.txn,
          {
            compare: [compare(key, CompareTarget.MOD, Compare_CompareResult.LESS, BigInt(listing.index) + 1n, rangeEnd)],
            success: [deleteOp(key, rangeEnd, false)],
            failure: [],
          },
          options,
        );
        if (!res.succeeded) continue;
        const index = Number(res.header?.revision ?? 0n);
        const op = res.responses[0]?.response;
        const count = op?.$case === 'responseDeleteRange' ? Number(op.responseDeleteRange.deleted) : 0;
        if (count === listing.values.length) return deleted(index, listing.values);
        // Some listed keys were deleted by others before our delete: keep those still present just before it.
        const before = await listRange(conn, { key, rangeEnd, limit: 0, revision: index - 1, keysOnly: true }, signal);
        const present = new Set(before.values.map((v) => v.key_bytes().toString('latin1')));
        return deleted(index, listing.values.filter((v) => present.has(v.key_bytes().toString('latin1'))));
      }
      return await deleteWithPrevKvs(conn, key, rangeEnd, signal);
    } finally {
      deadline.done();
    }
  });
}

/**
 * `ls` / `keys`: every key in `[key, rangeEnd)`, ascending; an empty result is success. Read at one revision
 * through RangeStream or pages of Range (listing.ts), so its size is bounded by memory only.
 */
export function list(
  conn: Connection,
  key: Buffer,
  rangeEnd: Buffer,
  limit: number,
  revision: number,
  keysOnly: boolean,
): Promise<Response> {
  return respond(conn, ACTION_GET, async () => {
    const deadline = operationDeadline(conn);
    try {
      const { index, values } = await listRange(conn, { key, rangeEnd, limit, revision, keysOnly }, deadline.signal);
      const init: ResponseInit = { index, values };
      if (values[0]) init.value = values[0];
      return init;
    } finally {
      deadline.done();
    }
  });
}

/** `txn(t)`: values from ranges and deletes, prev values from puts and deletes; 101 when compares failed. */
export function txn(conn: Connection, request: TxnRequest): Promise<Response> {
  return respond(conn, ACTION_TXN, async () => {
    const r = parseTxn(await txnCall(conn, request));
    if (!r.succeeded) return { ...r, code: ERROR_COMPARE_FAILED, message: MESSAGE_COMPARE_FAILED };
    return r;
  });
}
