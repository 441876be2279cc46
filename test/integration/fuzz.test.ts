// Hostile input against a real etcd started with small limits (--max-request-bytes=65536,
// --max-txn-ops=16). First the limits themselves: clear errors in the Response, never a hang or a crash. Then a
// seeded fuzzer (no dependencies: a small PRNG; FUZZ_SEED=<n> replays a run, FUZZ_OPS=<n> changes its length)
// drives every public Client method, Transaction, Watcher, KeepAlive and Observer with random and malformed
// arguments — wrong types, symbols, functions, NaN, ±Infinity, -1, 1.5, 2**53, negative and 2^64 ids, empty
// and 2 MiB keys, invalid UTF-8, extra arguments — and checks that each call either works, resolves with an
// error Response, or throws TypeError/RangeError synchronously; never anything else, never an unhandled
// rejection or uncaught exception, never a hang; and that 50 sentinel keys outside its prefix are untouched.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Client,
  ClientClosedError,
  CompareResult,
  CompareTarget,
  KeepAlive,
  KeepAliveError,
  Observer,
  Response,
  Transaction,
  Watcher,
} from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { failed, ok, uniquePrefix } from './util';
import { eventually, pause, settle, within } from '../helpers/wait';

const MAX_REQUEST_BYTES = 65_536;
const MAX_TXN_OPS = 16;

let cluster: EtcdCluster;
let client: Client;

// ---- process traps: nothing may escape as an unhandled rejection or an uncaught exception ---------------

const escaped: string[] = [];
const onUnhandled = (reason: unknown) => void escaped.push(`unhandledRejection: ${describeError(reason)}`);
const onUncaught = (err: unknown) => void escaped.push(`uncaughtException: ${describeError(err)}`);
/** Process warnings (a TimeoutOverflowWarning is a timer that fires after 1 ms instead of never). */
const warnings: string[] = [];
const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
}

const test = suite('limits and hostile input (--max-request-bytes=65536 --max-txn-ops=16)');

test.before(async () => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUncaught);
  process.on('warning', onWarning);
  cluster = await startEtcd({
    name: 'it-fuzz',
    dataDirOnTmpfs: true,
    extraArgs: [`--max-request-bytes=${MAX_REQUEST_BYTES}`, `--max-txn-ops=${MAX_TXN_OPS}`],
  });
  client = new Client(cluster.endpoint);
});

test.after(async () => {
  await client?.close();
  await cluster?.stop();
  process.removeListener('unhandledRejection', onUnhandled);
  process.removeListener('uncaughtException', onUncaught);
  process.removeListener('warning', onWarning);
});

// ---- limits ----------------------------------------------------------------------------------------------

test('a request over --max-request-bytes resolves 3 "etcdserver: request is too large"; just under it works', async () => {
  const p = uniquePrefix('limit-bytes');
  const over = failed(await client.put(`${p}big`, Buffer.alloc(MAX_REQUEST_BYTES + 1024, 0x61)), 3, 'etcdserver: request is too large');
  assert.is(over.action(), 'set');
  const t = new Transaction();
  for (let i = 0; i < 3; i++) t.add_success_put(`${p}t${i}`, Buffer.alloc(30_000, 0x62));
  failed(await client.txn(t), 3, 'etcdserver: request is too large');
  failed(await client.add(`${p}add`, Buffer.alloc(MAX_REQUEST_BYTES, 0x63)), 3, 'etcdserver: request is too large');
  ok(await client.put(`${p}fits`, Buffer.alloc(MAX_REQUEST_BYTES - 1024, 0x64)), 'a value just under the limit');
  assert.equal(ok(await client.keys(p)).keys(), [`${p}fits`]);
});

test('a txn with more than --max-txn-ops operations resolves 3 "etcdserver: too many operations in txn request"', async () => {
  const p = uniquePrefix('limit-ops');
  const txn = (n: number) => {
    const t = new Transaction();
    for (let i = 0; i < n; i++) t.add_success_put(`${p}${String(i).padStart(2, '0')}`, 'v');
    return t;
  };
  const r = failed(await client.txn(txn(MAX_TXN_OPS + 1)), 3, 'etcdserver: too many operations in txn request');
  assert.is(r.action(), 'txn');
  assert.equal(ok(await client.ls(p)).values(), [], 'nothing of the refused txn was applied');
  // compares count too: etcd limits each of compare / success / failure
  const c = new Transaction();
  for (let i = 0; i < MAX_TXN_OPS + 1; i++) c.add_compare_version(`${p}${i}`, CompareResult.EQUAL, 0);
  c.add_success_put(`${p}x`, 'v');
  failed(await client.txn(c), 3, 'etcdserver: too many operations in txn request');
  ok(await client.txn(txn(MAX_TXN_OPS)), `${MAX_TXN_OPS} operations are fine`);
  assert.is(ok(await client.keys(p)).keys().length, MAX_TXN_OPS);
});

