// The C++-shaped results: Response, Value, Event, Member. Built from generated messages at this one boundary,
// so users see these names and never the generated types (those stay behind `client.raw` and
// `etcd-apiv3/proto`).

import type { KeyValue } from '../generated/mvcc/mvccpb/kv';
import { Event_EventType, type Event as PbEvent } from '../generated/mvcc/mvccpb/kv';
import type { Member as PbMember } from '../generated/etcdserver/etcdserverpb/rpc';
import {
  ERROR_GRPC_DEADLINE_EXCEEDED,
  ERROR_GRPC_UNAVAILABLE,
} from './errors';

import { inspect, type InspectOptionsStylized } from 'node:util';

const EMPTY_BYTES = Buffer.alloc(0);

function checkIndex(i: unknown, length: number, what: string): number {
  if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError(`${what} index must be an integer, got ${String(i)}`);
  if (i < 0 || i >= length) throw new RangeError(`${what} index ${i} is out of range (${length} available)`);
  return i;
}

/**
 * One key-value pair as etcd stores it (C++ `etcd::Value`). Keys and values are bytes: `key()` and
 * `as_string()` decode them as UTF-8, `key_bytes()` and `as_bytes()` give them exactly.
 */
export class Value {
  private keyText: string | undefined;
  private valueText: string | undefined;

  /** @internal */
  constructor(
    private readonly keyBytes: Buffer = EMPTY_BYTES,
    private readonly valueBytes: Buffer = EMPTY_BYTES,
    private readonly createRevision = 0,
    private readonly modRevision = 0,
    private readonly ver = 0,
    private readonly ttlSeconds = 0,
    private readonly leaseId = 0n,
  ) {}

  /** @internal Builds a Value from a stored kv; `ttl` is 0 for reads and -1 for watch events, as in C++. */
  static fromKv(kv: KeyValue, ttl = 0): Value {
    return new Value(
      kv.key,
      kv.value,
      Number(kv.createRevision),
      Number(kv.modRevision),
      Number(kv.version),
      ttl,
      kv.lease,
    );
  }

  /** Always false: etcd v3 has no directories. */
  is_dir(): boolean {
    return false;
  }
  /** The key, decoded as UTF-8. */
  key(): string {
    return (this.keyText ??= this.keyBytes.toString('utf8'));
  }
  /** The key's exact bytes. */
  key_bytes(): Buffer {
    return this.keyBytes;
  }
  /** The value, decoded as UTF-8 (invalid sequences become U+FFFD; use `as_bytes()` for binary data). */
  as_string(): string {
    return (this.valueText ??= this.valueBytes.toString('utf8'));
  }
  /** The value's exact bytes. */
  as_bytes(): Buffer {
    return this.valueBytes;
  }
  /** The key's create revision. */
  created_index(): number {
    return this.createRevision;
  }
  /** The key's last modification revision. */
  modified_index(): number {
    return this.modRevision;
  }
  /** Number of writes since the key was created (1 on create). */
  version(): number {
    return this.ver;
  }
  /** Lease TTL for lease responses; 0 for kv reads and -1 for watch events (as in C++). */
  ttl(): number {
    return this.ttlSeconds;
  }
  /** The lease the key is attached to (0n if none), or the lease a lease call was about. */
  lease(): bigint {
    return this.leaseId;
  }
  toString(): string {
    return `Value{key: ${JSON.stringify(this.key())}, value: ${JSON.stringify(this.as_string())}, created: ${this.createRevision}, modified: ${this.modRevision}, version: ${this.ver}, ttl: ${this.ttlSeconds}, lease: ${this.leaseId}}`;
  }
}

const EMPTY_VALUE = new Value();

/** Kind of a watch event (C++ `etcd::Event::EventType`). */
export const EventType = { PUT: 0, DELETE_: 1, INVALID: 2 } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** One change seen by a watch (C++ `etcd::Event`). */
export class Event {
  private readonly type: EventType;
  private readonly kvValue: Value | undefined;
  private readonly prevValue: Value | undefined;

