// Argument checks shared by every public call. They throw synchronously (TypeError for a wrong type,
// RangeError for a value out of range) with the argument's name, so a programmer error never reaches the
// server and never turns into a Response.

/** Keys and values: a string (sent as UTF-8) or raw bytes. */
export type Bytes = string | Uint8Array;

const INT64_MAX = (1n << 63n) - 1n;

// How a wrong argument is named in a message. Four wordings exist because the messages that use them are
// public and must not change; each has its own name so that "which one?" has one answer.

/** The client's wording: `null`, `an array`, `number 5`, `NaN`, `bigint 5`, `a string`, else `typeof`. */
export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'number') return Number.isNaN(x) ? 'NaN' : `number ${x}`;
  if (typeof x === 'bigint') return `bigint ${x}`;
  if (typeof x === 'string') return 'a string';
  return typeof x;
}

/** The type alone: `null`, `an array`, else `typeof` (no value shown). Used for the endpoint list. */
export function describeType(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x;
}

/** `typeof`, except `null` (an array is `object`). Used by discovery's client, ttl and flag checks. */
export function typeName(x: unknown): string {
  return x === null ? 'null' : typeof x;
}

/**
 * The value itself where it is short: a string JSON-quoted, `number 5`, `boolean true`, `undefined`, `null`,
 * `an array`, `an object`. Used by discovery's name, prefix and format checks.
 */
export function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'object') return Array.isArray(x) ? 'an array' : 'an object';
  return `${typeof x} ${String(x)}`;
}

const EMPTY = Buffer.alloc(0);

/** Converts a key or value to the Buffer the generated codecs expect, without copying Buffers. */
export function toBytes(name: string, x: unknown): Buffer {
  if (typeof x === 'string') return x.length === 0 ? EMPTY : Buffer.from(x, 'utf8');
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError(`${name} must be a string or Uint8Array, got ${describe(x)}`);
}

/** Like toBytes, but refuses the empty key: etcd rejects it with "key is not provided". */
export function toKey(name: string, x: unknown): Buffer {
  const b = toBytes(name, x);
  if (b.length === 0) throw new RangeError(`${name} must not be empty`);
  return b;
}

/** A non-negative safe integer (revisions, limits, versions). */
export function toNonNegativeInt(name: string, x: unknown): number {
  if (typeof x !== 'number') throw new TypeError(`${name} must be a number, got ${describe(x)}`);
  if (!Number.isSafeInteger(x) || x < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${describe(x)}`);
  }
  return x;
}

/** A revision: 0 means "latest" / "now". */
export const toRevision = toNonNegativeInt;

/** A TTL in seconds: a non-negative safe integer (0 lets etcd pick). */
export function toTtl(name: string, x: unknown): number {
  return toNonNegativeInt(name, x);
}

/** A registration's lease TTL: a positive whole number of seconds, always named `ttl`. @throws TypeError / RangeError */
export function toPositiveTtl(x: unknown): number {
  if (typeof x !== 'number') throw new TypeError(`ttl must be a number of seconds, got ${typeName(x)}`);
  if (!Number.isInteger(x) || x <= 0) throw new RangeError(`ttl must be a positive integer number of seconds, got ${x}`);
  return x;
}

/**
 * A 64-bit id (lease, member): a bigint, or a number that is a safe integer. Ids are unsigned to the user
 * (0 ≤ id < 2^63 for leases, < 2^64 for members); `max` picks the bound.
 */
export function toId(name: string, x: unknown, max: bigint = INT64_MAX): bigint {
  let v: bigint;
  if (typeof x === 'bigint') v = x;
  else if (typeof x === 'number') {
    if (!Number.isSafeInteger(x)) {
      throw new RangeError(`${name} must be a bigint or a safe integer, got ${describe(x)} (use a bigint for ids above 2^53)`);
    }
    v = BigInt(x);
  } else throw new TypeError(`${name} must be a bigint or a number, got ${describe(x)}`);
  if (v < 0n || v > max) throw new RangeError(`${name} must be between 0 and ${max}, got ${v}`);
  return v;
}

export const toLeaseId = (name: string, x: unknown): bigint => toId(name, x);
export const toMemberId = (name: string, x: unknown): bigint => toId(name, x, (1n << 64n) - 1n);

/** A required flag. @throws TypeError */
export function toBool(name: string, x: unknown): boolean {
  if (typeof x !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(x)}`);
  return x;
}

/** An optional flag: undefined is false. Discovery's wording ({@link typeName}). @throws TypeError */
export function toOptionalBool(name: string, x: unknown): boolean {
  if (x === undefined) return false;
  if (typeof x !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${typeName(x)}`);
  return x;
}

export function toStr(name: string, x: unknown): string {
  if (typeof x !== 'string') throw new TypeError(`${name} must be a string, got ${describe(x)}`);
  return x;
}

export function toFunction<F extends (...args: never[]) => unknown>(name: string, x: unknown): F {
  if (typeof x !== 'function') throw new TypeError(`${name} must be a function, got ${describe(x)}`);
  return x as F;
}

/** etcd's range end for a prefix: the key with its last non-0xff byte incremented (C++ `string_plus_one`). */
export function prefixEnd(key: Uint8Array): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff (or the key is empty): "\0" tells etcd "to the end of the keyspace".
  return Buffer.from([0]);
}

/** The `[key, range_end)` pair for a prefix; `''` means every key, as in C++ (an all-0xff key: every key from it on). */
export function prefixRange(key: Buffer): { key: Buffer; rangeEnd: Buffer } {
  if (key.length === 0) return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
  return { key, rangeEnd: prefixEnd(key) };
}