test("a request over gRPC's receive limit (max-request-bytes + 512 KiB) resolves 8 at once; the client keeps working", async () => {
  const p = uniquePrefix('limit-grpc');
  const t0 = Date.now();
  const r = await client.put(`${p}huge`, Buffer.alloc(700 * 1024, 0x65));
  assert.is(r.error_code(), 8, `${r.error_code()} ${r.error_message()}`);
  assert.match(r.error_message(), /larger than max/);
  assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
  failed(await client.get(`${p}${'k'.repeat(2 * 1024 * 1024)}`), 8);
  ok(await client.put(`${p}after`, 'v'));
  failed(await client.get(`${p}huge`), 100);
});

// ---- extreme but valid numbers (found by the fuzzer) ------------------------------------------------------

test('set_grpc_timeout(Number.MAX_SAFE_INTEGER): calls work (grpc-js cannot express that deadline; it is capped)', async () => {
  const c = new Client(cluster.endpoint);
  try {
    for (const ms of [2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      c.set_grpc_timeout(ms);
      assert.is(c.get_grpc_timeout(), ms);
      ok(await c.put(`${FUZZ}extreme`, String(ms)), `put with timeout ${ms}`);
      ok(await c.get(`${FUZZ}extreme`), `get with timeout ${ms}`);
    }
    // Check() waits for its refresh up to the client's timeout: a huge one must not fire at once
    const ka = await c.leasekeepalive(5);
    try {
      await ka.Check();
    } finally {
      ka.Cancel();
    }
  } finally {
    await c.close();
  }
  assert.equal(warnings, []);
});

test('a keepalive of a 2^31 s lease (etcd grants it) does not spin on an overflowing timer', async () => {
  const granted = ok(await client.leasegrant(2 ** 31));
  assert.is(granted.value().ttl(), 2 ** 31);
  const ka = await client.leasekeepalive(2 ** 31);
  try {
    const before = process.cpuUsage();
    await pause(1000, 'the measured interval');
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    // A timer that overflows to 1 ms would burn most of the second; 400 ms leaves room for GC and a late tsx compile.
    assert.ok(ms < 400, `${ms} ms of CPU in 1 s with an idle keepalive`);
    await ka.Check();
  } finally {
    ka.Cancel();
    ok(await client.leaserevoke(granted.value().lease()));
  }
  assert.equal(warnings, []);
});

// A create request the server refuses as too large ends that watcher with 8, not the whole shared stream (a
// reconnect would send the same create first again, forever, holding up every other watcher of the client).
test('an oversized Watcher ends with code 8 and does not hold up the other watchers of its client', async () => {
  const c = new Client(cluster.endpoint);
  try {
    const ended: Response[] = [];
    const huge = new Watcher(c, HUGE_KEY, (r) => void ended.push(r));
    const seen: number[] = [];
    const p = uniquePrefix('huge-watch');
    const normal = new Watcher(c, p, (r) => void seen.push(...r.events().map((e) => e.kv().modified_index())), true);
    await normal.ready();
    const rev = ok(await client.put(`${p}k`, 'v')).index();
    await eventually(() => seen.includes(rev), 10_000, 'the normal watcher to get its event');
    assert.is(await huge.Wait(), false);
    assert.is(ended[0]?.error_code(), 8);
    await normal.Cancel();
  } finally {
    await c.close();
  }
});

// ---- the fuzzer ------------------------------------------------------------------------------------------

/** mulberry32: a tiny seeded PRNG, enough for reproducible choices. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FUZZ = '/fuzz/';
const FUZZ_END = '/fuzz0'; // the end of the /fuzz/ prefix: no write may reach past it
const SENTINEL = '/sentinel/';
const HUGE_KEY = `${FUZZ}${'h'.repeat(2 * 1024 * 1024)}`;
const INVALID_UTF8 = [0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80, 0x00];

/** Values of every wrong type. */
const HOSTILE: readonly unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -0,
  -1,
  1.5,
  NaN,
  Infinity,
  -Infinity,
  2 ** 53,
  -(2 ** 53),
  Number.MAX_VALUE,
  0n,
  -1n,
  2n ** 64n,
  2n ** 63n,
  {},
  [],
  ['/fuzz/a'],
  Symbol('fuzz'),
  () => {},
  new Date(0),
  Object.create(null),
  { toString: () => '/fuzz/x' },
  new Map(),
  Promise.resolve('/fuzz/p'),
  new ArrayBuffer(4),
  new Uint16Array(2),
];

interface Pools {
  leases: bigint[];
  lockKeys: string[];
  leaders: { key: string; rev: number; lease: bigint }[];
  revisions: number[];
}

/** Describes an argument for failure messages (short, never throws). */
function show(x: unknown): string {
  try {
    if (typeof x === 'string') return x.length > 40 ? `'${x.slice(0, 20)}…' (${x.length} chars)` : JSON.stringify(x);
    if (typeof x === 'bigint') return `${x}n`;
    if (typeof x === 'symbol') return 'Symbol()';
    if (typeof x === 'function') return 'function';
    if (Buffer.isBuffer(x)) return `Buffer(${x.length})`;
    if (x instanceof Uint8Array) return `Uint8Array(${x.length})`;
    if (x instanceof Transaction) return 'Transaction';
    if (x instanceof Client) return 'Client';
    if (Array.isArray(x)) return `[${x.length} items]`;
    if (x === null) return 'null';
    if (typeof x === 'object') return `object ${Object.prototype.toString.call(x)}`;
    return String(x);
  } catch {
    return '?';
  }
}