  /** @internal */
  constructor(e: PbEvent) {
    this.type = e.type === Event_EventType.PUT ? EventType.PUT : e.type === Event_EventType.DELETE ? EventType.DELETE_ : EventType.INVALID;
    this.kvValue = e.kv ? Value.fromKv(e.kv, -1) : undefined;
    this.prevValue = e.prevKv ? Value.fromKv(e.prevKv, -1) : undefined;
  }
  event_type(): EventType {
    return this.type;
  }
  has_kv(): boolean {
    return this.kvValue !== undefined;
  }
  has_prev_kv(): boolean {
    return this.prevValue !== undefined;
  }
  /** The key after the change (for a delete: the key with an empty value); an empty Value if absent. */
  kv(): Value {
    return this.kvValue ?? EMPTY_VALUE;
  }
  /** The key before the change; an empty Value if it did not exist. */
  prev_kv(): Value {
    return this.prevValue ?? EMPTY_VALUE;
  }
  toString(): string {
    const t = this.type === EventType.PUT ? 'PUT' : this.type === EventType.DELETE_ ? 'DELETE' : 'INVALID';
    return `Event{type: ${t}, kv: ${this.kv()}, prev_kv: ${this.prev_kv()}}`;
  }
}

/** A cluster member (C++ `etcdv3::Member`), from `list_member()`. */
export class Member {
  /** @internal */
  constructor(private readonly m: PbMember) {}
  get_id(): bigint {
    return this.m.ID;
  }
  get_name(): string {
    return this.m.name;
  }
  get_peerURLs(): string[] {
    return this.m.peerURLs;
  }
  get_clientURLs(): string[] {
    return this.m.clientURLs;
  }
  /** Whether the member is a non-voting learner (filled in, unlike C++). */
  get_learner(): boolean {
    return this.m.isLearner;
  }
}

/** @internal Everything a Response can carry; absent fields take C++'s defaults. */
export interface ResponseInit {
  code?: number;
  message?: string;
  action?: string;
  index?: number;
  value?: Value;
  prevValue?: Value;
  values?: Value[];
  events?: Event[];
  compactRevision?: number;
  watchId?: number;
  lockKey?: string;
  name?: string;
  durationMs?: number;
  clusterId?: bigint;
  memberId?: bigint;
  raftTerm?: bigint;
  leases?: bigint[];
  members?: Member[];
}

/**
 * The result of every call (C++ `etcd::Response`). Failures caused by the server or the network are
 * reported here (`is_ok()` false, `error_code()`, `error_message()`), never thrown.
 */
export class Response {
  private readonly r: ResponseInit;
  private keyList: string[] | undefined;

  /** @internal */
  constructor(init: ResponseInit) {
    this.r = init;
  }

  /** True when `error_code()` is 0. */
  is_ok(): boolean {
    return (this.r.code ?? 0) === 0;
  }
  /** 0 on success; a gRPC status code (1–16) or one of 100, 101, 105. */
  error_code(): number {
    return this.r.code ?? 0;
  }
  /** The server's or transport's text, or one of the `etcd-cpp-apiv3: …` messages; '' on success. */
  error_message(): string {
    return this.r.message ?? '';
  }
  /** True for code 14 (UNAVAILABLE). */
  is_network_unavailable(): boolean {
    return this.error_code() === ERROR_GRPC_UNAVAILABLE;
  }
  /** True for code 4: the call ran past `set_grpc_timeout`. */
  is_grpc_timeout(): boolean {
    return this.error_code() === ERROR_GRPC_DEADLINE_EXCEEDED;
  }
  /** What the call did: "get", "set", "create", "update", "delete", "compareAndSwap", "txn", … */
  action(): string {
    return this.r.action ?? '';
  }
  /** The store revision after the call (the response header's revision). */
  index(): number {
    return this.r.index ?? 0;
  }
  /** With no argument: the main value (C++ `value()`); with an index: `values()[i]`. */
  value(i?: number): Value {
    if (i === undefined) return this.r.value ?? EMPTY_VALUE;
    const values = this.values();
    return values[checkIndex(i, values.length, 'value')]!;
  }
  /** The value before the change (set, modify, rm, watch events). */
  prev_value(): Value {
    return this.r.prevValue ?? EMPTY_VALUE;
  }
  /** All values of a listing, delete or txn. */
  values(): Value[] {
    return this.r.values ?? [];
  }
  /** The keys of `values()`, decoded as UTF-8. */
  keys(): string[] {
    return (this.keyList ??= this.values().map((v) => v.key()));
  }
  /** `keys()[i]`. */
  key(i: number): string {
    const keys = this.keys();
    return keys[checkIndex(i, keys.length, 'key')]!;
  }
  /** Watch events (all events of one watch response). */
  events(): Event[] {
    return this.r.events ?? [];
  }
  /** The compacted revision when a watch was ended by compaction; otherwise -1. */
  compact_revision(): number {
    return this.r.compactRevision ?? -1;
  }
  /** The server's watch id for watch responses; otherwise -1. */
  watch_id(): number {
    return this.r.watchId ?? -1;
  }
  /** The key that holds a lock (pass it to `unlock`). */
  lock_key(): string {
    return this.r.lockKey ?? '';
  }
  /** The election name (campaign, leader, observe). */
  name(): string {
    return this.r.name ?? '';
  }
  /** How long the call took, in milliseconds. */
  duration(): number {
    return this.r.durationMs ?? 0;
  }
  /** From `head()`: the cluster id (0n otherwise). */
  cluster_id(): bigint {
    return this.r.clusterId ?? 0n;
  }
  /** From `head()`: the id of the member that answered (0n otherwise). */
  member_id(): bigint {
    return this.r.memberId ?? 0n;
  }
  /** From `head()`: the raft term (0n otherwise). */
  raft_term(): bigint {
    return this.r.raftTerm ?? 0n;
  }
  /** From `leases()`: every lease id. */
  leases(): bigint[] {
    return this.r.leases ?? [];
  }
  /** From `list_member()`: every member. */
  members(): Member[] {
    return this.r.members ?? [];
  }
  toString(): string {
    return this.is_ok()
      ? `Response{action: ${this.action()}, index: ${this.index()}, value: ${this.value()}}`
      : `Response{error ${this.error_code()}: ${this.error_message()}}`;
  }
}

