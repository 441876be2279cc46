// The history checker: what a watcher delivered, compared with etcd's own history of the same keys, read back
// revision by revision with range reads at a revision (etcd's JSON gateway), naming the first divergence.
import { Cluster, type EtcdCluster } from './cluster';

/** One change, as etcd's history has it. */
export interface HistoryEvent {
  type: 'PUT' | 'DELETE';
  key: string;
  /** The value after a PUT (undefined for a DELETE, or when the delivered side does not say). */
  value?: string;
  /** The revision of the change (the key's mod_revision). */
  revision: number;
}

/** What a watcher delivered: HistoryEvents, or this package's `Event` objects (event_type(), kv()). */
export type DeliveredEvent =
  | HistoryEvent
  | { event_type(): number; kv(): { key(): string; as_string(): string; modified_index(): number } };

export interface HistoryRange {
  /** The key, or the start of the range. */
  key: string;
  /** The end of the range (exclusive), as etcd's range_end. */
  rangeEnd?: string;
  /** Every key with `key` as prefix (instead of rangeEnd). */
  prefix?: boolean;
  /** The first revision to compare (the watch's start revision). */
  fromRevision: number;
  /** The last revision to compare (default: etcd's current revision). */
  toRevision?: number;
}

export interface HistoryDivergence {
  /** Position in the delivered list (= in the expected list) where they first differ. */
  index: number;
  expected: HistoryEvent | undefined;
  delivered: HistoryEvent | undefined;
  message: string;
}

export interface HistoryCheck {
  ok: boolean;
  expected: HistoryEvent[];
  delivered: HistoryEvent[];
  divergence: HistoryDivergence | undefined;
}

interface GatewayKv {
  key?: string;
  value?: string;
  mod_revision?: string;
  modRevision?: string;
}
interface GatewayRange {
  header?: { revision?: string };
  kvs?: GatewayKv[];
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

/** The end of the range of every key starting with `prefix` (etcd's rule: increment the last byte below 0xff). */
function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) return Buffer.concat([b.subarray(0, i), Buffer.from([b[i]! + 1])]);
  }
  return Buffer.from([0]);
}

function describe(e: HistoryEvent | undefined): string {
  if (!e) return 'nothing';
  return `${e.type} ${JSON.stringify(e.key)}${e.type === 'PUT' && e.value !== undefined ? `=${JSON.stringify(e.value)}` : ''} at revision ${e.revision}`;
}

/** A delivered event in HistoryEvent form. */
export function toHistoryEvent(e: DeliveredEvent): HistoryEvent {
  if ('event_type' in e) {
    const kv = e.kv();
    return e.event_type() === 1
      ? { type: 'DELETE', key: kv.key(), revision: kv.modified_index() }
      : { type: 'PUT', key: kv.key(), value: kv.as_string(), revision: kv.modified_index() };
  }
  return e;
}

/**
 * etcd's history of a key range between two revisions, one range read per revision: keys whose mod_revision
 * is r were put at r; keys present at r-1 and gone at r were deleted at r. Within one revision (a
 * transaction) the events are in key order. Throws when a revision in the range has been compacted.
 */
export async function readHistory(etcd: EtcdCluster, range: HistoryRange): Promise<HistoryEvent[]> {
  if (!(etcd instanceof Cluster)) throw new Error('readHistory: pass an etcd started by etcd-apiv3/testing');
  const rangeEnd = range.prefix ? prefixEnd(range.key).toString('base64') : range.rangeEnd !== undefined ? b64(range.rangeEnd) : undefined;
  const at = async (revision: number): Promise<GatewayRange> => {
    const body: Record<string, unknown> = { key: b64(range.key), revision };
    if (rangeEnd !== undefined) body.range_end = rangeEnd;
    try {
      return await etcd.gatewayAsRoot<GatewayRange>('/v3/kv/range', body);
    } catch (e) {
      throw new Error(`readHistory: cannot read revision ${revision}: ${(e as Error).message}`);
    }
  };
  const to = range.toRevision ?? Number((await at(0)).header?.revision ?? 0);
  const from = Math.max(1, range.fromRevision);
  let prev = new Map<string, string>();
  if (from > 1) for (const kv of (await at(from - 1)).kvs ?? []) prev.set(unb64(kv.key), unb64(kv.value));
  const out: HistoryEvent[] = [];
  for (let r = from; r <= to; r++) {
    const now = new Map<string, string>();
    const changed: HistoryEvent[] = [];
    for (const kv of (await at(r)).kvs ?? []) {
      const key = unb64(kv.key);
      const value = unb64(kv.value);
      now.set(key, value);
      if (Number(kv.mod_revision ?? kv.modRevision) === r) changed.push({ type: 'PUT', key, value, revision: r });
    }
    for (const key of prev.keys()) if (!now.has(key)) changed.push({ type: 'DELETE', key, revision: r });
    changed.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    out.push(...changed);
    prev = now;
  }
  return out;
}

/** Compares two event lists in order (events of one revision in key order); names the first difference. */
export function compareHistory(expected: HistoryEvent[], deliveredIn: DeliveredEvent[]): HistoryCheck {
  const delivered = deliveredIn.map(toHistoryEvent);
  // Events of one revision come in the transaction's order from a watch; the history is in key order.
  const sorted = [...delivered].sort((a, b) => a.revision - b.revision || Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const byRevision = delivered.every((e, i) => i === 0 || e.revision >= delivered[i - 1]!.revision);
  const n = Math.max(expected.length, sorted.length);
  for (let i = 0; i < n; i++) {
    const want = expected[i];
    const got = sorted[i];
    const same =
      want && got && want.type === got.type && want.key === got.key && want.revision === got.revision &&
      (want.type === 'DELETE' || got.value === undefined || got.value === want.value);
    if (same) continue;
    let message: string;
    if (!byRevision) message = 'the watcher delivered revisions out of order';
    else if (!got) message = `event #${i} missing: etcd's history has ${describe(want)}, the watcher delivered nothing more`;
    else if (!want) message = `event #${i} is extra: the watcher delivered ${describe(got)}, which is not in etcd's history`;
    else message = `event #${i} differs: etcd's history has ${describe(want)}, the watcher delivered ${describe(got)}`;
    return { ok: false, expected, delivered: sorted, divergence: { index: i, expected: want, delivered: got, message } };
  }
  return { ok: true, expected, delivered: sorted, divergence: undefined };
}

/**
 * Reads etcd's history for `range` and compares it with what a watcher delivered. `toRevision` defaults to
 * etcd's current revision, so a watcher that missed the last events fails too: check once writes are done.
 */
export async function checkHistory(etcd: EtcdCluster, delivered: DeliveredEvent[], range: HistoryRange): Promise<HistoryCheck> {
  return compareHistory(await readHistory(etcd, range), delivered);
}

/** checkHistory() that throws an Error with the divergence's message (for any test runner's assertions). */
export async function assertHistory(etcd: EtcdCluster, delivered: DeliveredEvent[], range: HistoryRange): Promise<void> {
  const r = await checkHistory(etcd, delivered, range);
  if (!r.ok) throw new Error(`watch history diverges from etcd's: ${r.divergence!.message}`);
}
