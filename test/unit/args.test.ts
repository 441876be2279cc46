import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  describe,
  describeType,
  describeValue,
  prefixEnd,
  prefixRange,
  toBool,
  toBytes,
  toId,
  toKey,
  toLeaseId,
  toMemberId,
  toNonNegativeInt,
  toOptionalBool,
  toPositiveTtl,
  toRevision,
  toStr,
  toTtl,
  typeName,
} from '../../src/args';
import { throwsNaming } from '../helpers/throws';


const bytes = (...b: number[]) => Buffer.from(b);

// ---------------------------------------------------------------- toBytes

test('toBytes encodes a string as UTF-8', () => {
  const b = toBytes('key', 'héllo→€');
  assert.ok(Buffer.isBuffer(b));
  assert.equal([...b], [...Buffer.from('héllo→€', 'utf8')]);
  assert.is(b.length, 12);
});

test('toBytes of the empty string is an empty Buffer', () => {
  const b = toBytes('value', '');
  assert.ok(Buffer.isBuffer(b));
  assert.is(b.length, 0);
});

test('toBytes keeps \\0 inside strings', () => {
  assert.equal([...toBytes('key', 'a\0b')], [0x61, 0, 0x62]);
});

test('toBytes passes a Buffer through as the same object', () => {
  const buf = Buffer.from([1, 2, 3]);
  assert.is(toBytes('key', buf), buf);
});

test('toBytes wraps a Uint8Array view without copying and keeps exactly its bytes', () => {
  const backing = new Uint8Array([9, 9, 0, 0xff, 0x80, 9, 9]);
  const view = backing.subarray(2, 5);
  const b = toBytes('value', view);
  assert.ok(Buffer.isBuffer(b));
  assert.equal([...b], [0, 0xff, 0x80]);
  assert.is(b.buffer, backing.buffer);
  assert.is(b.byteOffset, 2);
  assert.is(b.byteLength, 3);
  // Same memory: a change through the view shows in the result.
  view[0] = 7;
  assert.is(b[0], 7);
});

test('toBytes rejects other types with a TypeError naming the argument', () => {
  throwsNaming(() => toBytes('key', 5), TypeError, 'key', 'number');
  throwsNaming(() => toBytes('value', undefined), TypeError, 'value', 'undefined');
  throwsNaming(() => toBytes('key', null), TypeError, 'key', 'null');
  throwsNaming(() => toBytes('key', ['a']), TypeError, 'key', 'array');
  throwsNaming(() => toBytes('range_end', {}), TypeError, 'range_end', 'object');
  throwsNaming(() => toBytes('key', new ArrayBuffer(2)), TypeError, 'key');
  throwsNaming(() => toBytes('key', 5n), TypeError, 'key', 'bigint');
});

test('toKey refuses an empty key with a RangeError but accepts any other bytes', () => {
  throwsNaming(() => toKey('key', ''), RangeError, 'key');
  throwsNaming(() => toKey('key', new Uint8Array(0)), RangeError, 'key');
  assert.equal([...toKey('key', '\0')], [0]);
});

// ---------------------------------------------------------------- integers