function asBytes(x: unknown): Buffer | undefined {
  if (typeof x === 'string') return Buffer.from(x);
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  return undefined;
}

/**
 * The fuzzer's own guard: a delete it generates may only cover keys inside /fuzz/ (or be refused by the
 * client's argument checks before anything is sent). `second` is rmdir's second argument or a txn op's
 * range_end; `recursive` a txn op's flag.
 */
function assertSafeDelete(key: unknown, second: unknown, recursive: unknown, what: string): void {
  const k = asBytes(key);
  if (k === undefined) return; // refused: key must be bytes
  const end = typeof second === 'boolean' ? undefined : asBytes(second);
  const prefix = second === true || recursive === true;
  if (typeof second !== 'boolean' && second !== undefined && end === undefined) return; // refused: bad range_end
  const inside = k.subarray(0, FUZZ.length).toString('latin1') === FUZZ;
  if (k.length === 0) {
    assert.ok(!prefix && (end === undefined || end.length === 0), `${what}: the fuzzer generated a delete from the empty key`);
    return;
  }
  assert.ok(inside, `${what}: the fuzzer generated a delete outside ${FUZZ}`);
  if (end && end.length > 0) assert.ok(Buffer.compare(end, Buffer.from(FUZZ_END)) <= 0, `${what}: range end past ${FUZZ_END}`);
}

class Gen {
  constructor(
    readonly rnd: () => number,
    private readonly pools: Pools,
  ) {}

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  hostile(): unknown {
    return this.pick(HOSTILE);
  }

  /** A key under /fuzz/: few distinct names (so calls meet each other's keys), unicode, binary, invalid UTF-8. */
  fuzzKey(): string | Buffer {
    switch (this.int(6)) {
      case 0:
      case 1:
      case 2:
        return `${FUZZ}k${this.int(12)}`;
      case 3:
        return `${FUZZ}${this.text(12)}`;
      case 4:
        return Buffer.concat([Buffer.from(FUZZ), Buffer.from(INVALID_UTF8.slice(this.int(6)))]);
      default:
        return Buffer.concat([Buffer.from(FUZZ), Buffer.from(Array.from({ length: this.int(8) }, () => this.int(256)))]);
    }
  }

  /** Any single key a call may write: /fuzz/…, empty, 2 MiB, or not bytes at all. */
  key(): unknown {
    const r = this.rnd();
    if (r < 0.72) return this.fuzzKey();
    if (r < 0.77) return '';
    if (r < 0.79) return new Uint8Array(0);
    if (r < 0.81) return HUGE_KEY;
    return this.hostile();
  }

  /** Random text: ASCII, unicode, NUL, lone surrogates. */
  text(max: number): string {
    const alphabet = ['a', 'b', 'z', '/', '\0', 'é', '日', '😀', '\uD800', '\uDFFF', ' ', '\n', '%', '\\'];
    return Array.from({ length: this.int(max + 1) }, () => this.pick(alphabet)).join('');
  }

  value(): unknown {
    const r = this.rnd();
    if (r < 0.45) return `v${this.int(100)}`;
    if (r < 0.55) return '';
    if (r < 0.65) return this.text(20);
    if (r < 0.72) return Buffer.from(INVALID_UTF8);
    if (r < 0.75) return Buffer.alloc(MAX_REQUEST_BYTES + 100, 0x78); // over the request limit
    if (r < 0.8) return new Uint8Array([0, 1, 2, 255]);
    return this.hostile();
  }

  /** A range end for a read: anything, the whole keyspace included. */
  readEnd(): unknown {
    const r = this.rnd();
    if (r < 0.3) return this.fuzzKey();
    if (r < 0.4) return FUZZ_END;
    if (r < 0.5) return '\0';
    if (r < 0.6) return '';
    if (r < 0.7) return this.text(6);
    return this.hostile();
  }

  /** [key, range_end] for a delete that cannot reach past /fuzz/ (an empty key never gets a range). */
  deleteRange(): [unknown, unknown] {
    const key = this.key();
    const isBytes = typeof key === 'string' || key instanceof Uint8Array;
    const empty = isBytes && (key as string | Uint8Array).length === 0;
    if (empty || !isBytes) return [key, empty ? '' : this.chance(0.5) ? this.hostile() : ''];
    const r = this.rnd();
    if (r < 0.3) return [key, ''];
    if (r < 0.6) return [key, this.fuzzKey()];
    if (r < 0.75) return [key, FUZZ_END];
    return [key, this.hostile()];
  }

  number(): unknown {
    const r = this.rnd();
    if (r < 0.4) return this.int(20);
    if (r < 0.5 && this.pools.revisions.length) return this.pick(this.pools.revisions);
    if (r < 0.55) return 2 ** 40;
    return this.pick([0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, Number.MAX_SAFE_INTEGER, -0, this.hostile()]);
  }

  leaseId(): unknown {
    const r = this.rnd();
    if (r < 0.3 && this.pools.leases.length) return this.pick(this.pools.leases);
    if (r < 0.4) return 0;
    if (r < 0.5) return BigInt(this.int(1000));
    return this.pick([-1, -1n, 1.5, NaN, 2 ** 53, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n, -(2n ** 64n), this.hostile()]);
  }

