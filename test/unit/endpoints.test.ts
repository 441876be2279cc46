import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatHostPort, parseEndpoints, resolveEtcdEndpoints, type Endpoint } from '../../src/endpoints';

const ep = (host: string, port: number, tls = false): Endpoint => ({ host, port, tls });

/** Asserts that `fn` throws a TypeError whose message contains every one of `parts`. */
function throwsTypeError(fn: () => unknown, ...parts: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TypeError, `expected a TypeError, got ${String(caught)}`);
  for (const p of parts) {
    assert.ok((caught as Error).message.includes(p), `message ${JSON.stringify((caught as Error).message)} should name ${JSON.stringify(p)}`);
  }
}

test('a single http:// endpoint', () => {
  assert.equal(parseEndpoints('http://127.0.0.1:2379'), [ep('127.0.0.1', 2379)]);
});

test('comma-separated endpoints keep their order', () => {
  assert.equal(parseEndpoints('http://a:2379,http://b:2380,http://c:2381'), [ep('a', 2379), ep('b', 2380), ep('c', 2381)]);
});

test('semicolon-separated endpoints, and both separators mixed', () => {
  assert.equal(parseEndpoints('http://a:1;http://b:2'), [ep('a', 1), ep('b', 2)]);
  assert.equal(parseEndpoints('a:1,b:2;c:3'), [ep('a', 1), ep('b', 2), ep('c', 3)]);
});

test('whitespace around entries and empty entries are ignored', () => {
  assert.equal(parseEndpoints('  http://a:1 ,\thttp://b:2 ;  '), [ep('a', 1), ep('b', 2)]);
  assert.equal(parseEndpoints('a:1,,b:2'), [ep('a', 1), ep('b', 2)]);
});

test('https:// selects TLS, http:// and bare entries do not', () => {
  assert.equal(parseEndpoints('https://a:2379'), [ep('a', 2379, true)]);
  assert.equal(parseEndpoints('https://a:1,https://b:2'), [ep('a', 1, true), ep('b', 2, true)]);
  assert.is(parseEndpoints('http://a:1')[0]!.tls, false);
  assert.is(parseEndpoints('a:1')[0]!.tls, false);
});

test('the scheme is case-insensitive', () => {
  assert.equal(parseEndpoints('HTTPS://a:1'), [ep('a', 1, true)]);
  assert.equal(parseEndpoints('Http://a:1'), [ep('a', 1)]);
});

test('bare host:port', () => {
  assert.equal(parseEndpoints('10.0.0.2:2380'), [ep('10.0.0.2', 2380)]);
});

test('the port defaults to 2379', () => {
  assert.equal(parseEndpoints('localhost'), [ep('localhost', 2379)]);
  assert.equal(parseEndpoints('http://10.1.2.3'), [ep('10.1.2.3', 2379)]);
  assert.equal(parseEndpoints('https://etcd.example.com'), [ep('etcd.example.com', 2379, true)]);
});

test('bracketed IPv6 with a port', () => {
  assert.equal(parseEndpoints('http://[::1]:2379'), [ep('::1', 2379)]);
  assert.equal(parseEndpoints('[fe80::1:2]:4001'), [ep('fe80::1:2', 4001)]);
});

test('bracketed IPv6 without a port defaults to 2379', () => {
  assert.equal(parseEndpoints('[::1]'), [ep('::1', 2379)]);
  assert.equal(parseEndpoints('http://[2001:db8::7]'), [ep('2001:db8::7', 2379)]);
});

test('unbracketed IPv6 is split at the last colon (C++ form)', () => {
  assert.equal(parseEndpoints('::1:2379'), [ep('::1', 2379)]);
  assert.equal(parseEndpoints('http://::1:2380'), [ep('::1', 2380)]);
  assert.equal(parseEndpoints('2001:db8::1:12345'), [ep('2001:db8::1', 12345)]);
});

