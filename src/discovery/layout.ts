// Where registrations live in etcd and what their values look like — the one place that knows the two
// layouts, shared by Registry (writes) and Discovery (reads).
//
//   plain         <prefix>/<service>/<instance>  →  127.0.0.1:9000
//                                                 or {"Addr":"127.0.0.1:9000","Metadata":…} with metadata
//   go-endpoints  <prefix>/<service>/<address>   →  {"Op":0,"Addr":"127.0.0.1:9000","Metadata":null}
//                 (Go's go.etcd.io/etcd/client/v3/naming/endpoints with target <prefix>/<service>)

import { describeValue } from '../args';

/** Which key/value layout a Registry writes and a Discovery reads. */
export type DiscoveryFormat = 'plain' | 'go-endpoints';

/** What a registration's value says: the address to dial and optional user metadata (any JSON value). */
export interface EndpointValue {
  address: string;
  metadata?: unknown;
}

/** A registration key, split. */
export interface InstanceKey {
  service: string;
  instance: string;
}

export const DEFAULT_PREFIX = '/service';

/** Validates a format option (default 'plain'). */
export function toFormat(x: unknown): DiscoveryFormat {
  if (x === undefined) return 'plain';
  if (x !== 'plain' && x !== 'go-endpoints') throw new TypeError(`format must be 'plain' or 'go-endpoints', got ${describeValue(x)}`);
  return x;
}

/** Validates a prefix option (default '/service') and drops trailing slashes: keys are `<prefix>/<service>/…`. */
export function toPrefix(x: unknown): string {
  if (x === undefined) return DEFAULT_PREFIX;
  if (typeof x !== 'string') throw new TypeError(`prefix must be a string, got ${describeValue(x)}`);
  return x.replace(/\/+$/, '');
}

/** A service or instance name: a non-empty string without '/'. */
export function toName(what: string, x: unknown): string {
  if (typeof x !== 'string' || x === '') throw new TypeError(`${what} must be a non-empty string, got ${describeValue(x)}`);
  if (x.includes('/')) throw new TypeError(`${what} must not contain '/', got ${JSON.stringify(x)}`);
  return x;
}

/** The prefix under which every instance of `service` lives: `<prefix>/<service>/`. */
export function servicePrefix(prefix: string, service: string): string {
  return `${prefix}/${service}/`;
}

/** The key of one instance. In the go-endpoints layout the instance name is the address. */
export function instanceKey(prefix: string, service: string, instance: string): string {
  return `${prefix}/${service}/${instance}`;
}

/**
 * Splits a key under `<prefix>/` into service and instance; undefined when it does not match the layout.
 * plain: exactly `<service>/<instance>`, both non-empty. go-endpoints: `<service>/<rest>` — Go allows any
 * key below the target, so the instance (normally the address) may itself contain '/'.
 */
export function parseKey(prefix: string, format: DiscoveryFormat, key: string): InstanceKey | undefined {
  const root = `${prefix}/`;
  if (!key.startsWith(root)) return undefined;
  const rest = key.slice(root.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  const service = rest.slice(0, slash);
  const instance = rest.slice(slash + 1);
  if (format === 'plain' && instance.includes('/')) return undefined;
  return { service, instance };
}

/** The value to store. Throws TypeError when the metadata cannot be written as JSON. */
export function encodeValue(format: DiscoveryFormat, address: string, metadata?: unknown): string {
  const meta = metadata === undefined ? 'null' : goJson(metadata, 'metadata');
  if (format === 'go-endpoints') return `{"Op":0,"Addr":${goJson(address, 'address')},"Metadata":${meta}}`;
  // An address that itself starts with '{' would read back as JSON: write it in the JSON form.
  if ((metadata === undefined || metadata === null) && !address.startsWith('{')) return address;
  return `{"Addr":${goJson(address, 'address')},"Metadata":${meta}}`;
}

/**
 * Reads a stored value; undefined when it is not a registration. A value starting with `{` is JSON with a
 * non-empty string `Addr` (and optional `Metadata`; `null` counts as none) in both layouts; in the plain
 * layout anything else non-empty is the address itself. Go's watcher treats every PUT as an Add whatever
 * its `Op`, and so do we.
 */
export function decodeValue(format: DiscoveryFormat, value: string): EndpointValue | undefined {
  if (value.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const { Addr: address, Metadata: metadata } = parsed as { Addr?: unknown; Metadata?: unknown };
    if (typeof address !== 'string' || address === '') return undefined;
    return metadata === undefined || metadata === null ? { address } : { address, metadata };
  }
  if (format === 'go-endpoints' || value === '') return undefined;
  return { address: value };
}

// ---- JSON exactly as Go's encoding/json.Marshal writes it -------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const GO_ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/**
 * Go's json.Marshal of the equivalent Go value: no spaces, object keys sorted (Go sorts map keys), `<`, `>`,
 * `&`, U+2028 and U+2029 escaped, invalid UTF-16 replaced by U+FFFD. `toJSON()` is honoured like
 * JSON.stringify; undefined and functions inside objects are dropped, inside arrays they become null.
 */
export function goJson(x: unknown, what = 'value'): string {
  const seen = new Set<object>();
  const enc = (v: unknown, path: string): string | undefined => {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      v = (v as { toJSON: () => unknown }).toJSON();
    }
    switch (typeof v) {
      case 'string':
        return JSON.stringify(v.replace(LONE_SURROGATE, '\uFFFD')).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]!);
      case 'number':
        if (!Number.isFinite(v)) throw new TypeError(`${path} must be JSON: ${v} is not a JSON number`);
        return JSON.stringify(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'bigint':
        return v.toString();
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
      default:
        break;
    }
    if (v === null) return 'null';
    const o = v as object;
    if (seen.has(o)) throw new TypeError(`${path} must be JSON: it contains a cycle`);
    seen.add(o);
    try {
      if (Array.isArray(o)) return `[${o.map((e, i) => enc(e, `${path}[${i}]`) ?? 'null').join(',')}]`;
      const parts: string[] = [];
      for (const k of Object.keys(o).sort(byCodeUnits)) {
        const e = enc((o as Record<string, unknown>)[k], `${path}.${k}`);
        if (e !== undefined) parts.push(`${enc(k, path)}:${e}`);
      }
      return `{${parts.join(',')}}`;
    } finally {
      seen.delete(o);
    }
  };
  return enc(x, what) ?? 'null';
}

/** Go sorts map keys by bytes; for the BMP that is UTF-16 code unit order, which is what `<` compares. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
