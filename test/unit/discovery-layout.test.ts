// The registration key/value layouts, without etcd: plain (bare address or JSON with metadata) and Go's
// naming/endpoints JSON, byte for byte as Go's json.Marshal writes it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeValue, encodeValue, goJson, instanceKey, parseKey, toFormat, toName, toPrefix } from '../../src/discovery/layout';

test('plain without metadata: the value is the bare address', () => {
  assert.is(encodeValue('plain', '127.0.0.1:9000'), '127.0.0.1:9000');
  assert.is(encodeValue('plain', '127.0.0.1:9000', null), '127.0.0.1:9000');
  assert.equal(decodeValue('plain', '127.0.0.1:9000'), { address: '127.0.0.1:9000' });
});

test('plain with metadata: JSON {"Addr","Metadata"} and back', () => {
  const v = encodeValue('plain', '10.0.0.1:80', { zone: 'a', weight: 3 });
  assert.is(v, '{"Addr":"10.0.0.1:80","Metadata":{"weight":3,"zone":"a"}}');
  assert.equal(decodeValue('plain', v), { address: '10.0.0.1:80', metadata: { weight: 3, zone: 'a' } });
  assert.equal(decodeValue('plain', '{"Addr":"h:1","Metadata":"x"}'), { address: 'h:1', metadata: 'x' });
  assert.equal(decodeValue('plain', '{"Addr":"h:1","Metadata":null}'), { address: 'h:1' });
  assert.equal(decodeValue('plain', '{"Addr":"h:1"}'), { address: 'h:1' });
});

test('plain: an address starting with { is written in the JSON form so it reads back', () => {
  const v = encodeValue('plain', '{weird}');
  assert.is(v, '{"Addr":"{weird}","Metadata":null}');
  assert.equal(decodeValue('plain', v), { address: '{weird}' });
});

test('go-endpoints: exactly Go\'s json.Marshal of endpoints.Update', () => {
  assert.is(encodeValue('go-endpoints', '127.0.0.1:9000'), '{"Op":0,"Addr":"127.0.0.1:9000","Metadata":null}');
  assert.is(encodeValue('go-endpoints', '127.0.0.1:9000', null), '{"Op":0,"Addr":"127.0.0.1:9000","Metadata":null}');
  assert.is(encodeValue('go-endpoints', '10.0.0.1:80', 'v1'), '{"Op":0,"Addr":"10.0.0.1:80","Metadata":"v1"}');
  assert.is(
    encodeValue('go-endpoints', '10.0.0.1:80', { z: [1, true, null], a: { y: 1.5, b: 'x' } }),
    '{"Op":0,"Addr":"10.0.0.1:80","Metadata":{"a":{"b":"x","y":1.5},"z":[1,true,null]}}',
  );
  assert.equal(decodeValue('go-endpoints', '{"Op":0,"Addr":"10.0.0.1:80","Metadata":null}'), { address: '10.0.0.1:80' });
  assert.equal(decodeValue('go-endpoints', '{"Op":0,"Addr":"10.0.0.1:80","Metadata":{"k":1}}'), { address: '10.0.0.1:80', metadata: { k: 1 } });
});

test('go-endpoints: a bare address or broken JSON is not a registration', () => {
  assert.is(decodeValue('go-endpoints', '10.0.0.1:80'), undefined);
  assert.is(decodeValue('go-endpoints', '{"Op":0,'), undefined);
  assert.is(decodeValue('go-endpoints', '{"Op":0,"Metadata":null}'), undefined);
  assert.is(decodeValue('go-endpoints', '{"Op":0,"Addr":"","Metadata":null}'), undefined);
  assert.is(decodeValue('go-endpoints', '{"Op":0,"Addr":7}'), undefined);
  assert.is(decodeValue('plain', ''), undefined);
  assert.equal(decodeValue('plain', '[1]'), { address: '[1]' });
});

test("Go's string escaping: <, >, &, U+2028/9 and lone surrogates", () => {
  assert.is(goJson('a<b>&c'), '"a\\u003cb\\u003e\\u0026c"');
  assert.is(goJson('\u2028\u2029'), '"\\u2028\\u2029"');
  assert.is(goJson('x\uD800y'), '"x\uFFFDy"');
  assert.is(goJson('é😀\n\t"\\'), '"é😀\\n\\t\\"\\\\"');
  assert.is(goJson({ b: undefined, a: 1 }), '{"a":1}');
  assert.is(goJson([undefined]), '[null]');
  assert.throws(() => goJson(NaN), /not a JSON number/);
  const cyc: Record<string, unknown> = {};
  cyc['self'] = cyc;
  assert.throws(() => encodeValue('plain', 'h:1', cyc), /cycle/);
});

test('keys: <prefix>/<service>/<instance>; others are ignored', () => {
  assert.is(instanceKey('/service', 'user', 'i1'), '/service/user/i1');
  assert.equal(parseKey('/service', 'plain', '/service/user/i1'), { service: 'user', instance: 'i1' });
  assert.is(parseKey('/service', 'plain', '/service/user/i1/x'), undefined);
  assert.is(parseKey('/service', 'plain', '/service/user/'), undefined);
  assert.is(parseKey('/service', 'plain', '/service/user'), undefined);
  assert.is(parseKey('/service', 'plain', '/service//i1'), undefined);
  assert.is(parseKey('/service', 'plain', '/services/user/i1'), undefined);
  assert.is(parseKey('/service', 'plain', '/other/user/i1'), undefined);
  assert.equal(parseKey('/service', 'go-endpoints', '/service/user/10.0.0.1:80'), { service: 'user', instance: '10.0.0.1:80' });
  // Go allows any key below the target.
  assert.equal(parseKey('/service', 'go-endpoints', '/service/user/unix:///tmp/s'), { service: 'user', instance: 'unix:///tmp/s' });
  assert.equal(parseKey('', 'plain', '/user/i1'), { service: 'user', instance: 'i1' });
});

test('option and name validation', () => {
  assert.is(toPrefix(undefined), '/service');
  assert.is(toPrefix('/svc/'), '/svc');
  assert.throws(() => toPrefix(3), /prefix must be a string/);
  assert.is(toFormat(undefined), 'plain');
  assert.throws(() => toFormat('json'), /format must be 'plain' or 'go-endpoints'/);
  assert.throws(() => toName('service', ''), (e: Error) => e instanceof TypeError && /service must be a non-empty string/.test(e.message));
  assert.throws(() => toName('instance', 'a/b'), (e: Error) => e instanceof TypeError && /instance must not contain '\/'/.test(e.message));
  assert.throws(() => toName('instance', 5), TypeError);
});

test.run();
