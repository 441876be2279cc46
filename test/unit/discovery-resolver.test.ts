// The resolver's pure parts: addresses to grpc-js subchannel addresses, targets to service names.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseHostPort, serviceOfTarget } from '../../src/discovery/resolver';

test('host:port and [ipv6]:port parse; anything else is refused', () => {
  assert.equal(parseHostPort('127.0.0.1:9000'), { host: '127.0.0.1', port: 9000 });
  assert.equal(parseHostPort('localhost:80'), { host: 'localhost', port: 80 });
  assert.equal(parseHostPort('[::1]:50051'), { host: '::1', port: 50051 });
  assert.equal(parseHostPort('[fe80::1%eth0]:1'), { host: 'fe80::1%eth0', port: 1 });
  for (const bad of ['127.0.0.1', '::1', '::1:80', '[::1]', '[::1]x', 'h:0', 'h:65536', 'h:-1', 'h:8a', ':80', '[]:80', '[host]:80', '']) {
    assert.is(parseHostPort(bad), undefined, bad);
  }
});

test('targets: etcd:///svc and etcd:svc name the service; paths with / do not', () => {
  assert.is(serviceOfTarget({ scheme: 'etcd', authority: '', path: 'user' }), 'user');
  assert.is(serviceOfTarget({ scheme: 'etcd', path: 'user' }), 'user');
  assert.is(serviceOfTarget({ scheme: 'etcd', authority: 'ignored', path: 'user' }), 'user');
  assert.is(serviceOfTarget({ scheme: 'etcd', path: '/user' }), 'user');
  assert.is(serviceOfTarget({ scheme: 'etcd', path: 'a/b' }), undefined);
  assert.is(serviceOfTarget({ scheme: 'etcd', path: '' }), undefined);
});

test.run();
