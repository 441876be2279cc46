// Listings of any size: what `ls`, `keys` and `rmdir` read. One Range answers with one message, so a big
// enough range would be bounded by a message-size limit (the server's, or one a user set on the channel) and
// would sit in memory twice, undecoded and decoded. A listing here is read in pieces instead, all at one
// revision, decoding each piece as it arrives:
//
// - etcd >= 3.7: KV.RangeStream. The server splits the result into chunks (near its --max-request-bytes each)
//   and pins the revision it saw for the first one; header, more and count come on the last chunk only.
// - older servers (RangeStream answers UNIMPLEMENTED): pages of Range, by key. The first page fixes the
//   revision (the caller's, or the store's at that moment); every later page reads at it, starting after the
//   last key of the page before. Page sizes adapt to the bytes per key seen so far (PAGE_BYTES each).
//
// Both give what one Range would: the same kvs in key order and, as `index`, the header revision of the first
// read (for a read at a past revision, etcd reports the store's current one, as Range does).

import type { KeyValue } from '../generated/mvcc/mvccpb/kv';
import { KVService, RangeRequest, type RangeStreamResponse } from '../generated/etcdserver/etcdserverpb/rpc';
import { ClientSlot, type Connection } from './connection';
import { ClientClosedError, ERROR_GRPC_DEADLINE_EXCEEDED, ERROR_GRPC_INTERNAL, ERROR_GRPC_OUT_OF_RANGE, ERROR_GRPC_UNIMPLEMENTED, GrpcStatusError } from './errors';
import { Value } from './response';
import { backoffMs, mayRetry, MAX_UNARY_ATTEMPTS } from './retry';
import { classifyEnd } from './stream-end';
import { trace } from './trace';
import type { StreamCall } from './transport/transport';

/** What to list: `[key, rangeEnd)`, at most `limit` keys (0 = all), at `revision` (0 = latest). */
export interface ListRequest {
  key: Buffer;
  rangeEnd: Buffer;
  limit: number;
  revision: number;
  keysOnly: boolean;
}

export interface Listing {
  /** Header revision of the read (C++ `index()`). */
  index: number;
  values: Value[];
}

/** Which path the listing took (tests check it). */
export type ListingPath = 'stream' | 'pages';

/**
 * @internal Test seams: `force` makes every listing take one path (on a server without RangeStream, 'stream'
 * still falls back to pages); `last` is the path the latest listing took; `afterRmdirListing` runs between
 * rmdir's listing and its delete (to change the range in between).
 */
export const listingSwitch: {
  force: ListingPath | undefined;
  last: ListingPath | undefined;
  afterRmdirListing: ((attempt: number) => Promise<void>) | undefined;
} = { force: undefined, last: undefined, afterRmdirListing: undefined };

/** Target size of one Range page, in key + value bytes. */
const PAGE_BYTES = 1024 * 1024;
/** First page: small enough that even keys with etcd's largest values (1.5 MiB) stay a bounded page. */
const FIRST_PAGE_KEYS = 100;
const MAX_PAGE_KEYS = 10_000;
/** Per-kv overhead on the wire beyond key and value (revisions, version, lease, tags). */
const KV_OVERHEAD_BYTES = 24;
/** After RangeStream was refused as unknown, how long this client pages without asking again. */
const STREAM_UNKNOWN_MS = 60_000;
/** How often a listing starts over after its pinned revision was compacted away between pages. */
const MAX_COMPACTED_RESTARTS = 3;

const NUL = Buffer.from([0]);
const RANGE_PATH = KVService.range.path;

/** When this client last saw RangeStream refused as unknown. */
const STREAM_UNKNOWN_SINCE = new ClientSlot<number>('RangeStream refused at');

/**
 * A deadline for a whole multi-call operation (a listing, rmdir), from `set_grpc_timeout`: its signal aborts
 * with the DEADLINE_EXCEEDED that reads "gRPC timeout", as one call past its deadline does.
 */
export function operationDeadline(conn: Connection): { signal: AbortSignal | undefined; done(): void } {
  const deadline = conn.deadline();
  if (deadline === undefined) return { signal: undefined, done() {} };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new GrpcStatusError(ERROR_GRPC_DEADLINE_EXCEEDED, 'Deadline exceeded', undefined, true)), deadline - Date.now());
  return { signal: ac.signal, done: () => clearTimeout(timer) };
}

/**
 * Reads `[key, rangeEnd)` at one revision, whatever its size: through RangeStream when the server has it,
 * else through pages of Range. Rejects with the GrpcStatusError of a failed read (or `signal`'s reason,
 * ClientClosedError when the client closes).
 */
export async function listRange(conn: Connection, req: ListRequest, signal?: AbortSignal): Promise<Listing> {
  const refused = conn.peekSlot(STREAM_UNKNOWN_SINCE);
  const streamKnownMissing = refused !== undefined && Date.now() - refused < STREAM_UNKNOWN_MS;
  if (listingSwitch.force !== 'pages' && !streamKnownMissing) {
    const streamed = await viaStream(conn, req, signal);
    if (streamed) {
      listingSwitch.last = 'stream';
      return streamed;
    }
  }
  listingSwitch.last = 'pages';
  return viaPages(conn, req, signal);
}