  ttl(): unknown {
    const r = this.rnd();
    if (r < 0.6) return 1 + this.int(10);
    return this.pick([0, -1, 1.5, NaN, Infinity, 2 ** 31, 2 ** 40, 2 ** 53, Number.MAX_SAFE_INTEGER, '5', 5n, this.hostile()]);
  }

  bool(): unknown {
    return this.chance(0.8) ? this.chance(0.5) : this.hostile();
  }

  /** Up to two extra arguments, sometimes. */
  extra(): unknown[] {
    return this.chance(0.15) ? Array.from({ length: 1 + this.int(2) }, () => this.hostile()) : [];
  }

  /** A random Transaction built through its public methods (which may throw for bad arguments, as they should). */
  transaction(depth = 0): unknown {
    if (this.chance(0.05)) return this.hostile();
    const t = new Transaction();
    const n = this.int(MAX_TXN_OPS + 4);
    for (let i = 0; i < n; i++) {
      try {
        this.txnStep(t, depth);
      } catch (e) {
        if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
      }
    }
    return t;
  }

  private txnStep(t: Transaction, depth: number): void {
    const k = () => this.key();
    const result = () => (this.chance(0.85) ? this.pick(Object.values(CompareResult)) : this.hostile());
    const call = (method: string, ...args: unknown[]) => (t as unknown as Record<string, (...a: unknown[]) => void>)[method]!(...args);
    const prev = () => (this.chance(0.5) ? this.value() : this.number());
    switch (this.int(16)) {
      case 0:
        return call('add_compare_version', k(), result(), this.number(), ...(this.chance(0.3) ? [this.readEnd()] : []));
      case 1:
        return call('add_compare_create', k(), this.number());
      case 2:
        return call('add_compare_mod', k(), result(), this.number());
      case 3:
        return call('add_compare_value', k(), ...(this.chance(0.5) ? [result()] : []), this.value());
      case 4:
        return call('add_compare_lease', k(), result(), this.leaseId());
      case 5:
        return call(this.chance(0.5) ? 'add_success_range' : 'add_failure_range', k(), this.readEnd(), this.bool(), this.number());
      case 6:
        return call(this.chance(0.5) ? 'add_success_put' : 'add_failure_put', k(), this.value(), this.leaseId(), this.bool());
      case 7: {
        const [key, end] = this.deleteRange();
        const recursive = end === '' && this.fuzzKeyLike(key) ? this.bool() : false;
        assertSafeDelete(key, end, recursive, 'txn delete');
        return call(this.chance(0.5) ? 'add_success_delete' : 'add_failure_delete', key, end, recursive, this.bool());
      }
      case 8:
        if (depth < 2) return call(this.chance(0.5) ? 'add_success_txn' : 'add_failure_txn', this.transaction(depth + 1));
        return call('add_success_txn', this.hostile());
      case 9:
        return call('setup_compare_and_create', k(), prev(), k(), this.value(), this.leaseId());
      case 10:
        return call('setup_compare_or_swap', k(), prev(), this.value());
      case 11: {
        const [key, end] = this.deleteRange();
        assertSafeDelete(key, end, false, 'txn compare-and-delete');
        return call('setup_compare_and_delete', k(), prev(), key, end, false);
      }
      case 12:
        return call('setup_put', k(), this.value());
      case 13: {
        const [key, end] = this.deleteRange();
        const recursive = this.fuzzKeyLike(key) && end === '' ? this.bool() : false;
        assertSafeDelete(key, end, recursive, 'txn setup_delete');
        return call('setup_delete', key, end, recursive);
      }
      case 14:
        return call('setup_compare_and_swap', k(), prev(), this.value(), this.leaseId());
      default:
        return call('add_compare_version', k(), this.pick(Object.values(CompareTarget)));
    }
  }

  /** A non-empty /fuzz/ key: its prefix range stays inside /fuzz/. */
  fuzzKeyLike(key: unknown): boolean {
    if (typeof key === 'string') return key.startsWith(FUZZ);
    return key instanceof Uint8Array && Buffer.from(key.buffer, key.byteOffset, key.byteLength).subarray(0, FUZZ.length).toString() === FUZZ;
  }
}

/** One generated operation: a label for reports and the call, made when run. */
interface Op {
  label: string;
  run(env: Env): Promise<void>;
}

interface Env {
  main: Client;
  /** A client with a short timeout for calls that block on the server (lock, campaign). */
  blocking: Client;
  pools: Pools;
  stats: Map<string, { ok: number; error: number; threw: number }>;
}

const CALL_BOUND_MS = 15_000;

function bounded<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  return within(p, ms, `hang: no answer from ${label}`);
}

function count(env: Env, name: string, outcome: 'ok' | 'error' | 'threw'): void {
  let s = env.stats.get(name);
  if (!s) env.stats.set(name, (s = { ok: 0, error: 0, threw: 0 }));
  s[outcome]++;
}

/** Calls fn; a synchronous throw must be a TypeError or RangeError with a message. Returns the result or a marker. */
const THREW = Symbol('threw');
function attempt(env: Env, name: string, label: string, fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    assert.ok(e instanceof TypeError || e instanceof RangeError, `${label}: threw ${describeError(e)}`);
    assert.ok((e as Error).message.length > 0, `${label}: empty error message`);
    count(env, name, 'threw');
    return THREW;
  }
}