test('unbracketed IPv6 whose last group is not a port is the whole address', () => {
  assert.equal(parseEndpoints('fe80::abcd'), [ep('fe80::abcd', 2379)]);
});

// Skipped until src/endpoints.ts falls back to the whole address when the last-colon split does not give an
// IPv6 host: today `::1`, `fe80::1` and `2001:db8::1` are rejected because their last group looks like a port.
test('unbracketed IPv6 without a port whose last group is all digits', () => {
  assert.equal(parseEndpoints('::1'), [ep('::1', 2379)]);
  assert.equal(parseEndpoints('http://fe80::1'), [ep('fe80::1', 2379)]);
  assert.equal(parseEndpoints('2001:db8::1'), [ep('2001:db8::1', 2379)]);
});

test('host names, including dotted, dashed and underscored', () => {
  assert.equal(parseEndpoints('etcd-0.etcd.default.svc.cluster.local:2379'), [ep('etcd-0.etcd.default.svc.cluster.local', 2379)]);
  assert.equal(parseEndpoints('http://my_host:1'), [ep('my_host', 1)]);
});

test('a trailing slash is accepted', () => {
  assert.equal(parseEndpoints('http://a:2379/'), [ep('a', 2379)]);
  assert.equal(parseEndpoints('https://[::1]:2379/'), [ep('::1', 2379, true)]);
  assert.equal(parseEndpoints('http://a/'), [ep('a', 2379)]);
});

test('ports 1 and 65535 are the bounds', () => {
  assert.equal(parseEndpoints('a:1,b:65535'), [ep('a', 1), ep('b', 65535)]);
});

test('unsupported scheme is a TypeError naming the entry and the scheme', () => {
  throwsTypeError(() => parseEndpoints('ftp://x:1'), 'ftp://x:1', 'ftp');
  throwsTypeError(() => parseEndpoints('http://ok:1,unix://sock'), 'unix://sock');
});

test('a port out of range is a TypeError naming the entry', () => {
  throwsTypeError(() => parseEndpoints('h:99999'), 'h:99999', '99999');
  throwsTypeError(() => parseEndpoints('h:0'), 'h:0');
  throwsTypeError(() => parseEndpoints('http://[::1]:70000'), '[::1]:70000');
});

test('a non-numeric port is a TypeError naming the entry', () => {
  throwsTypeError(() => parseEndpoints('h:abc'), 'h:abc', 'abc');
  throwsTypeError(() => parseEndpoints('h:'), '"h:"');
  throwsTypeError(() => parseEndpoints('h:123456'), 'h:123456');
  throwsTypeError(() => parseEndpoints('h:-1'), 'h:-1');
});

test('an empty url is a TypeError', () => {
  throwsTypeError(() => parseEndpoints(''), 'empty');
  throwsTypeError(() => parseEndpoints('  '), 'empty');
  throwsTypeError(() => parseEndpoints(' , ; '), 'empty');
});

test('a scheme with no host is a TypeError naming the entry', () => {
  throwsTypeError(() => parseEndpoints('http://'), 'http://');
  throwsTypeError(() => parseEndpoints('http://:2379'), 'http://:2379');
});

test('a non-string url is a TypeError saying what it got', () => {
  throwsTypeError(() => parseEndpoints(2379 as unknown as string), 'number');
  throwsTypeError(() => parseEndpoints(undefined as unknown as string), 'undefined');
  throwsTypeError(() => parseEndpoints(null as unknown as string), 'null');
  throwsTypeError(() => parseEndpoints(['a:1'] as unknown as string), 'array');
});

test('a path, query or credentials is a TypeError naming the entry', () => {
  throwsTypeError(() => parseEndpoints('http://h:1/x'), 'http://h:1/x');
  throwsTypeError(() => parseEndpoints('http://h:1/v3/'), 'http://h:1/v3/');
  throwsTypeError(() => parseEndpoints('http://h:1?x=1'), 'http://h:1?x=1');
  throwsTypeError(() => parseEndpoints('http://user:pw@h:1'), 'http://user:pw@h:1');
});