// ---- what console.log and util.inspect show ------------------------------------------------------------
// Self-contained (public accessors only): keys and values as text (hex when not UTF-8), codes and revisions,
// and only the fields a Response of that kind carries — no Buffers, no private fields.

/** Text for bytes: the UTF-8 string when the bytes are valid UTF-8, else `<hex …>`. */
function readable(text: string, bytes: Buffer): string {
  return Buffer.byteLength(text) === bytes.length && Buffer.from(text).equals(bytes) ? text : `<hex ${bytes.toString('hex')}>`;
}

function defineInspect<T>(cls: { prototype: T; name: string }, view: (x: T) => object): void {
  Object.defineProperty(cls.prototype, inspect.custom, {
    value(this: T, depth: number, options: InspectOptionsStylized, fmt: typeof inspect): string {
      if (depth < 0) return options.stylize(`[${cls.name}]`, 'special');
      return `${cls.name} ${fmt(view(this), { ...options, depth: options.depth == null ? options.depth : options.depth - 1 })}`;
    },
  });
}

defineInspect(Value, (v) => {
  const o: Record<string, unknown> = { key: readable(v.key(), v.key_bytes()), value: readable(v.as_string(), v.as_bytes()) };
  if (v.created_index() !== 0) o['created_index'] = v.created_index();
  if (v.modified_index() !== 0) o['modified_index'] = v.modified_index();
  if (v.version() !== 0) o['version'] = v.version();
  if (v.lease() !== 0n) o['lease'] = v.lease();
  if (v.ttl() > 0) o['ttl'] = v.ttl();
  return o;
});

defineInspect(Event, (e) => {
  const o: Record<string, unknown> = { type: e.event_type() === EventType.PUT ? 'PUT' : e.event_type() === EventType.DELETE_ ? 'DELETE' : 'INVALID' };
  if (e.has_kv()) o['kv'] = e.kv();
  if (e.has_prev_kv()) o['prev_kv'] = e.prev_kv();
  return o;
});

defineInspect(Member, (m) => ({ id: m.get_id(), name: m.get_name(), peerURLs: m.get_peerURLs(), clientURLs: m.get_clientURLs(), learner: m.get_learner() }));

defineInspect(Response, (r) => {
  const o: Record<string, unknown> = {};
  if (!r.is_ok()) {
    o['error_code'] = r.error_code();
    o['error_message'] = r.error_message();
  }
  if (r.action() !== '') o['action'] = r.action();
  if (r.index() !== 0) o['index'] = r.index();
  const values = r.values();
  if (values.length > 1) o['values'] = values;
  else if (values.length === 1 || r.value().key_bytes().length > 0) o['value'] = r.value();
  if (r.prev_value().key_bytes().length > 0) o['prev_value'] = r.prev_value();
  if (r.events().length > 0) o['events'] = r.events();
  if (r.compact_revision() > 0) o['compact_revision'] = r.compact_revision();
  if (r.lock_key() !== '') o['lock_key'] = r.lock_key();
  if (r.name() !== '') o['name'] = r.name();
  if (r.leases().length > 0) o['leases'] = r.leases();
  if (r.members().length > 0) o['members'] = r.members();
  return o;
});
