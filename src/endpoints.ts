import { isIP } from 'node:net';
import { describeType } from './args';

/** One etcd endpoint as given by the user, after parsing. */
export interface Endpoint {
  /** Host name or IP literal, without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
  /** True when the endpoint was written with `https://`. */
  readonly tls: boolean;
}

const DEFAULT_PORT = 2379;

/**
 * Parses an etcd endpoint list the way etcd-cpp-apiv3 accepts it: entries separated by `,` or `;`, each
 * `http://host:port`, `https://host:port`, or a bare `host:port`. IPv6 hosts are written `[::1]:2379` or,
 * as C++ also accepts, `::1:2379` (split at the last `:`). The port defaults to 2379.
 *
 * Unlike C++, the scheme is not ignored: `https://` selects TLS. Mixing `http://` and `https://` in one
 * list is refused because one channel has one security mode.
 *
 * @throws TypeError naming the malformed entry.
 */
export function parseEndpoints(url: string): Endpoint[] {
  if (typeof url !== 'string') {
    throw new TypeError(`etcd url must be a string, got ${describeType(url)}`);
  }
  const entries = url.split(/[,;]/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (entries.length === 0) throw new TypeError(`etcd url is empty: ${JSON.stringify(url)}`);
  const endpoints = entries.map(parseOne);
  const tls = endpoints[0]!.tls;
  if (endpoints.some((e) => e.tls !== tls)) {
    throw new TypeError(`etcd url mixes http:// and https:// endpoints: ${JSON.stringify(url)}`);
  }
  return endpoints;
}

function parseOne(entry: string): Endpoint {
  const bad = (why: string) => new TypeError(`invalid etcd endpoint ${JSON.stringify(entry)}: ${why}`);
  let rest = entry;
  let tls = false;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(rest);
  if (scheme) {
    const name = scheme[1]!.toLowerCase();
    if (name === 'https') tls = true;
    else if (name !== 'http') throw bad(`unsupported scheme '${scheme[1]}' (use http:// or https://)`);
    rest = rest.slice(scheme[0].length);
  }
  // A trailing slash is harmless (`http://h:2379/`); any other path is a mistake worth reporting.
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  if (rest.length === 0) throw bad('missing host');
  if (/[/?#@\s]/.test(rest)) throw bad('unexpected path, query, credentials or whitespace');

  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw bad("unclosed '[' in IPv6 address");
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(':')) throw bad(`unexpected '${after}' after IPv6 address`);
      portText = after.slice(1);
    }
    if (isIP(host) !== 6) throw bad(`'${host}' is not an IPv6 address`);
  } else {
    const colons = rest.split(':').length - 1;
    if (colons === 0) {
      host = rest;
    } else if (colons === 1) {
      [host, portText] = rest.split(':') as [string, string];
    } else {
      // Unbracketed IPv6: `::1:2379` (C++ form) when what precedes the last group is an address and the last
      // group looks like a port; otherwise the whole entry must be an address (`fe80::1`).
      const cut = rest.lastIndexOf(':');
      const before = rest.slice(0, cut);
      if (isIP(before) === 6 && /^\d{1,5}$/.test(rest.slice(cut + 1))) {
        host = before;
        portText = rest.slice(cut + 1);
      } else if (isIP(rest) === 6) {
        host = rest;
      } else {
        throw bad(`'${rest}' is not an IPv6 address`);
      }
    }
    if (host.length === 0) throw bad('missing host');
    if (isIP(host) === 0 && !/^[a-zA-Z0-9]([a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/.test(host)) {
      throw bad(`'${host}' is not a valid host name`);
    }
  }
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw bad(`port '${portText}' is not a number`);
    port = Number(portText);
    if (port < 1 || port > 65535) throw bad(`port ${port} is out of range 1-65535`);
  }
  return { host, port, tls };
}

/** `host:port`, with brackets around IPv6 literals. */
export function formatHostPort(e: { host: string; port: number }): string {
  return isIP(e.host) === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** The value of `$ETCD_ENDPOINTS` when set and non-empty, else `fallback` (C++ `resolve_etcd_endpoints`). */
export function resolveEtcdEndpoints(fallback: string): string {
  const env = process.env['ETCD_ENDPOINTS'];
  return env !== undefined && env.trim() !== '' ? env : fallback;
}

