// Argument checks shared by Registry, Discovery and the resolver. Discovery is built on the public API only,
// so it keeps its own small set instead of the client's internal one; the messages match the client's style.

import { Client } from '../core';

/** @throws TypeError unless `x` is a Client. */
export function checkClient(x: unknown): Client {
  if (!(x instanceof Client)) throw new TypeError(`client must be a Client, got ${x === null ? 'null' : typeof x}`);
  return x;
}

/** @throws TypeError unless `x` is an options object. */
export function checkOptions<T extends object>(x: T): T {
  if (typeof x !== 'object' || x === null) throw new TypeError('options must be an object');
  return x;
}

/** A lease TTL: a positive whole number of seconds. @throws TypeError / RangeError */
export function toTtl(x: unknown): number {
  if (typeof x !== 'number') throw new TypeError(`ttl must be a number of seconds, got ${x === null ? 'null' : typeof x}`);
  if (!Number.isInteger(x) || x <= 0) throw new RangeError(`ttl must be a positive integer number of seconds, got ${x}`);
  return x;
}

/** An optional flag (undefined = false). @throws TypeError */
export function toBool(name: string, x: unknown): boolean {
  if (x === undefined) return false;
  if (typeof x !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${x === null ? 'null' : typeof x}`);
  return x;
}