test('toNonNegativeInt accepts 0 and the largest safe integer', () => {
  assert.is(toNonNegativeInt('limit', 0), 0);
  assert.is(toNonNegativeInt('limit', 42), 42);
  assert.is(toNonNegativeInt('limit', Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
});

test('toNonNegativeInt rejects NaN, fractions, negatives, infinities and 2^53 with a RangeError naming the argument', () => {
  throwsNaming(() => toNonNegativeInt('revision', NaN), RangeError, 'revision', 'NaN');
  throwsNaming(() => toNonNegativeInt('revision', 1.5), RangeError, 'revision', '1.5');
  throwsNaming(() => toNonNegativeInt('limit', -1), RangeError, 'limit', '-1');
  throwsNaming(() => toNonNegativeInt('limit', Infinity), RangeError, 'limit');
  throwsNaming(() => toNonNegativeInt('limit', -Infinity), RangeError, 'limit');
  throwsNaming(() => toNonNegativeInt('limit', 2 ** 53), RangeError, 'limit');
});

test('toNonNegativeInt rejects non-numbers with a TypeError naming the argument', () => {
  throwsNaming(() => toNonNegativeInt('revision', '5'), TypeError, 'revision', 'string');
  throwsNaming(() => toNonNegativeInt('revision', 5n), TypeError, 'revision', 'bigint');
  throwsNaming(() => toNonNegativeInt('revision', undefined), TypeError, 'revision');
  throwsNaming(() => toNonNegativeInt('revision', null), TypeError, 'revision', 'null');
});

test('toRevision and toTtl follow the same rules', () => {
  assert.is(toRevision('revision', 7), 7);
  throwsNaming(() => toRevision('revision', -1), RangeError, 'revision');
  throwsNaming(() => toRevision('revision', '5'), TypeError, 'revision');
  assert.is(toTtl('ttl', 10), 10);
  throwsNaming(() => toTtl('ttl', -5), RangeError, 'ttl');
  throwsNaming(() => toTtl('ttl', 0.5), RangeError, 'ttl');
});

// ---------------------------------------------------------------- ids

test('toId accepts a bigint and returns it', () => {
  assert.is(toId('leaseid', 0n), 0n);
  assert.is(toId('leaseid', 2n ** 62n + 5n), 2n ** 62n + 5n);
  assert.is(toId('leaseid', 2n ** 63n - 1n), 2n ** 63n - 1n);
});

test('toId accepts a safe-integer number and returns it as bigint', () => {
  const v = toId('leaseid', 694947);
  assert.is(typeof v, 'bigint');
  assert.is(v, 694947n);
  assert.is(toId('leaseid', Number.MAX_SAFE_INTEGER), BigInt(Number.MAX_SAFE_INTEGER));
});

test('toId rejects ids at or above 2^63 (the default bound) with a RangeError naming the argument', () => {
  throwsNaming(() => toId('leaseid', 2n ** 63n), RangeError, 'leaseid', String(2n ** 63n));
  throwsNaming(() => toId('leaseid', 2n ** 64n), RangeError, 'leaseid');
});

test('toId rejects negative ids with a RangeError', () => {
  throwsNaming(() => toId('leaseid', -1n), RangeError, 'leaseid', '-1');
  throwsNaming(() => toId('leaseid', -1), RangeError, 'leaseid');
});

test('toId rejects unsafe or non-integer numbers with a RangeError (suggesting a bigint)', () => {
  throwsNaming(() => toId('leaseid', 2 ** 60), RangeError, 'leaseid', 'bigint');
  throwsNaming(() => toId('leaseid', 1.5), RangeError, 'leaseid');
  throwsNaming(() => toId('leaseid', NaN), RangeError, 'leaseid', 'NaN');
});

test('toId rejects other types with a TypeError', () => {
  throwsNaming(() => toId('leaseid', '5'), TypeError, 'leaseid', 'string');
  throwsNaming(() => toId('leaseid', undefined), TypeError, 'leaseid');
  throwsNaming(() => toId('leaseid', null), TypeError, 'leaseid', 'null');
});

test('toId honours an explicit maximum', () => {
  assert.is(toId('x', 10n, 10n), 10n);
  throwsNaming(() => toId('x', 11n, 10n), RangeError, 'x', '10');
});

test('toLeaseId is bounded by 2^63 - 1', () => {
  assert.is(toLeaseId('leaseid', 2n ** 63n - 1n), 2n ** 63n - 1n);
  assert.is(toLeaseId('leaseid', 12), 12n);
  throwsNaming(() => toLeaseId('leaseid', 2n ** 63n), RangeError, 'leaseid');
  throwsNaming(() => toLeaseId('leaseid', 2n ** 64n), RangeError, 'leaseid');
  throwsNaming(() => toLeaseId('leaseid', -1n), RangeError, 'leaseid');
  throwsNaming(() => toLeaseId('leaseid', 2 ** 60), RangeError, 'leaseid');
  throwsNaming(() => toLeaseId('leaseid', 'abc'), TypeError, 'leaseid');
});

test('toMemberId accepts the full unsigned 64-bit range', () => {
  assert.is(toMemberId('id', 2n ** 64n - 1n), 2n ** 64n - 1n);
  assert.is(toMemberId('id', 2n ** 63n), 2n ** 63n);
  assert.is(toMemberId('id', 0n), 0n);
  throwsNaming(() => toMemberId('id', 2n ** 64n), RangeError, 'id');
  throwsNaming(() => toMemberId('id', -1n), RangeError, 'id');
});

// ---------------------------------------------------------------- misc checks

test('toBool and toStr accept only their type', () => {
  assert.is(toBool('recursive', true), true);
  assert.is(toBool('recursive', false), false);
  throwsNaming(() => toBool('recursive', 1), TypeError, 'recursive');
  throwsNaming(() => toBool('recursive', 'true'), TypeError, 'recursive');
  assert.is(toStr('name', 'x'), 'x');
  throwsNaming(() => toStr('name', 1), TypeError, 'name');
});

// ---------------------------------------------------------------- prefixes

test('prefixEnd increments the last byte', () => {
  assert.equal([...prefixEnd(Buffer.from('/a'))], [...Buffer.from('/b')]);
  assert.equal([...prefixEnd(Buffer.from('foo'))], [...Buffer.from('fop')]);
  assert.equal([...prefixEnd(bytes(0x61, 0x00))], [0x61, 0x01]);
  assert.equal([...prefixEnd(bytes(0xfe))], [0xff]);
});

test('prefixEnd drops trailing 0xff bytes before incrementing', () => {
  assert.equal([...prefixEnd(bytes(0x61, 0xff))], [0x62]);
  assert.equal([...prefixEnd(bytes(0x61, 0x62, 0xff, 0xff))], [0x61, 0x63]);
  assert.equal([...prefixEnd(bytes(0x61, 0xff, 0x62))], [0x61, 0xff, 0x63]);
});

test('prefixEnd of all-0xff or empty is "\\0"', () => {
  assert.equal([...prefixEnd(bytes(0xff, 0xff))], [0]);
  assert.equal([...prefixEnd(bytes(0xff))], [0]);
  assert.equal([...prefixEnd(Buffer.alloc(0))], [0]);
});

test('prefixEnd does not modify its input', () => {
  const key = Buffer.from('/a');
  const view = new Uint8Array([0x61, 0xff]);
  prefixEnd(key);
  prefixEnd(view);
  assert.equal([...key], [...Buffer.from('/a')]);
  assert.equal([...view], [0x61, 0xff]);
});

test('prefixEnd accepts a plain Uint8Array', () => {
  assert.equal([...prefixEnd(new Uint8Array([1, 2]))], [1, 3]);
});

test('prefixRange("") means every key: "\\0" to "\\0"', () => {
  const r = prefixRange(Buffer.alloc(0));
  assert.equal([...r.key], [0]);
  assert.equal([...r.rangeEnd], [0]);
});

test('prefixRange of a key keeps the key and computes its prefix end', () => {
  const key = Buffer.from('/service/');
  const r = prefixRange(key);
  assert.is(r.key, key);
  assert.is(r.rangeEnd.toString('latin1'), '/service0');
});

test('prefixRange of an all-0xff key ends at "\\0"', () => {
  const r = prefixRange(bytes(0xff, 0xff));
  assert.equal([...r.key], [0xff, 0xff]);
  assert.equal([...r.rangeEnd], [0]);
});

// ---------------------------------------------------------------- the four wordings, and discovery's rules
// Each wording appears in public error messages; these pin them byte for byte.

/** The exact message `fn` throws, with its class. */
function thrown(fn: () => unknown): [string, string] {
  try {
    fn();
  } catch (e) {
    return [(e as Error).constructor.name, (e as Error).message];
  }
  throw new Error('did not throw');
}

test('describe, describeType, typeName and describeValue name a value in their own words', () => {
  const inputs: unknown[] = [null, undefined, [], {}, 5, NaN, 5n, 'x', true, () => 0];
  assert.equal(inputs.map(describe), ['null', 'undefined', 'an array', 'object', 'number 5', 'NaN', 'bigint 5', 'a string', 'boolean', 'function']);
  assert.equal(inputs.map(describeType), ['null', 'undefined', 'an array', 'object', 'number', 'number', 'bigint', 'string', 'boolean', 'function']);
  assert.equal(inputs.map(typeName), ['null', 'undefined', 'object', 'object', 'number', 'number', 'bigint', 'string', 'boolean', 'function']);
  assert.equal(inputs.slice(0, 9).map(describeValue), ['null', 'undefined undefined', 'an array', 'an object', 'number 5', 'number NaN', 'bigint 5', '"x"', 'boolean true']);
});

test('toPositiveTtl: a positive whole number of seconds, with its exact messages', () => {
  assert.is(toPositiveTtl(1), 1);
  assert.is(toPositiveTtl(30), 30);
  assert.equal(thrown(() => toPositiveTtl('3')), ['TypeError', 'ttl must be a number of seconds, got string']);
  assert.equal(thrown(() => toPositiveTtl(null)), ['TypeError', 'ttl must be a number of seconds, got null']);
  assert.equal(thrown(() => toPositiveTtl(0)), ['RangeError', 'ttl must be a positive integer number of seconds, got 0']);
  assert.equal(thrown(() => toPositiveTtl(1.5)), ['RangeError', 'ttl must be a positive integer number of seconds, got 1.5']);
  // Unlike toTtl, 0 is refused (a registration needs a lease of its own length).
  assert.is(toTtl('ttl', 0), 0);
});

test('toOptionalBool: undefined is false; anything but a boolean is refused with its exact message', () => {
  assert.is(toOptionalBool('replace', undefined), false);
  assert.is(toOptionalBool('replace', true), true);
  assert.is(toOptionalBool('replace', false), false);
  assert.equal(thrown(() => toOptionalBool('replace', 'yes')), ['TypeError', 'replace must be a boolean, got string']);
  assert.equal(thrown(() => toOptionalBool('replace', null)), ['TypeError', 'replace must be a boolean, got null']);
  // toBool requires the flag and words it as the client does.
  assert.equal(thrown(() => toBool('replace', undefined)), ['TypeError', 'replace must be a boolean, got undefined']);
  assert.equal(thrown(() => toBool('replace', 'yes')), ['TypeError', 'replace must be a boolean, got a string']);
});

test.run();