/** The result must be a promise of a Response: success (code 0) or an error Response (code > 0). */
async function expectResponse(env: Env, name: string, label: string, result: unknown): Promise<Response | undefined> {
  if (result === THREW) return undefined;
  assert.ok(result instanceof Promise, `${label}: returned ${show(result)}, not a promise`);
  let r: unknown;
  try {
    r = await bounded(result, CALL_BOUND_MS, label);
  } catch (e) {
    assert.unreachable(`${label}: rejected with ${describeError(e)}`);
  }
  assert.instance(r, Response, `${label}: resolved with ${show(r)}`);
  const res = r as Response;
  if (res.is_ok()) {
    assert.is(res.error_code(), 0, label);
    count(env, name, 'ok');
  } else {
    assert.ok(res.error_code() > 0, `${label}: not ok but code ${res.error_code()}`);
    assert.type(res.error_message(), 'string');
    count(env, name, 'error');
  }
  return res;
}

/** Builds the whole operation list up front from the seed, so a seed replays the same inputs. */
function generate(seed: number, n: number, endpoint: string, pools: Pools): Op[] {
  const g = new Gen(prng(seed), pools);
  const ops: Op[] = [];
  const resp = (name: string, args: unknown[], call: (env: Env, ...a: unknown[]) => unknown, after?: (r: Response, env: Env) => void): Op => ({
    label: `${name}(${args.map(show).join(', ')})`,
    async run(env) {
      const label = this.label;
      const r = await expectResponse(env, name, label, attempt(env, name, label, () => call(env, ...args)));
      if (r?.is_ok()) after?.(r, env);
    },
  });
  // Methods are called through `any` on purpose: the fuzzer passes what TypeScript would refuse.
  type AnyFn = (...a: unknown[]) => unknown;
  const m = (c: Client, name: string): AnyFn => (c as unknown as Record<string, AnyFn>)[name]!.bind(c);
  const learnRev = (r: Response, env: Env) => {
    if (r.index() > 0 && env.pools.revisions.length < 50) env.pools.revisions.push(r.index());
  };

  const makers: [number, () => Op][] = [
    [6, () => resp('get', [g.key(), ...(g.chance(0.5) ? [g.number()] : []), ...g.extra()], (e, ...a) => m(e.main, 'get')(...a), learnRev)],
    [5, () => resp('put', [g.key(), g.value(), ...(g.chance(0.3) ? [g.leaseId()] : []), ...g.extra()], (e, ...a) => m(e.main, 'put')(...a), learnRev)],
    [4, () => resp('set', [g.key(), g.value(), ...(g.chance(0.3) ? [g.leaseId()] : [])], (e, ...a) => m(e.main, 'set')(...a))],
    [4, () => resp('add', [g.key(), g.value(), ...(g.chance(0.3) ? [g.leaseId()] : [])], (e, ...a) => m(e.main, 'add')(...a))],
    [4, () => resp('modify', [g.key(), g.value(), ...(g.chance(0.3) ? [g.leaseId()] : [])], (e, ...a) => m(e.main, 'modify')(...a))],
    [4, () => resp('modify_if', [g.key(), g.value(), g.chance(0.5) ? g.value() : g.number(), ...(g.chance(0.3) ? [g.leaseId()] : []), ...g.extra()], (e, ...a) => m(e.main, 'modify_if')(...a))],
    [4, () => resp('rm', [g.key(), ...g.extra()], (e, ...a) => m(e.main, 'rm')(...a))],
    [4, () => resp('rm_if', [g.key(), g.chance(0.5) ? g.value() : g.number()], (e, ...a) => m(e.main, 'rm_if')(...a))],
    [
      4,
      () => {
        const [key, end] = g.deleteRange();
        // rmdir(key, range_end), rmdir(key, recursive) or rmdir(key); never a range reaching past /fuzz/
        const args = end !== '' ? [key, end] : g.chance(0.3) ? [key] : [key, g.fuzzKeyLike(key) ? g.bool() : false];
        assertSafeDelete(args[0], args[1], undefined, 'rmdir');
        return resp('rmdir', args, (e, ...a) => m(e.main, 'rmdir')(...a));
      },
    ],
    [5, () => resp('ls', [g.key(), ...(g.chance(0.5) ? [g.readEnd()] : []), ...(g.chance(0.5) ? [g.number()] : []), ...(g.chance(0.3) ? [g.number()] : []), ...g.extra()], (e, ...a) => m(e.main, 'ls')(...a))],
    [4, () => resp('keys', [g.key(), ...(g.chance(0.5) ? [g.readEnd()] : []), ...(g.chance(0.5) ? [g.number()] : [])], (e, ...a) => m(e.main, 'keys')(...a))],
    [8, () => resp('txn', [g.transaction(), ...g.extra()], (e, ...a) => m(e.main, 'txn')(...a))],
    [3, () => resp('leasegrant', [g.ttl(), ...g.extra()], (e, ...a) => m(e.main, 'leasegrant')(...a), (r, env) => {
      if (env.pools.leases.length < 40) env.pools.leases.push(r.value().lease());
    })],
    [2, () => resp('leaserevoke', [g.leaseId()], (e, ...a) => m(e.main, 'leaserevoke')(...a))],
    [2, () => resp('leasetimetolive', [g.leaseId()], (e, ...a) => m(e.main, 'leasetimetolive')(...a))],
    [1, () => resp('leases', g.extra(), (e, ...a) => m(e.main, 'leases')(...a))],
    [1, () => resp('head', g.extra(), (e, ...a) => m(e.main, 'head')(...a), learnRev)],
    [1, () => resp('list_member', g.extra(), (e, ...a) => m(e.main, 'list_member')(...a))],
    // Membership changes go through the short-timeout client: etcd (raft) silently drops a configuration change
    // proposed while another is pending, and the dropped call then waits for the client's deadline — forever
    // without one (reproduced with three concurrent remove_member calls on etcd 3.4; see the report).
    [1, () => resp('remove_member', [g.leaseId()], (e, ...a) => m(e.blocking, 'remove_member')(...a))],
    // add_member only with arguments that can never name a real peer (no "://"): a new voting member would
    // take the one-member cluster's quorum away
    [1, () => resp('add_member', [g.chance(0.5) ? g.text(10).replace(/:/g, '') : g.hostile(), g.bool()], (e, ...a) => m(e.blocking, 'add_member')(...a))],
    [2, () => resp('lock_with_lease', [g.chance(0.8) ? `${FUZZ}lock${g.int(3)}` : g.key(), g.leaseId()], (e, ...a) => m(e.blocking, 'lock_with_lease')(...a), (r, env) => {
      if (env.pools.lockKeys.length < 20) env.pools.lockKeys.push(r.lock_key());
    })],
    [1, () => resp('lock', [g.chance(0.8) ? `${FUZZ}lock${g.int(3)}` : g.key(), ...(g.chance(0.5) ? [g.ttl()] : [])], (e, ...a) => m(e.blocking, 'lock')(...a), (r, env) => {
      if (env.pools.lockKeys.length < 20) env.pools.lockKeys.push(r.lock_key());
    })],
    [
      2,
      () => {
        // a lock key learnt from an earlier lock (chosen by a pre-drawn index when run), or any key
        const learnt = g.chance(0.5) ? g.int(1000) : undefined;
        const key = g.key();
        return {
          label: `unlock(${learnt === undefined ? show(key) : 'a lock key learnt by then'})`,
          async run(env) {
            const keys = env.pools.lockKeys;
            const k = learnt !== undefined && keys.length ? keys[learnt % keys.length] : key;
            await expectResponse(env, 'unlock', this.label, attempt(env, 'unlock', this.label, () => m(env.blocking, 'unlock')(k)));
          },
        };
      },
    ],
    [2, () => resp('campaign', [g.chance(0.8) ? `${FUZZ}elect${g.int(3)}` : g.key(), g.leaseId(), g.value()], (e, ...a) => m(e.blocking, 'campaign')(...a), (r, env) => {
      if (env.pools.leaders.length < 20) env.pools.leaders.push({ key: r.value().key(), rev: r.value().created_index(), lease: r.value().lease() });
    })],
    [
      1,
      () => {
        const name = g.chance(0.8) ? `${FUZZ}elect${g.int(3)}` : g.key();
        const resign = g.chance(0.5);
        const value = g.value();
        const mangled = g.chance(0.5) ? [g.leaseId(), g.key(), g.number()] : undefined;
        return {
          label: `${resign ? 'resign' : 'proclaim'}(${show(name)}, ${mangled ? mangled.map(show).join(', ') : 'a leader learnt by then'})`,
          async run(env) {
            const leader = env.pools.leaders.length ? env.pools.leaders[env.pools.leaders.length - 1]! : { key: `${FUZZ}none`, rev: 1, lease: 1n };
            const [lease, key, rev] = mangled ?? [leader.lease, leader.key, leader.rev];
            const args = resign ? [name, lease, key, rev] : [name, lease, key, rev, value];
            const what = resign ? 'resign' : 'proclaim';
            await expectResponse(env, what, this.label, attempt(env, what, this.label, () => m(env.blocking, what)(...args)));
          },
        };
      },
    ],
    [2, () => resp('leader', [g.chance(0.7) ? `${FUZZ}elect${g.int(3)}` : g.key()], (e, ...a) => m(e.main, 'leader')(...a))],
    [
      2,
      () => {
        // the one-shot watch, bounded: raced against a timer, then its dedicated client is closed
        const args = [g.key(), ...(g.chance(0.6) ? [g.chance(0.5) ? g.number() : g.chance(0.5) ? g.bool() : g.readEnd()] : []), ...(g.chance(0.3) ? [g.chance(0.5) ? g.number() : g.bool()] : []), ...g.extra()];
        const waitMs = 20 + g.int(80);
        return {
          label: `watch(${args.map(show).join(', ')})`,
          async run(env) {
            const own = new Client(endpoint);
            try {
              const p = attempt(env, 'watch', this.label, () => m(own, 'watch')(...args));
              if (p === THREW) return;
              assert.ok(p instanceof Promise, `${this.label}: not a promise`);
              const settled = (p as Promise<Response>).then(
                (r) => r,
                (e: unknown) => e,
              );
              await Promise.race([settled, new Promise((r) => setTimeout(r, waitMs))]);
              await own.close();
              const outcome = await bounded(settled, 5_000, `${this.label} after its client closed`);
              if (outcome instanceof Response) count(env, 'watch', outcome.is_ok() ? 'ok' : 'error');
              else {
                assert.instance(outcome, ClientClosedError, `${this.label}: rejected with ${describeError(outcome)}`);
                count(env, 'watch', 'ok');
              }
            } finally {
              await own.close();
            }
          },
        };
      },
    ],
    [
      2,
      () => {
        const key = g.key();
        const rest: unknown[] = [];
        const n = g.int(5);
        for (let i = 0; i < n; i++) rest.push(g.pick([() => g.readEnd(), () => g.number(), () => g.bool(), () => 'cb', () => 'wcb', () => g.hostile()])());
        return {
          label: `new Watcher(client, ${[key, ...rest].map(show).join(', ')})`,
          async run(env) {
            // either function may end up as the event or the wait callback: neither may throw (a throwing
            // callback is rethrown on its own tick, by design)
            const cb = (r: unknown) => void (r instanceof Response ? r.error_code() : r);
            const args = rest.map((a) => (a === 'cb' || a === 'wcb' ? cb : a));
            const w = attempt(env, 'Watcher', this.label, () => new (Watcher as unknown as new (...a: unknown[]) => Watcher)(env.main, key, ...args));
            if (w === THREW) return;
            assert.instance(w, Watcher, this.label);
            count(env, 'Watcher', 'ok');
            await bounded((w as Watcher).Cancel(), 5_000, `${this.label}.Cancel()`);
          },
        };
      },
    ],
    [
      2,
      () => {
        const withHandler = g.chance(0.5);
        const ttl = g.ttl();
        const id = g.chance(0.5) ? [g.leaseId()] : [];
        const form = g.int(3); // 0: KeepAlive.create, 1: new KeepAlive, 2: client.leasekeepalive
        const check = g.chance(0.5);
        const name = ['KeepAlive.create', 'new KeepAlive', 'leasekeepalive'][form]!;
        return {
          label: `${name}(${withHandler ? 'handler, ' : ''}${[ttl, ...id].map(show).join(', ')})`,
          async run(env) {
            const handler = (e: Error) => assert.ok(e instanceof KeepAliveError || e instanceof RangeError, `${this.label}: handler got ${describeError(e)}`);
            const args = [...(withHandler && form !== 2 ? [handler] : []), ttl, ...(form === 2 ? [] : id)];
            const out = attempt(env, name, this.label, () =>
              form === 0
                ? (KeepAlive.create as (...a: unknown[]) => unknown)(env.main, ...args)
                : form === 1
                  ? new (KeepAlive as unknown as new (...a: unknown[]) => KeepAlive)(env.main, ...args)
                  : m(env.main, 'leasekeepalive')(...args),
            );
            if (out === THREW) return;
            let ka: unknown = out;
            if (out instanceof Promise) {
              ka = await bounded(out.catch((e: unknown) => e), CALL_BOUND_MS, this.label);
              if (ka instanceof KeepAliveError) return count(env, name, 'error'); // the grant failed: documented
            }
            assert.instance(ka, KeepAlive, `${this.label}: gave ${show(ka)} ${ka instanceof Error ? describeError(ka) : ''}`);
            count(env, name, 'ok');
            if (check) {
              // Check() refreshes once: it resolves, or rejects with the lease's end (LeaseExpiredError is a RangeError)
              const c = await bounded((ka as KeepAlive).Check().then(() => undefined, (e: unknown) => e), CALL_BOUND_MS, `${this.label}.Check()`);
              if (c !== undefined) assert.ok(c instanceof KeepAliveError || c instanceof RangeError, `${this.label}.Check(): ${describeError(c)}`);
            }
            (ka as KeepAlive).Cancel();
          },
        };
      },
    ],
    [
      1,
      () => {
        const name = g.chance(0.8) ? `${FUZZ}elect${g.int(3)}` : g.key();
        return {
          label: `observe(${show(name)})`,
          async run(env) {
            const o = attempt(env, 'observe', this.label, () => m(env.main, 'observe')(name));
            if (o === THREW) return;
            assert.instance(o, Observer, this.label);
            count(env, 'observe', 'ok');
            await bounded((o as Observer).close(), 5_000, `${this.label}.close()`);
          },
        };
      },
    ],
    [
      1,
      () => {
        const ms = g.chance(0.7) ? g.pick([0, 100, 500, 2000, 5000, 2 ** 31, Number.MAX_SAFE_INTEGER]) : g.number();
        return {
          label: `set_grpc_timeout(${show(ms)})`,
          async run(env) {
            const r = attempt(env, 'set_grpc_timeout', this.label, () => m(env.main, 'set_grpc_timeout')(ms));
            if (r === THREW) return;
            assert.is(r, undefined);
            assert.is(env.main.get_grpc_timeout(), ms, this.label);
            count(env, 'set_grpc_timeout', 'ok');
          },
        };
      },
    ],
    [
      1,
      () => {
        const url = g.pick<unknown>(['', 'http://', 'http://127.0.0.1:1', '127.0.0.1', 'ftp://x:1', 'http://[::1', 'http://a:b', 'http://a:99999', ',', g.text(8), endpoint, g.hostile()]);
        const second = g.pick<unknown>([undefined, 'round_robin', 'pick_first', 'random', { loadBalancer: 'x' }, { timeoutMs: -1 }, { keepAliveGraceMs: -5 }, { keepAliveGraceMs: '5000' }, { keepAliveGraceMs: 5000 }, { ca: 'not a pem' }, { cert: 'c' }, { username: 'u' }, { grpcOptions: { 'grpc.keepalive_time_ms': 'x' } }, { grpcOptions: { 'grpc.service_config': '{bad' } }, { transport: 'x' }, g.hostile()]);
        return {
          label: `new Client(${show(url)}, ${show(second)})`,
          async run(env) {
            const c = attempt(env, 'new Client', this.label, () => new (Client as unknown as new (...a: unknown[]) => Client)(url, second));
            if (c === THREW) return;
            assert.instance(c, Client, this.label);
            count(env, 'new Client', 'ok');
            await bounded((c as Client).close(), 5_000, `${this.label}.close()`);
          },
        };
      },
    ],
  ];
  const total = makers.reduce((s, [w]) => s + w, 0);
  for (let i = 0; i < n; i++) {
    let r = g.rnd() * total;
    let maker = makers[0]![1];
    for (const [w, mk] of makers) {
      if ((r -= w) < 0) {
        maker = mk;
        break;
      }
    }
    ops.push(maker());
  }
  return ops;
}

