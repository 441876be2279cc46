// Argument checks that only Registry, Discovery and the resolver make. The general rules (ttl, flags, how a
// value is named in a message) live in ../args, a stateless leaf that discovery may import.

import { typeName } from '../args';
import { Client } from '../core';

/** @throws TypeError unless `x` is a Client. */
export function checkClient(x: unknown): Client {
  if (!(x instanceof Client)) throw new TypeError(`client must be a Client, got ${typeName(x)}`);
  return x;
}

/** @throws TypeError unless `x` is an options object. */
export function checkOptions<T extends object>(x: T): T {
  if (typeof x !== 'object' || x === null) throw new TypeError('options must be an object');
  return x;
}
