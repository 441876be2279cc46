// The argument forms of the Client methods that take a key range in several C++ overloads (ls/keys, watch):
// which argument is which, checked. Throws TypeError/RangeError naming the bad argument.

import { describe, prefixRange, toBool, toBytes, toNonNegativeInt, toRevision } from './args';

/** @internal A listing: `(key, limit?, revision?)` over the prefix `key`, or `(key, range_end, limit?, revision?)`. */
export function listingArgs(
  keysOnly: boolean,
  key: unknown,
  a: unknown,
  b: unknown,
  c: unknown,
): { key: Buffer; rangeEnd: Buffer; limit: number; revision: number } {
  const k = toBytes('key', key);
  let range: { key: Buffer; rangeEnd: Buffer };
  let limit: unknown;
  let revision: unknown;
  if (typeof a === 'string' || a instanceof Uint8Array) {
    range = { key: k, rangeEnd: toBytes('range_end', a) };
    limit = b;
    revision = c;
  } else {
    range = prefixRange(k);
    limit = a;
    revision = b;
    if (c !== undefined) throw new TypeError(`too many arguments: ${keysOnly ? 'keys' : 'ls'}(key, limit, revision)`);
  }
  const l = limit === undefined ? 0 : toNonNegativeInt('limit', limit);
  const r = revision === undefined ? 0 : toRevision('revision', revision);
  return { key: range.key, rangeEnd: range.rangeEnd, limit: l, revision: r };
}

/**
 * @internal A one-shot watch: `(key, recursive?)`, `(key, fromIndex, recursive?)` or
 * `(key, range_end, fromIndex?)`.
 */
export function watchArgs(key: unknown, a: unknown, b: unknown): { key: Buffer; rangeEnd: Buffer; startRevision: number } {
  const k = toBytes('key', key);
  let range: { key: Buffer; rangeEnd: Buffer };
  let fromIndex = 0;
  if (typeof a === 'string' || a instanceof Uint8Array) {
    range = { key: k, rangeEnd: toBytes('range_end', a) };
    if (b !== undefined) fromIndex = toRevision('fromIndex', b);
  } else {
    let recursive: unknown = a;
    if (typeof a === 'number') {
      fromIndex = toRevision('fromIndex', a);
      recursive = b;
    } else if (b !== undefined) throw new TypeError(`watch: unexpected argument 3 (${describe(b)})`);
    recursive = recursive === undefined ? false : toBool('recursive', recursive);
    range = recursive ? prefixRange(k) : { key: k, rangeEnd: Buffer.alloc(0) };
  }
  return { key: range.key, rangeEnd: range.rangeEnd, startRevision: fromIndex };
}
