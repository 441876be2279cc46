// What console.log / util.inspect show for the results and errors a program sees: keys and values
// as text, codes and revisions by name; no Buffers, no private fields.
import { inspect } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event_EventType } from '../../generated/mvcc/mvccpb/kv';
import { EtcdError, KeepAliveError, LeaseNotReadyError, UnreachableError } from '../../src/errors';
import { Event, Response, Value } from '../../src/response';

const kv = (key: string | Buffer, value: string, mod = 7) => new Value(Buffer.from(key), Buffer.from(value), 5, mod, 2, 0, 0n);

function noInternals(text: string): void {
  assert.not.match(text, /<Buffer/, 'no Buffer');
  for (const field of ['keyBytes', 'valueBytes', 'keyText', 'ttlSeconds', 'kvValue', 'keyList', ' r: ']) assert.not.ok(text.includes(field), `no private field ${field}: ${text}`);
}

test('Value: key and value as text, revisions, no Buffers or private fields', () => {
  const text = inspect(kv('/a', 'hello'));
  assert.is(text.replace(/\s+/g, ' '), "Value { key: '/a', value: 'hello', created_index: 5, modified_index: 7, version: 2 }");
  noInternals(text);
});

test('Value: bytes that are not UTF-8 show as hex', () => {
  const text = inspect(new Value(Buffer.from([0xff, 0x00]), Buffer.from('v')));
  assert.ok(text.includes("key: '<hex ff00>'"), text);
  noInternals(text);
});

test('a get Response: action, index and the value', () => {
  const r = new Response({ action: 'get', index: 9, value: kv('/a', '1'), values: [kv('/a', '1')] });
  const text = inspect(r);
  assert.match(text, /^Response \{/);
  assert.match(text, /action: 'get'/);
  assert.match(text, /index: 9/);
  assert.match(text, /value: Value \{\s+key: '\/a',\s+value: '1'/);
  noInternals(text);
});

test('a failed Response shows its code and message first', () => {
  const text = inspect(new Response({ code: 100, message: 'etcd-cpp-apiv3: key not found', action: 'get', index: 3 }));
  assert.match(text, /^Response \{\s+error_code: 100,\s+error_message: 'etcd-cpp-apiv3: key not found',/);
  noInternals(text);
});

test('a watch Response: its events, with type, kv and prev_kv', () => {
  const e = new Event({
    type: Event_EventType.PUT,
    kv: { key: Buffer.from('/w'), value: Buffer.from('new'), createRevision: 1n, modRevision: 4n, version: 2n, lease: 0n },
    prevKv: { key: Buffer.from('/w'), value: Buffer.from('old'), createRevision: 1n, modRevision: 3n, version: 1n, lease: 0n },
  });
  const text = inspect(new Response({ action: 'set', index: 4, events: [e], watchId: 0 }), { depth: 6 });
  assert.match(text, /events: \[\s*Event \{\s*type: 'PUT',\s*kv: Value \{\s+key: '\/w',\s+value: 'new'/);
  assert.match(text, /prev_kv: Value \{\s+key: '\/w',\s+value: 'old'/);
  noInternals(text);
});

test('errors show their name, message and code', () => {
  const cases: [Error, RegExp][] = [
    [new KeepAliveError(7n, 'lost', 14), /KeepAliveError: lost[\s\S]*leaseId: 7n,\s+code: 14/],
    [new EtcdError('cannot list', 4, 'gRPC timeout'), /EtcdError: cannot list[\s\S]*code: 4,\s+details: 'gRPC timeout'/],
    [new LeaseNotReadyError('not yet'), /LeaseNotReadyError: not yet[\s\S]*code: 'ERR_LEASE_NOT_READY'/],
    [new UnreachableError('down'), /UnreachableError: down[\s\S]*code: 14/],
  ];
  for (const [err, re] of cases) assert.match(inspect(err), re);
});

test.run();
