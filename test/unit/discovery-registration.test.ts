// A registration's state machine without etcd: the TRANSITIONS table (allowed and forbidden moves), and the
// moves a fake etcd (RegistrationPorts: leases, the claim transaction, the own-key watch) drives it through —
// key deleted → repairing → active, lease lost → restoring → active, taken over → closed, close().

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventType, type Response, type Value } from '../../src/core';
import { AlreadyRegisteredError } from '../../src/errors';
import type { Claim } from '../../src/discovery/claim';
import { Registration, TRANSITIONS, type RegistrationState } from '../../src/discovery/registration';
import type { KeyWatch, LeaseKeeper, RegistrationPorts } from '../../src/discovery/registration-ports';
import { eventually } from '../helpers/wait';

/** Polls `cond` every 2 ms for up to 10 s. */
const until = (cond: () => boolean, what: string): Promise<unknown> => eventually(cond, 10_000, what, 2);

const STATES: RegistrationState[] = ['establishing', 'active', 'repairing', 'restoring', 'closed'];

class FakeLease implements LeaseKeeper {
  cancelled = false;
  checks = 0;
  constructor(
    readonly id: bigint,
    readonly stop: (err: Error) => void,
  ) {}
  Lease(): bigint {
    return this.id;
  }
  Cancel(): void {
    this.cancelled = true;
  }
  Check(): Promise<unknown> {
    this.checks++;
    return Promise.resolve();
  }
}

class FakeWatch implements KeyWatch {
  cancelled = false;
  private finish!: (cancelled: boolean) => void;
  private readonly ended = new Promise<boolean>((resolve) => (this.finish = resolve));
  constructor(
    readonly revision: number,
    readonly push: (r: Response) => void,
  ) {}
  Wait(): Promise<boolean> {
    return this.ended;
  }
  Cancel(): Promise<boolean> {
    this.cancelled = true;
    this.finish(true);
    return Promise.resolve(true);
  }
  ready(): Promise<number> {
    return Promise.resolve(this.revision);
  }
  /** etcd ends the watch by itself (its revision was compacted). */
  end(): void {
    this.finish(false);
  }
}

/** A fake etcd: claims answer from a queue (default: written at the next revision). */
class FakePorts implements RegistrationPorts {
  revision = 100;
  nextLease = 1n;
  readonly leases: FakeLease[] = [];
  readonly watches: FakeWatch[] = [];
  readonly revoked: bigint[] = [];
  readonly claims: Array<{ lease: bigint; from: bigint | undefined }> = [];
  readonly answers: Array<(lease: bigint) => Claim> = [];
  put(): Promise<Response> {
    return Promise.resolve({ is_ok: () => true, index: () => ++this.revision } as unknown as Response);
  }
  claim(_who: string, _key: string, _value: string, lease: bigint, from?: bigint): Promise<Claim> {
    this.claims.push({ lease, from });
    const answer = this.answers.shift();
    return Promise.resolve(answer ? answer(lease) : { kind: 'written', revision: ++this.revision });
  }
  revoke(lease: bigint): Promise<void> {
    this.revoked.push(lease);
    return Promise.resolve();
  }
  keepAlive(_ttl: number, onStop: (error: Error) => void): Promise<LeaseKeeper> {
    const l = new FakeLease(this.nextLease++, onStop);
    this.leases.push(l);
    return Promise.resolve(l);
  }
  watch(_key: string, revision: number, onResponse: (r: Response) => void): KeyWatch {
    const w = new FakeWatch(revision, onResponse);
    this.watches.push(w);
    return w;
  }
  get lease(): FakeLease {
    return this.leases[this.leases.length - 1]!;
  }
  get current(): FakeWatch {
    return this.watches[this.watches.length - 1]!;
  }
}

function holder(lease: bigint, value = 'elsewhere:1'): Value {
  return { lease: () => lease, as_string: () => value, modified_index: () => 0 } as unknown as Value;
}

function event(type: 'put' | 'delete', revision: number, lease = 0n, value = ''): Response {
  return {
    is_ok: () => true,
    events: () => [{ event_type: () => (type === 'put' ? EventType.PUT : EventType.DELETE_), kv: () => ({ ...holder(lease, value), modified_index: () => revision }) }],
  } as unknown as Response;
}