test('mixing http:// and https:// is a TypeError naming the url', () => {
  throwsTypeError(() => parseEndpoints('http://a:1,https://b:2'), 'http://a:1,https://b:2', 'mixes');
  throwsTypeError(() => parseEndpoints('https://a:1;b:2'), 'https://a:1;b:2');
});

test('an unclosed bracket is a TypeError naming the entry', () => {
  throwsTypeError(() => parseEndpoints('http://[::1:2379'), 'http://[::1:2379', "'['");
  throwsTypeError(() => parseEndpoints('[::1'), '[::1');
});

test('brackets around something that is not IPv6, or junk after them, are TypeErrors', () => {
  throwsTypeError(() => parseEndpoints('[localhost]:1'), '[localhost]:1');
  throwsTypeError(() => parseEndpoints('[::1]x'), '[::1]x');
});

test('an invalid host name is a TypeError naming the entry', () => {
  throwsTypeError(() => parseEndpoints('-bad:1'), '-bad:1');
  throwsTypeError(() => parseEndpoints('a$b:1'), 'a$b:1');
  throwsTypeError(() => parseEndpoints('a:b:c'), 'a:b:c');
});

test('the error names the bad entry, not only the first one', () => {
  throwsTypeError(() => parseEndpoints('http://good:1,http://bad:99999'), 'bad:99999');
});

test('formatHostPort brackets IPv6 literals only', () => {
  assert.is(formatHostPort({ host: '::1', port: 2379 }), '[::1]:2379');
  assert.is(formatHostPort({ host: '2001:db8::1', port: 1 }), '[2001:db8::1]:1');
  assert.is(formatHostPort({ host: '127.0.0.1', port: 2379 }), '127.0.0.1:2379');
  assert.is(formatHostPort({ host: 'etcd.local', port: 4001 }), 'etcd.local:4001');
});

test('formatHostPort round-trips through parseEndpoints', () => {
  for (const url of ['[::1]:2380', '127.0.0.1:1', 'host-a:65535', '[fe80::1]:2379']) {
    const [e] = parseEndpoints(url);
    assert.is(formatHostPort(e!), url);
  }
});

function withEnv(value: string | undefined, fn: () => void): void {
  const saved = process.env['ETCD_ENDPOINTS'];
  try {
    if (value === undefined) delete process.env['ETCD_ENDPOINTS'];
    else process.env['ETCD_ENDPOINTS'] = value;
    fn();
  } finally {
    if (saved === undefined) delete process.env['ETCD_ENDPOINTS'];
    else process.env['ETCD_ENDPOINTS'] = saved;
  }
}

test('resolveEtcdEndpoints uses $ETCD_ENDPOINTS when set', () => {
  withEnv('http://10.9.9.9:2379,http://10.9.9.10:2379', () => {
    assert.is(resolveEtcdEndpoints('http://127.0.0.1:2379'), 'http://10.9.9.9:2379,http://10.9.9.10:2379');
  });
});

test('resolveEtcdEndpoints falls back when $ETCD_ENDPOINTS is unset or blank', () => {
  withEnv(undefined, () => assert.is(resolveEtcdEndpoints('http://127.0.0.1:2379'), 'http://127.0.0.1:2379'));
  withEnv('', () => assert.is(resolveEtcdEndpoints('fallback:1'), 'fallback:1'));
  withEnv('   ', () => assert.is(resolveEtcdEndpoints('fallback:2'), 'fallback:2'));
});

test('resolveEtcdEndpoints does not modify the environment', () => {
  withEnv('x:1', () => {
    resolveEtcdEndpoints('y:2');
    assert.is(process.env['ETCD_ENDPOINTS'], 'x:1');
  });
});

test.run();
