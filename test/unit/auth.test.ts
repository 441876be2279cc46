// The token cache without sockets: a fake transport answers Authenticate, and Connection.unary is driven
// against it (wrong password → 16 and final, auth not enabled → no token, renewal once on a stale token).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AuthService, KVService, RangeRequest } from '../../generated/etcdserver/etcdserverpb/rpc';
import { Auth, MESSAGE_AUTH_FAILED } from '../../src/auth';
import { Connection } from '../../src/connection';
import { GrpcStatusError } from '../../src/errors';
import type { CallOptions, MethodDescriptor, Transport } from '../../src/transport/transport';

type Answer = (request: unknown, options: CallOptions) => unknown;

/** A transport whose unary answers are scripted per method path; it records every call. */
class FakeTransport implements Transport {
  readonly calls: { path: string; token: string | undefined }[] = [];
  readonly answers = new Map<string, Answer>();
  async unary<Req, Res>(method: MethodDescriptor<Req, Res>, request: Req, options: CallOptions): Promise<Res> {
    this.calls.push({ path: method.path, token: options.metadata?.['token'] });
    await Promise.resolve();
    const answer = this.answers.get(method.path);
    if (!answer) throw new GrpcStatusError(12, `unscripted ${method.path}`);
    return answer(request, options) as Res;
  }
  stream(): never {
    throw new Error('not used');
  }
  close(): void {}
  count(path: string): number {
    return this.calls.filter((c) => c.path === path).length;
  }
}

const AUTH = AuthService.authenticate.path;
const RANGE = KVService.range.path;

function tokens(...list: string[]): Answer {
  let i = 0;
  return () => ({ header: undefined, token: list[Math.min(i++, list.length - 1)]! });
}

const range = () => RangeRequest.fromPartial({ key: Buffer.from('k') });

const test = suite('auth token cache');

test('a wrong password is UNAUTHENTICATED (16) with etcd\'s text, not etcd\'s INVALID_ARGUMENT (3)', async () => {
  const t = new FakeTransport();
  t.answers.set(AUTH, () => {
    throw new GrpcStatusError(3, MESSAGE_AUTH_FAILED);
  });
  const auth = new Auth(t, 'u', 'bad', 300, () => undefined);
  try {
    await auth.token();
    assert.unreachable();
  } catch (e) {
    assert.instance(e, GrpcStatusError);
    assert.is((e as GrpcStatusError).code, 16);
    assert.is((e as GrpcStatusError).details, 'etcdserver: authentication failed, invalid user ID or password');
  }
  assert.is(auth.lastToken, '');
});

test('other Authenticate failures pass through unchanged', async () => {
  const t = new FakeTransport();
  t.answers.set(AUTH, () => {
    throw new GrpcStatusError(14, 'No connection established', false);
  });
  const auth = new Auth(t, 'u', 'p', 300, () => undefined);
  const e = await auth.token().catch((x: unknown) => x);
  assert.instance(e, GrpcStatusError);
  assert.is((e as GrpcStatusError).code, 14);
});

test('concurrent callers share one Authenticate; the token is reused until ttl - 3 s', async () => {
  const t = new FakeTransport();
  t.answers.set(AUTH, tokens('t1', 't2'));
  const auth = new Auth(t, 'u', 'p', 300, () => undefined);
  const got = await Promise.all([auth.token(), auth.token(), auth.token()]);
  assert.equal(got, ['t1', 't1', 't1']);
  assert.is(await auth.token(), 't1');
  assert.is(t.count(AUTH), 1);
  auth.invalidate('some-older-token');
  assert.is(await auth.token(), 't1', 'invalidating a token we no longer hold changes nothing');
  auth.invalidate('t1');
  assert.is(await auth.token(), 't2');
  assert.is(t.count(AUTH), 2);
});

test('a server without authentication: token "" and calls carry no token metadata', async () => {
  const t = new FakeTransport();
  t.answers.set(AUTH, () => {
    throw new GrpcStatusError(9, 'etcdserver: authentication is not enabled');
  });
  t.answers.set(RANGE, () => ({ header: undefined, kvs: [], more: false, count: 0n }));
  const conn = new Connection(t, { username: 'u', password: 'p', ttlSeconds: 300 });
  try {
    await conn.unary(KVService.range, range());
    await conn.unary(KVService.range, range());
    assert.equal(
      t.calls.filter((c) => c.path === RANGE).map((c) => c.token),
      [undefined, undefined],
    );
    assert.is(t.count(AUTH), 1, 'asked once, remembered');
    assert.equal(await conn.metadata(), undefined, 'streams carry no token either');
  } finally {
    await conn.close();
  }
});

test('Connection.unary: a stale token is renewed once and the call retried; refused again, the error stands', async () => {
  const t = new FakeTransport();
  t.answers.set(AUTH, tokens('t1', 't2', 't3'));
  let refuse = 1;
  t.answers.set(RANGE, (_req, options) => {
    if (refuse-- > 0 || options.metadata?.['token'] === 't3') throw new GrpcStatusError(16, 'etcdserver: invalid auth token');
    return { header: undefined, kvs: [], more: false, count: 0n };
  });
  const conn = new Connection(t, { username: 'u', password: 'p', ttlSeconds: 300 });
  try {
    await conn.unary(KVService.range, range());
    assert.equal(
      t.calls.filter((c) => c.path === RANGE).map((c) => c.token),
      ['t1', 't2'],
    );
    conn.auth!.invalidate('t2'); // next call authenticates: gets t3, which the server refuses every time
    const e = await conn.unary(KVService.range, range()).catch((x: unknown) => x);
    assert.instance(e, GrpcStatusError);
    assert.is((e as GrpcStatusError).code, 16);
    assert.is(t.count(AUTH), 4, 't1, t2, t3, then one renewal that also fails');
  } finally {
    await conn.close();
  }
});

test('Connection.unary: a wrong password fails the call once with 16 (no retry), even for a retryable read', async () => {
  const t = new FakeTransport();
  t.answers.set(AUTH, () => {
    throw new GrpcStatusError(3, MESSAGE_AUTH_FAILED);
  });
  const conn = new Connection(t, { username: 'u', password: 'bad', ttlSeconds: 300 });
  try {
    const e = await conn.unary(KVService.range, range()).catch((x: unknown) => x);
    assert.instance(e, GrpcStatusError);
    assert.is((e as GrpcStatusError).code, 16);
    assert.is(t.count(AUTH), 1);
    assert.is(t.count(RANGE), 0, 'the call itself was never sent');
  } finally {
    await conn.close();
  }
});

test('Connection.unary: Authenticate unreachable counts as "not sent", so even a write is retried', async () => {
  const t = new FakeTransport();
  let down = 2;
  t.answers.set(AUTH, () => {
    // "sent" unknown, as grpc-js reports a dropped connection
    if (down-- > 0) throw new GrpcStatusError(14, 'Connection dropped');
    return { header: undefined, token: 'tok' };
  });
  t.answers.set(KVService.put.path, () => ({ header: undefined, prevKv: undefined }));
  const conn = new Connection(t, { username: 'u', password: 'p', ttlSeconds: 300 });
  try {
    await conn.unary(KVService.put, { key: Buffer.from('k'), value: Buffer.from('v'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false });
    assert.is(t.count(AUTH), 3);
    assert.equal(t.calls.filter((c) => c.path === KVService.put.path).map((c) => c.token), ['tok']);
  } finally {
    await conn.close();
  }
});

test.run();