/** RangeStream, retried like a Range; undefined when the server does not have it. */
async function viaStream(conn: Connection, req: ListRequest, signal: AbortSignal | undefined): Promise<Listing | undefined> {
  let renewedToken = false;
  for (let attempt = 1; ; attempt++) {
    try {
      return await streamOnce(conn, req, signal);
    } catch (err) {
      if (conn.closed) throw new ClientClosedError();
      if (signal?.aborted) throw signal.reason;
      if (err instanceof GrpcStatusError && err.code === ERROR_GRPC_UNIMPLEMENTED) {
        // Our requests carry no sort order or revision filter (the two things a 3.7 server refuses to stream),
        // so this is a server (or proxy) without RangeStream.
        trace('listing', `RangeStream unavailable (${err.details}); paging through Range`);
        conn.setSlot(STREAM_UNKNOWN_SINCE, Date.now());
        return undefined;
      }
      if (conn.auth && classifyEnd(err, { tokenRenewed: renewedToken }) === 'renew-token') {
        renewedToken = true;
        conn.auth.invalidate(undefined);
        continue;
      }
      // The stream is a read: start over, as a Range would be retried (the partial result is dropped).
      if (attempt >= MAX_UNARY_ATTEMPTS || !mayRetry(RANGE_PATH, err)) throw err;
      trace('listing', `RangeStream attempt ${attempt} failed (${(err as GrpcStatusError).details}); starting over`);
      await conn.sleep(backoffMs(attempt - 1));
      if (conn.closed) throw new ClientClosedError();
    }
  }
}

/** One RangeStream: each chunk is decoded as it arrives, so only one undecoded chunk exists at a time. */
function streamOnce(conn: Connection, req: ListRequest, signal: AbortSignal | undefined): Promise<Listing> {
  return new Promise<Listing>((resolve, reject) => {
    const values: Value[] = [];
    let index: number | undefined;
    let call: StreamCall<RangeRequest> | undefined;
    let over = false;
    const onAbort = () => {
      call?.cancel();
      finish(signal!.reason);
    };
    const finish = (err: unknown) => {
      if (over) return;
      over = true;
      signal?.removeEventListener('abort', onAbort);
      if (err !== null) reject(err);
      else if (index === undefined) reject(new GrpcStatusError(ERROR_GRPC_INTERNAL, 'RangeStream ended without its final chunk'));
      else resolve({ index, values });
    };
    if (signal?.aborted) return reject(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const request = RangeRequest.fromPartial({
      key: req.key,
      rangeEnd: req.rangeEnd,
      limit: BigInt(req.limit),
      revision: BigInt(req.revision),
      keysOnly: req.keysOnly,
    });
    conn
      .openStream(
        KVService.rangeStream,
        {
          onMessage: (m: RangeStreamResponse) => {
            const r = m.rangeResponse;
            if (!r || over) return;
            for (const kv of r.kvs) values.push(Value.fromKv(kv));
            // Only the last chunk has a header.
            if (r.header) index = Number(r.header.revision);
          },
          onClose: (err) => finish(err),
        },
        request,
        true,
      )
      .then(
        (c) => {
          call = c;
          if (over) c.cancel();
        },
        (err) => finish(err),
      );
  });
}

/** Pages of Range by key, all at the revision of the first page. */
async function viaPages(conn: Connection, req: ListRequest, signal: AbortSignal | undefined): Promise<Listing> {
  for (let restart = 0; ; restart++) {
    try {
      return await pagesOnce(conn, req, signal);
    } catch (err) {
      // A compaction past the pinned revision between two pages: a listing of the latest state can start over.
      const compactedMidway = err instanceof PagesError && err.afterFirstPage && err.cause instanceof GrpcStatusError && err.cause.code === ERROR_GRPC_OUT_OF_RANGE;
      if (compactedMidway && req.revision === 0 && restart < MAX_COMPACTED_RESTARTS) continue;
      throw err instanceof PagesError ? err.cause : err;
    }
  }
}

class PagesError extends Error {
  constructor(override readonly cause: unknown, readonly afterFirstPage: boolean) {
    super('page failed');
  }
}

async function pagesOnce(conn: Connection, req: ListRequest, signal: AbortSignal | undefined): Promise<Listing> {
  const values: Value[] = [];
  let index: number | undefined;
  let revision = req.revision;
  let key = req.key;
  let pageKeys = FIRST_PAGE_KEYS;
  for (;;) {
    const want = req.limit > 0 ? Math.min(pageKeys, req.limit - values.length) : pageKeys;
    let res;
    try {
      res = await conn.unary(
        KVService.range,
        RangeRequest.fromPartial({ key, rangeEnd: req.rangeEnd, limit: BigInt(want), revision: BigInt(revision), keysOnly: req.keysOnly }),
        { timeout: false, signal },
      );
    } catch (err) {
      throw new PagesError(err, index !== undefined);
    }
    if (index === undefined) {
      index = Number(res.header?.revision ?? 0n);
      if (revision === 0) revision = index;
    }
    let bytes = 0;
    for (const kv of res.kvs) {
      values.push(Value.fromKv(kv));
      bytes += kv.key.length + kv.value.length + KV_OVERHEAD_BYTES;
    }
    const last: KeyValue | undefined = res.kvs[res.kvs.length - 1];
    if (!res.more || last === undefined || (req.limit > 0 && values.length >= req.limit)) return { index, values };
    key = Buffer.concat([last.key, NUL]);
    pageKeys = nextPageKeys(res.kvs.length, bytes);
  }
}

/** The next page's key count: aimed at PAGE_BYTES from the last page's bytes per key, growing at most 8x. */
export function nextPageKeys(keys: number, bytes: number): number {
  const aimed = Math.floor((keys * PAGE_BYTES) / Math.max(1, bytes));
  return Math.max(1, Math.min(aimed, keys * 8, MAX_PAGE_KEYS));
}
