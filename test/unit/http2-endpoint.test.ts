// The http2 transport's per-endpoint parts (src/transport/http2/endpoint.ts), without sockets: the reconnect
// backoff curve, the request headers and their cache, and the TLS names.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HTTP2_CONNECT } from '../../src/backoff';
import { Endpoint } from '../../src/transport/http2/endpoint';
import type { TransportConfig } from '../../src/transport/transport';

const plain: TransportConfig = { endpoints: [{ host: '127.0.0.1', port: 2379 }], loadBalancer: 'round_robin' };
const endpoint = (config: TransportConfig = plain, host = '127.0.0.1') =>
  new Endpoint(0, host, 2379, config, HTTP2_CONNECT.initialMs, HTTP2_CONNECT.maxMs);

test('backoff: 100 ms doubling to 1 s, each wait within ±20 %; reset starts from the bottom again', () => {
  const e = endpoint();
  const bases = [100, 200, 400, 800, 1000, 1000, 1000];
  for (const base of bases) {
    const d = e.nextBackoff();
    assert.ok(d >= Math.round(base * 0.8) && d <= Math.round(base * 1.2), `${d} ms for a ${base} ms step`);
  }
  e.resetBackoff();
  const d = e.nextBackoff();
  assert.ok(d >= 80 && d <= 120, `${d} ms after reset`);
});

test('headers: cached per path without metadata (the same object), a deadline adds grpc-timeout to a copy', () => {
  const e = endpoint();
  const a = e.headers('/etcdserverpb.KV/Range', -1, undefined);
  assert.is(e.headers('/etcdserverpb.KV/Range', -1, undefined), a);
  assert.is(a[':path'], '/etcdserverpb.KV/Range');
  assert.is(a[':authority'], '127.0.0.1:2379');
  assert.is(a[':scheme'], 'http');
  assert.is(a['content-type'], 'application/grpc');
  assert.is(a['te'], 'trailers');
  const timed = e.headers('/etcdserverpb.KV/Range', 1500, undefined);
  assert.is(timed['grpc-timeout'], '1500m');
  assert.is(a['grpc-timeout'], undefined, 'the cached template is not changed');
});

test('headers: metadata is lower-cased, cannot override reserved or pseudo headers; frozen metadata is cached', () => {
  const e = endpoint();
  const md = Object.freeze({ Token: 't1', 'content-type': 'text/plain', ':path': '/evil', 'User-Agent': 'x' });
  const h = e.headers('/p', -1, md);
  assert.is(h['token'], 't1');
  assert.is(h['content-type'], 'application/grpc');
  assert.is(h[':path'], '/p');
  assert.is(h['user-agent'], 'etcd-apiv3-http2/0.1');
  assert.is(e.headers('/p', -1, md), h, 'frozen metadata: cached');
  const loose = { token: 't2' };
  assert.is.not(e.headers('/p', -1, loose), e.headers('/p', -1, loose), 'unfrozen metadata: built per call');
  assert.is(e.headers('/p', 20, loose)['grpc-timeout'], '20m');
});

test('TLS: https scheme; SNI and certificate check use the host name, never an IP; the override wins everywhere', () => {
  const tls: TransportConfig = { ...plain, tls: {} };
  const byName = endpoint(tls, 'etcd.example');
  assert.is(byName.scheme, 'https');
  assert.is(byName.url, 'https://etcd.example:2379');
  assert.is(byName.tlsOptions?.servername, 'etcd.example');
  assert.equal(byName.tlsOptions?.ALPNProtocols, ['h2']);
  assert.is(endpoint(tls, '10.0.0.1').tlsOptions?.servername, undefined);
  const override = endpoint({ ...plain, tls: { targetNameOverride: 'member.etcd' } }, '10.0.0.1');
  assert.is(override.tlsOptions?.servername, 'member.etcd');
  assert.is(override.authority, 'member.etcd');
  assert.is(endpoint({ ...plain, channelOptions: { 'grpc.default_authority': 'auth.example' } }).authority, 'auth.example');
  assert.is(endpoint().tlsOptions, undefined);
});

test.run();