function make(ports = new FakePorts()) {
  const closed: Registration[] = [];
  const reg = new Registration(ports, 'svc', 'a', '10.0.0.1:80', '/service/svc/a', '10.0.0.1:80', 3, (r) => closed.push(r));
  const log: string[] = [];
  reg.onLost((e) => log.push(`lost ${e.constructor.name}: ${e.message}`));
  reg.onRestored(() => log.push('restored'));
  reg.onReplaced((e) => log.push(`replaced ${e.constructor.name}: ${e.message}`));
  return { reg, ports, log, closed };
}

const state = (reg: Registration): RegistrationState => (reg as unknown as { state: RegistrationState }).state;

test('TRANSITIONS: the allowed moves, and goto() refuses every other one', () => {
  assert.equal(TRANSITIONS, {
    establishing: ['active', 'closed'],
    active: ['repairing', 'restoring', 'closed'],
    repairing: ['active', 'restoring', 'closed'],
    restoring: ['active', 'closed'],
    closed: [],
  });
  for (const from of STATES) {
    for (const to of STATES) {
      const { reg } = make();
      const inner = reg as unknown as { state: RegistrationState; goto(next: RegistrationState, why: string): void };
      inner.state = from;
      const allowed = TRANSITIONS[from].includes(to);
      let error: unknown;
      try {
        inner.goto(to, 'test');
      } catch (e) {
        error = e;
      }
      if (allowed) assert.is(state(reg), to, `${from} → ${to} is allowed`);
      else {
        assert.ok(error instanceof Error, `${from} → ${to} must be refused`);
        assert.is((error as Error).message, `registration /service/svc/a: no move from ${from} to ${to} (test)`);
        assert.is(state(reg), from, 'a refused move changes nothing');
      }
    }
  }
});

test('establish: establishing → active, watching its key from the write revision + 1', async () => {
  const { reg, ports, log } = make();
  assert.is(state(reg), 'establishing');
  await reg.establish(false);
  assert.is(state(reg), 'active');
  assert.is(reg.leaseId, 1n);
  assert.equal(ports.claims, [{ lease: 1n, from: undefined }]);
  assert.is(ports.current.revision, 102);
  assert.equal(log, []);
  await reg.close();
});

test('establish: a key held by someone else → closed, AlreadyRegisteredError, the lease revoked', async () => {
  const ports = new FakePorts();
  ports.answers.push(() => ({ kind: 'held', holder: holder(9n) }));
  const { reg } = make(ports);
  try {
    await reg.establish(false);
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, AlreadyRegisteredError);
    assert.is((e as Error).message, "service 'svc' instance 'a' is already registered (key /service/svc/a exists); pass { replace: true } to take it over");
  }
  assert.is(state(reg), 'closed');
  assert.ok(ports.lease.cancelled);
  assert.equal(ports.revoked, [1n]);
  assert.is(ports.watches.length, 0);
});

test('key deleted: active → repairing → active, onLost (KeyDeletedError) then onRestored, same lease and watch', async () => {
  const { reg, ports, log } = make();
  await reg.establish(false);
  ports.current.push(event('delete', ++ports.revision));
  assert.is(state(reg), 'repairing');
  await until(() => state(reg) === 'active', 'active again');
  assert.equal(log, ["lost KeyDeletedError: service 'svc' instance 'a': key /service/svc/a was deleted while its lease 1 was alive; writing it again", 'restored']);
  assert.equal(ports.claims[1], { lease: 1n, from: undefined });
  assert.is(ports.watches.length, 1, 'the watch goes on');
  assert.is(reg.leaseId, 1n);
  await reg.close();
});

test('lease lost: active → restoring → active under a new lease, the key moved from the old one, which is revoked', async () => {
  const ports = new FakePorts();
  const { reg, log } = make(ports);
  await reg.establish(false);
  const first = ports.current;
  ports.answers.push(() => ({ kind: 'held', holder: holder(1n) })); // etcd has not expired the old lease yet
  ports.lease.stop(new Error('lease 1 expired'));
  assert.is(state(reg), 'restoring');
  assert.ok(first.cancelled, 'the own-key watch stops while restoring');
  await until(() => state(reg) === 'active', 'active again');
  assert.equal(log, ['lost Error: lease 1 expired', 'restored']);
  assert.equal(ports.claims.slice(1), [
    { lease: 2n, from: undefined },
    { lease: 2n, from: 1n },
  ]);
  assert.is(reg.leaseId, 2n);
  assert.ok(ports.revoked.includes(1n));
  assert.is(ports.watches.length, 2, 'watching again under the new lease');
  // The old KeepAlive's late word is not a loss of the new lease.
  ports.leases[0]!.stop(new Error('late'));
  assert.is(state(reg), 'active');
  await reg.close();
  assert.equal(log, ['lost Error: lease 1 expired', 'restored']);
});