/** Every kv under a prefix, byte for byte, with its revisions, version and lease. */
async function snapshot(c: Client, prefix: string): Promise<string[]> {
  const r = ok(await c.ls(prefix), `ls ${prefix}`);
  return r.values().map((v) => [Buffer.from(v.key_bytes()).toString('hex'), Buffer.from(v.as_bytes()).toString('hex'), v.created_index(), v.modified_index(), v.version(), v.lease()].join(' '));
}

test('fuzz: every public method with random and malformed arguments answers, throws TypeError/RangeError, or errs in the Response', async () => {
  const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31);
  const n = Number(process.env['FUZZ_OPS'] ?? 2000);
  console.log(`  fuzz seed ${seed} (replay: FUZZ_SEED=${seed}), ${n} operations`);

  // 50 sentinel keys the fuzzer must never touch
  const rnd = prng(seed ^ 0x5eed);
  for (let i = 0; i < 50; i++) {
    const value = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
    ok(await client.put(`${SENTINEL}k${String(i).padStart(2, '0')}`, value));
  }
  const before = await snapshot(client, SENTINEL);
  assert.is(before.length, 50);

  const pools: Pools = { leases: [], lockKeys: [], leaders: [], revisions: [] };
  let ops = generate(seed, n, cluster.endpoint, pools);
  const only = process.env['FUZZ_ONLY']?.split(',').map(Number); // debugging: run only these operations
  if (only) ops = ops.filter((_, i) => only.includes(i));
  if (process.env['FUZZ_DEBUG']) ops.slice(0, 12).forEach((op, i) => console.log(`  op ${i}: ${op.label}`));
  const main = new Client(cluster.endpoint);
  const blocking = new Client(cluster.endpoint);
  blocking.set_grpc_timeout(300);
  const env: Env = { main, blocking, pools, stats: new Map() };
  const t0 = Date.now();
  try {
    // eight workers take operations in order: interleavings vary, inputs are the seed's
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (next < ops.length && failures.length === 0) {
        const op = ops[next++]!;
        try {
          await op.run(env);
        } catch (e) {
          failures.push(`op ${ops.indexOf(op)} ${op.label}: ${describeError(e)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    if (failures.length && process.env['FUZZ_DEBUG']) console.log(cluster.members[0]!.logs().slice(-6000));
    assert.equal(failures, [], `seed ${seed}`);
  } finally {
    await main.close();
    await blocking.close();
  }
  const ms = Date.now() - t0;
  const summary = [...env.stats.entries()]
    .sort()
    .map(([k, s]) => `${k} ${s.ok}/${s.error}/${s.threw}`)
    .join(', ');
  console.log(`  ${n} operations in ${ms} ms (ok/error Response/sync throw): ${summary}`);
  // A hang guard, not a speed test: 2000 operations on a shared, loaded 2-core machine.
  assert.ok(ms < 120_000, `${n} operations took ${ms} ms`);

  // let late callbacks (keepalive handlers, watch ends, timers a few ticks out) run, then check nothing escaped
  await settle(500);
  assert.equal(escaped, [], `seed ${seed}: escaped the calls`);
  assert.equal(warnings, [], `seed ${seed}: process warnings`);
  assert.equal(await snapshot(client, SENTINEL), before, `seed ${seed}: the sentinel keys changed`);
  // the server and a client are fine afterwards
  const after = ok(await client.put(`${FUZZ}after`, 'ok'));
  assert.ok(after.index() > 0);
  ok(await client.get(`${FUZZ}after`));
});

test.run();