test('lease lost while repairing: repairing → restoring, reported once', async () => {
  const ports = new FakePorts();
  const { reg, log } = make(ports);
  await reg.establish(false);
  ports.answers.push(() => ({ kind: 'failed', error: new Error('lease not found'), leaseGone: true }));
  ports.current.push(event('delete', ++ports.revision));
  assert.is(state(reg), 'repairing');
  await until(() => ports.lease.checks === 1, 'the KeepAlive asked to check');
  ports.lease.stop(new Error('lease 1 revoked'));
  assert.is(state(reg), 'restoring');
  await until(() => state(reg) === 'active', 'active again');
  assert.equal(log, ['lost Error: lease 1 revoked', 'restored']);
  assert.is(reg.leaseId, 2n);
  await reg.close();
});

test('taken over: a put under another lease → closed, onReplaced, its own lease revoked, never written again', async () => {
  const { reg, ports, log, closed } = make();
  await reg.establish(false);
  ports.current.push(event('put', 150, 77n, 'new:1'));
  assert.is(state(reg), 'closed');
  assert.ok(reg.closed);
  assert.equal(log, [
    `replaced RegistrationReplacedError: service 'svc' instance 'a' was taken over: key /service/svc/a was written by someone else (now "new:1" under lease 77); this registration has ended`,
  ]);
  await reg.close();
  assert.equal(ports.revoked, [1n]);
  assert.ok(ports.current.cancelled);
  assert.is(ports.claims.length, 1);
  assert.equal(closed, [reg]);
});

test('a put under its own lease is not a takeover; close() ends everything and later losses are ignored', async () => {
  const { reg, ports, log } = make();
  await reg.establish(false);
  ports.current.push(event('put', 150, 1n, 'edited'));
  assert.is(state(reg), 'active');
  await reg.close();
  assert.is(state(reg), 'closed');
  assert.ok(ports.lease.cancelled);
  assert.ok(ports.current.cancelled);
  ports.lease.stop(new Error('stopped'));
  ports.current.push(event('delete', 160));
  assert.is(state(reg), 'closed');
  assert.equal(log, []);
  assert.equal(ports.revoked, [1n]);
});

test('the own-key watch ended by etcd: active → repairing → active ("mine"), nothing reported, watching again', async () => {
  const ports = new FakePorts();
  const { reg, log } = make(ports);
  await reg.establish(false);
  ports.answers.push(() => ({ kind: 'mine', revision: 170 }));
  ports.current.end();
  await until(() => ports.watches.length === 2, 'a new watch');
  assert.is(state(reg), 'active');
  assert.is(ports.current.revision, 171);
  assert.equal(log, []);
  await reg.close();
});

test('repairing: a write older than a later deletion is tried again; an onLost callback that closes ends the repair', async () => {
  const ports = new FakePorts();
  const { reg, log } = make(ports);
  await reg.establish(false);
  const deletedAt = (ports.revision += 10);
  ports.answers.push(() => ({ kind: 'written', revision: deletedAt - 5 })); // written before the deletion seen
  ports.current.push(event('delete', deletedAt));
  await until(() => state(reg) === 'active', 'active again');
  assert.is(ports.claims.length, 3, 'claimed twice: the first write predates the deletion');
  assert.equal(log.map((l) => l.split(':')[0]), ['lost KeyDeletedError', 'restored']);

  reg.onLost(() => void reg.close());
  ports.current.push(event('delete', ++ports.revision));
  await until(() => log.length === 3, 'the second loss');
  assert.is(state(reg), 'closed', 'closed by the callback, and never back to active');
  await reg.close();
  assert.equal(log.map((l) => l.split(':')[0]), ['lost KeyDeletedError', 'restored', 'lost KeyDeletedError']);
});

test.run();
