// The keepalive engine without sockets: a fake clock and a fake LeaseKeepAlive stream drive LeaseKeeper through
// its states (scheduling at a third of the TTL, local deadlines and the doubt after them, TTL 0, reconnects, idle,
// close).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from '../../generated/etcdserver/etcdserverpb/rpc';
import { ClientClosedError, GrpcStatusError, KeepAliveError, LeaseExpiredError } from '../../src/errors';
import { Client, KeepAlive } from '../../src/index';
import { LEASE_KEEPER, LeaseKeeper, type KeeperDeps } from '../../src/lease-keeper';
import { LOSS_GRACE_MS, deadlineAt, localDeadline, nextWakeAt, refreshIntervalMs, stallTimeoutMs } from '../../src/lease-schedule';
import type { StreamCall, StreamHandlers } from '../../src/transport/transport';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
  weak: boolean;
}

class FakeStream implements StreamCall<LeaseKeepAliveRequest> {
  readonly sent: bigint[] = [];
  ended = false;
  cancelled = false;
  constructor(readonly handlers: StreamHandlers<LeaseKeepAliveResponse>) {}
  write(m: LeaseKeepAliveRequest): void {
    this.sent.push(m.ID);
  }
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.cancelled = true;
  }
  answer(id: bigint, ttl: number): void {
    this.handlers.onMessage({ header: undefined, ID: id, TTL: BigInt(ttl) });
  }
}

/** A fake world: clock, timers and streams. */
class World {
  /** The engine's grace: these tests exercise the doubt phase (a client with keepAliveGraceMs); 0 is tested apart. */
  constructor(graceMs = LOSS_GRACE_MS) {
    this.deps.lossGraceMs = graceMs;
  }
  now = 0;
  private seq = 0;
  timers: Timer[] = [];
  streams: FakeStream[] = [];
  backoffs: number[] = [];
  renewed = 0;
  openError: unknown;
  readonly deps: KeeperDeps = {
    open: async (handlers) => {
      if (this.openError) throw this.openError;
      const s = new FakeStream(handlers);
      this.streams.push(s);
      return s;
    },
    now: () => this.now,
    setTimer: (fn, ms, weak = false) => {
      const t = { id: ++this.seq, at: this.now + ms, fn, weak };
      this.timers.push(t);
      return t.id;
    },
    clearTimer: (id) => {
      this.timers = this.timers.filter((t) => t.id !== id);
    },
    backoff: (attempt) => {
      const ms = 100 * (attempt + 1);
      this.backoffs.push(ms);
      return ms;
    },
    renewToken: () => {
      this.renewed++;
    },
  };

  get stream(): FakeStream {
    return this.streams[this.streams.length - 1]!;
  }

  /** Strong (process-holding) timers still pending. */
  get strongTimers(): number {
    return this.timers.filter((t) => !t.weak).length;
  }

  /** Advances the clock by `ms`, firing due timers in order (and letting promises settle in between). */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = Math.max(this.now, due.at);
      due.fn();
    }
    this.now = end;
    await flush();
  }
}

const flush = () => new Promise<void>((r) => setImmediate(r));

function setup(graceMs = LOSS_GRACE_MS) {
  const world = new World(graceMs);
  const keeper = new LeaseKeeper(world.deps);
  const failures: { id: bigint; err: Error }[] = [];
  const add = (id: bigint, ttl: number) => keeper.add(id, ttl, (err) => failures.push({ id, err }));
  return { world, keeper, failures, add };
}

// ---- pure rules ---------------------------------------------------------------------------------------

const rules = suite('keepalive scheduling rules');

rules('refresh interval is a third of the TTL, never below 500 ms', () => {
  assert.is(refreshIntervalMs(3), 1000);
  assert.is(refreshIntervalMs(30), 10_000);
  assert.is(refreshIntervalMs(1), 500);
  assert.is(refreshIntervalMs(0), 500);
});

rules('local deadline counts from the send time; TTL 0 means none yet', () => {
  assert.is(localDeadline(1000, 5), 6000);
  assert.is(localDeadline(1000, 0), Infinity);
});

rules('next wake is the earliest send, deadline or reconnect', () => {
  const leases = [
    { nextSendAt: 300, expiresAt: 900, phase: 'kept' as const },
    { nextSendAt: 500, expiresAt: 200, phase: 'kept' as const },
  ];
  assert.is(nextWakeAt(leases, true, undefined, LOSS_GRACE_MS), 200);
  assert.is(nextWakeAt([{ nextSendAt: 300, expiresAt: 900, phase: 'kept' }], true, undefined, LOSS_GRACE_MS), 300);
  assert.is(nextWakeAt([{ nextSendAt: 300, expiresAt: 900, phase: 'kept' }], false, undefined, LOSS_GRACE_MS), 900, 'not sending: only deadlines');
  assert.is(nextWakeAt([{ nextSendAt: 300, expiresAt: 900, phase: 'kept' }], false, 50, LOSS_GRACE_MS), 50);
  assert.is(nextWakeAt([{ nextSendAt: 99_000, expiresAt: 900, phase: 'doubt' }], true, undefined, LOSS_GRACE_MS), 900 + LOSS_GRACE_MS, 'in doubt: the end of the grace');
  assert.is(nextWakeAt([], true, undefined, LOSS_GRACE_MS), Infinity);
});

rules('a lease in doubt is reported lost the grace after its local deadline (none by default)', () => {
  assert.is(LOSS_GRACE_MS, 5000);
  assert.is(deadlineAt({ expiresAt: 3000, phase: 'kept' }, LOSS_GRACE_MS), 3000);
  assert.is(deadlineAt({ expiresAt: 3000, phase: 'doubt' }, LOSS_GRACE_MS), 8000);
  assert.is(deadlineAt({ expiresAt: 3000, phase: 'doubt' }, 0), 3000);
  assert.is(deadlineAt({ expiresAt: Infinity, phase: 'kept' }, LOSS_GRACE_MS), Infinity);
  assert.is(nextWakeAt([{ nextSendAt: 99_000, expiresAt: 900, phase: 'doubt' }], true, undefined, 0), 900);
});

rules.run();

// ---- the engine ---------------------------------------------------------------------------------------

const engine = suite('LeaseKeeper engine');

engine('first lease opens the stream and is refreshed at once, then at a third of the TTL', async () => {
  const { world, keeper, add } = setup();
  assert.is(keeper.currentState, 'idle');
  add(7n, 3);
  assert.is(keeper.currentState, 'connecting');
  await world.advance(0);
  assert.is(keeper.currentState, 'open');
  assert.is(world.streams.length, 1);
  assert.equal(world.stream.sent, [7n], 'sent immediately');
  world.now = 100;
  world.stream.answer(7n, 3);
  await world.advance(999); // t = 1099
  assert.equal(world.stream.sent, [7n], 'nothing before ttl/3 after the answer');
  await world.advance(1); // t = 1100
  assert.equal(world.stream.sent, [7n, 7n], 'refresh at answer + ttl/3');
});

engine('all leases share one stream', async () => {
  const { world, keeper, add } = setup();
  for (let i = 1; i <= 20; i++) add(BigInt(i), 5);
  await world.advance(0);
  assert.is(world.streams.length, 1);
  assert.is(keeper.streamsOpened, 1);
  assert.is(keeper.size, 20);
  assert.is(world.stream.sent.length, 20);
});

engine('TTL 0 answer: LeaseExpiredError to that lease only, others kept', async () => {
  const { world, keeper, failures, add } = setup();
  add(1n, 5);
  add(2n, 5);
  await world.advance(0);
  world.stream.answer(1n, 0);
  assert.is(failures.length, 1);
  assert.is(failures[0]!.id, 1n);
  assert.instance(failures[0]!.err, LeaseExpiredError);
  assert.instance(failures[0]!.err, RangeError);
  assert.is(failures[0]!.err.message, 'Failed to refresh lease due to expiration: the new TTL is 0.');
  assert.is(keeper.size, 1);
  assert.is(keeper.currentState, 'open');
});

engine('no answer at all: in doubt at send time + TTL, KeepAliveError (code 4) once the grace is over, then idle', async () => {
  const { world, keeper, failures, add } = setup();
  add(9n, 2);
  await world.advance(1999);
  assert.is(keeper.doubts, 0);
  // re-sent while unanswered (each unanswered half second reopens the stream: see the stall test below)
  assert.ok(world.streams.reduce((n, st) => n + st.sent.length, 0) >= 3, 'kept re-sending while unanswered');
  await world.advance(1); // t = 2000: the local deadline
  assert.is(keeper.doubts, 1, 'in doubt from the local deadline');
  assert.is(failures.length, 0, 'not reported at the local deadline');
  const sentBefore = world.streams.reduce((n, st) => n + st.sent.length, 0);
  await world.advance(LOSS_GRACE_MS - 1); // t = 6999
  assert.is(failures.length, 0);
  assert.ok(world.streams.reduce((n, st) => n + st.sent.length, 0) > sentBefore, 'still trying etcd while in doubt');
  await world.advance(1); // t = 7000 = TTL + grace
  assert.is(failures.length, 1);
  assert.instance(failures[0]!.err, KeepAliveError);
  assert.is((failures[0]!.err as KeepAliveError).code, 4);
  assert.is(
    failures[0]!.err.message,
    'Failed to refresh lease: no answer from etcd for lease 9 within its TTL (2 s) + 5 s grace (etcd unreachable or without a leader); assuming it expired',
  );
  assert.is(keeper.confirmedAlive, 0);
  assert.is(keeper.currentState, 'idle');
  assert.ok(world.stream.ended, 'stream half-closed when the last lease went');
  assert.is(world.strongTimers, 0, 'no timer holds the process once idle');
});

engine('no grace (the default): KeepAliveError (code 4) at the local deadline itself, no doubt phase', async () => {
  const { world, keeper, failures, add } = setup(0);
  add(9n, 2);
  await world.advance(1999);
  assert.is(failures.length, 0);
  await world.advance(1); // t = 2000: the local deadline — etcd may expire the lease from now on
  assert.is(failures.length, 1);
  assert.is(keeper.doubts, 0, 'no doubt phase without a grace');
  assert.instance(failures[0]!.err, KeepAliveError);
  assert.is((failures[0]!.err as KeepAliveError).code, 4);
  assert.is(
    failures[0]!.err.message,
    'Failed to refresh lease: no answer from etcd for lease 9 within its TTL (2 s) (etcd unreachable or without a leader); assuming it expired',
  );
  assert.is(keeper.currentState, 'idle');
  assert.is(world.strongTimers, 0);
});

engine('no grace: a late answer after the deadline cannot revive a lease already reported lost', async () => {
  const { world, keeper, failures, add } = setup(0);
  add(5n, 2);
  await world.advance(2000);
  assert.is(failures.length, 1);
  world.stream.answer(5n, 2);
  await flush();
  assert.is(failures.length, 1, 'reported once');
  assert.is(keeper.confirmedAlive, 0);
});

engine('the deadline counts from when the answered request was sent', async () => {
  const { world, keeper, failures, add } = setup();
  add(4n, 3); // sent at t=0
  await world.advance(400);
  world.stream.answer(4n, 3); // answered at t=400: server renewed after t=0, so expiry ≥ 3000, maybe < 3400
  world.stream.handlers.onClose(new GrpcStatusError(14, 'gone')); // keep it disconnected from now on
  world.openError = new GrpcStatusError(14, 'connection refused');
  await world.advance(2599); // t = 2999
  assert.is(keeper.doubts, 0);
  await world.advance(1); // t = 3000: in doubt (not 3400)
  assert.is(keeper.doubts, 1);
  await world.advance(LOSS_GRACE_MS - 1);
  assert.is(failures.length, 0);
  await world.advance(1); // t = 8000: unreachable for TTL + grace
  assert.is(failures.length, 1);
  assert.instance(failures[0]!.err, KeepAliveError);
});

engine('transient stream error: reconnects after backoff and re-sends every lease at once; deadlines keep running', async () => {
  const { world, keeper, failures, add } = setup();
  add(1n, 6);
  add(2n, 6);
  await world.advance(0);
  world.stream.answer(1n, 6);
  world.stream.answer(2n, 6);
  world.now = 500;
  world.stream.handlers.onClose(new GrpcStatusError(14, 'connection reset'));
  assert.is(keeper.currentState, 'backoff');
  await world.advance(99);
  assert.is(world.streams.length, 1, 'waits for the backoff');
  await world.advance(1);
  assert.is(world.streams.length, 2, 'reopened');
  assert.equal(world.stream.sent.sort(), [1n, 2n], 'every lease re-sent at once');
  assert.equal(world.backoffs, [100]);
  assert.is(failures.length, 0);
  // The server never answers on the new stream: deadlines from the last answers (sent at t=0) still hold.
  await world.advance(6000 - world.now - 1);
  assert.is(keeper.doubts, 0);
  await world.advance(1);
  assert.is(keeper.doubts, 2);
  await world.advance(LOSS_GRACE_MS - 1);
  assert.is(failures.length, 0);
  await world.advance(1);
  assert.is(failures.length, 2);
});

engine('server ending the stream cleanly also reconnects; backoff grows until an answer arrives', async () => {
  const { world, keeper, add } = setup();
  add(1n, 10);
  await world.advance(0);
  world.stream.handlers.onClose(null);
  await world.advance(100);
  world.stream.handlers.onClose(null);
  await world.advance(200);
  assert.is(world.streams.length, 3);
  assert.equal(world.backoffs, [100, 200]);
  world.stream.answer(1n, 10);
  world.stream.handlers.onClose(new GrpcStatusError(13, 'internal'));
  assert.equal(world.backoffs, [100, 200, 100], 'an answer resets the backoff');
  assert.is(keeper.currentState, 'backoff');
});

engine('non-transient stream error fails every lease with its code and message', async () => {
  const { world, keeper, failures, add } = setup();
  add(1n, 10);
  add(2n, 10);
  await world.advance(0);
  world.stream.handlers.onClose(new GrpcStatusError(12, 'unknown service etcdserverpb.Lease'));
  assert.is(failures.length, 2);
  for (const f of failures) {
    assert.instance(f.err, KeepAliveError);
    assert.is((f.err as KeepAliveError).code, 12);
    assert.is(f.err.message, 'Failed to refresh lease: error code: 12, message: unknown service etcdserverpb.Lease');
  }
  assert.is(keeper.currentState, 'idle');
  assert.is(keeper.size, 0);
});

// etcd 3.5.28+/3.6.9+/3.7 refuse a keepalive unless the user may put every key attached to the lease, by ending
// the whole stream with 7; it answers a stream's requests in order, so the refused one is the oldest unanswered.
engine('permission denied on the stream: only the lease of the oldest unanswered request is lost, the others go on', async () => {
  const { world, keeper, failures, add } = setup();
  add(1n, 10);
  add(2n, 10);
  add(3n, 10);
  await world.advance(0);
  assert.equal(world.stream.sent, [1n, 2n, 3n]);
  world.stream.answer(1n, 10);
  world.stream.handlers.onClose(new GrpcStatusError(7, 'etcdserver: permission denied'));
  assert.is(failures.length, 1);
  assert.is(failures[0]!.id, 2n, 'the first request without an answer was refused');
  assert.instance(failures[0]!.err, KeepAliveError);
  assert.is((failures[0]!.err as KeepAliveError).code, 7);
  assert.is(failures[0]!.err.message, 'Failed to refresh lease: error code: 7, message: etcdserver: permission denied');
  assert.is(keeper.size, 2);
  assert.is(keeper.currentState, 'backoff');
  await world.advance(100);
  assert.is(world.streams.length, 2, 'reconnected for the others');
  assert.equal(world.stream.sent, [1n, 3n], 'the refused lease is not sent again');
  world.stream.answer(1n, 10);
  world.stream.answer(3n, 10);
  assert.is(failures.length, 1);
});

engine('permission denied for the only lease: it is lost and the engine goes idle, no retry loop', async () => {
  const { world, keeper, failures, add } = setup();
  add(5n, 10);
  await world.advance(0);
  world.stream.handlers.onClose(new GrpcStatusError(7, 'etcdserver: permission denied'));
  assert.is(failures.length, 1);
  assert.is((failures[0]!.err as KeepAliveError).code, 7);
  assert.is(keeper.currentState, 'idle');
  await world.advance(10_000);
  assert.is(world.streams.length, 1, 'no new stream');
});

engine('permission denied with nothing in flight (refused at open) still fails every lease', async () => {
  const { world, keeper, failures, add } = setup();
  add(1n, 10);
  add(2n, 10);
  await world.advance(0);
  world.stream.answer(1n, 10);
  world.stream.answer(2n, 10);
  world.stream.handlers.onClose(new GrpcStatusError(7, 'etcdserver: permission denied'));
  assert.is(failures.length, 2);
  assert.is(keeper.currentState, 'idle');
});

engine('a stale auth token renews the token and reconnects', async () => {
  const { world, keeper, failures, add } = setup();
  add(1n, 10);
  await world.advance(0);
  world.stream.handlers.onClose(new GrpcStatusError(3, 'etcdserver: invalid auth token'));
  assert.is(world.renewed, 1);
  assert.is(keeper.currentState, 'backoff');
  assert.is(failures.length, 0);
});

engine('a token refused again right after a renewal is final: KeepAliveError with its code, no renewal loop', async () => {
  const { world, keeper, failures, add } = setup();
  add(1n, 10);
  await world.advance(0);
  world.stream.handlers.onClose(new GrpcStatusError(16, 'etcdserver: invalid auth token'));
  await world.advance(100);
  assert.is(keeper.currentState, 'open');
  world.stream.handlers.onClose(new GrpcStatusError(16, 'etcdserver: invalid auth token'));
  assert.is(world.renewed, 1, 'renewed once');
  assert.is(failures.length, 1);
  assert.instance(failures[0]!.err, KeepAliveError);
  assert.is((failures[0]!.err as KeepAliveError).code, 16);
  assert.is(keeper.currentState, 'idle');
});

engine('an answer between two token errors allows another renewal (a long-lived stream renews each time)', async () => {
  const { world, keeper, failures, add } = setup();
  add(1n, 10);
  await world.advance(0);
  world.stream.handlers.onClose(new GrpcStatusError(16, 'etcdserver: invalid auth token'));
  await world.advance(100);
  world.stream.answer(1n, 10);
  world.stream.handlers.onClose(new GrpcStatusError(3, 'etcdserver: revision of auth store is old'));
  assert.is(world.renewed, 2);
  assert.is(keeper.currentState, 'backoff');
  assert.is(failures.length, 0);
});

engine('a failed open is handled like a stream error', async () => {
  const { world, keeper, failures, add } = setup();
  world.openError = new GrpcStatusError(14, 'unreachable');
  add(1n, 10);
  await world.advance(0);
  assert.is(keeper.currentState, 'backoff');
  world.openError = undefined;
  await world.advance(100);
  assert.is(keeper.currentState, 'open');
  assert.equal(world.stream.sent, [1n]);
  assert.is(failures.length, 0);
});

engine('refreshOnce resolves with the next TTL, or times out with code 4', async () => {
  const { world, add } = setup();
  const kept = add(5n, 9);
  await world.advance(0);
  const p = kept.refreshOnce(1000);
  await flush();
  assert.equal(world.stream.sent, [5n, 5n], 'refreshOnce sends at once');
  world.stream.answer(5n, 8);
  assert.is(await p, 8);
  const q = kept.refreshOnce(1000);
  let err: unknown;
  q.catch((e) => (err = e));
  await world.advance(1000);
  assert.instance(err, KeepAliveError);
  assert.is((err as KeepAliveError).code, 4);
  assert.is((err as Error).message, 'Failed to refresh lease: error code: 4, message: gRPC timeout');
});

engine('refreshOnce rejects with LeaseExpiredError when the server answers TTL 0', async () => {
  const { world, failures, add } = setup();
  const kept = add(5n, 9);
  await world.advance(0);
  const p = kept.refreshOnce(1000);
  world.stream.answer(5n, 0);
  const err = await p.catch((e: unknown) => e);
  assert.instance(err, LeaseExpiredError);
  assert.is(failures.length, 1);
  assert.is(failures[0]!.err, err, 'subscriber and waiter get the same error');
});

engine('one lease, two subscribers: removing one keeps it; removing both ends the stream and goes idle', async () => {
  const { world, keeper, add } = setup();
  const a = add(3n, 9);
  const b = add(3n, 9);
  await world.advance(0);
  assert.is(keeper.size, 1);
  a.remove();
  a.remove(); // idempotent
  assert.is(keeper.size, 1);
  assert.is(keeper.currentState, 'open');
  b.remove();
  assert.is(keeper.currentState, 'idle');
  assert.ok(world.stream.ended);
  assert.is(world.strongTimers, 0);
  // Adding again reopens.
  add(4n, 9);
  await world.advance(0);
  assert.is(world.streams.length, 2);
  assert.is(keeper.currentState, 'open');
});

engine('close cancels the stream, clears timers, rejects refreshes; add afterwards throws', async () => {
  const { world, keeper, failures, add } = setup();
  const kept = add(1n, 9);
  await world.advance(0);
  const p = kept.refreshOnce(5000).catch((e: unknown) => e);
  keeper.close();
  keeper.close();
  assert.is(keeper.currentState, 'closed');
  assert.ok(world.stream.cancelled);
  assert.instance(await p, ClientClosedError);
  assert.is(world.strongTimers, 0);
  assert.is(failures.length, 0, 'closing is not a lease failure');
  assert.throws(() => add(2n, 9), (e: unknown) => e instanceof ClientClosedError);
  // Late callbacks of the cancelled stream are ignored.
  world.stream.handlers.onClose(new GrpcStatusError(1, 'Cancelled on client'));
  assert.is(keeper.currentState, 'closed');
});

engine('a lease with unknown TTL (0) has no deadline until the first answer', async () => {
  const { world, failures, add } = setup();
  add(8n, 0);
  await world.advance(0);
  world.stream.handlers.onClose(new GrpcStatusError(14, 'down'));
  world.openError = new GrpcStatusError(14, 'down');
  await world.advance(60_000);
  assert.is(failures.length, 0);
});

engine('a keepalive unanswered for a sixth of the TTL (at least 500 ms) reopens the stream at once; the lease lives on', async () => {
  assert.is(stallTimeoutMs(6), 1000);
  assert.is(stallTimeoutMs(3), 500);
  assert.is(stallTimeoutMs(1), 500);
  assert.is(stallTimeoutMs(60), 10_000);
  const { world, keeper, failures, add } = setup();
  add(6n, 6);
  await world.advance(0);
  world.stream.answer(6n, 6); // t = 0: next refresh at 2000, local deadline 6000
  await world.advance(2000); // the refresh goes out and is never answered (a silent member)
  assert.equal(world.stream.sent, [6n, 6n]);
  await world.advance(999);
  assert.is(world.streams.length, 1, 'not before the stall timeout');
  await world.advance(1); // t = 3000
  assert.is(world.streams.length, 2, 'reopened');
  assert.ok(world.streams[0]!.cancelled, 'the stalled stream is cancelled');
  assert.equal(world.backoffs, [], 'no backoff: the member, not the connection, is the problem');
  assert.equal(world.stream.sent, [6n], 're-sent at once on the new stream');
  world.streams[0]!.answer(6n, 0); // a late answer on the old stream is ignored
  world.stream.answer(6n, 6);
  assert.is(failures.length, 0);
  assert.is(keeper.currentState, 'open');
  for (let i = 0; i < 3; i++) {
    await world.advance(2000); // the next refresh, answered at once
    world.stream.answer(6n, 6);
  }
  assert.is(world.streams.length, 2, 'an answering stream is kept');
  assert.is(world.stream.sent.length, 4);
});

// ---- the doubt after a local deadline (a leader election extends leases on the server) ----------------------

/** A 3 s lease answered at t = 0, then etcd unreachable from t = 500 (as while a new leader is elected). */
async function leaseCutOff() {
  const env = setup();
  const { world, add } = env;
  const kept = add(3n, 3);
  await world.advance(0);
  world.stream.answer(3n, 3); // local deadline 3000
  world.now = 500;
  world.openError = new GrpcStatusError(14, 'etcdserver: no leader');
  world.stream.handlers.onClose(new GrpcStatusError(14, 'etcdserver: no leader'));
  await world.advance(2500); // t = 3000
  assert.is(env.keeper.doubts, 1, 'in doubt at the local deadline');
  assert.is(env.failures.length, 0);
  return { ...env, kept };
}

engine('in doubt, etcd answering TTL > 0 clears it silently; the lease is kept and can go into doubt again later', async () => {
  const { world, keeper, failures } = await leaseCutOff();
  await world.advance(1500); // t = 4500: the new leader is up
  world.openError = undefined;
  await world.advance(1000); // the backoff runs out: reconnect, every lease re-sent
  assert.is(keeper.currentState, 'open');
  assert.equal(world.stream.sent, [3n], 'verification: the lease is re-sent on the new stream');
  const answeredAt = world.now;
  world.stream.answer(3n, 3);
  assert.is(keeper.confirmedAlive, 1);
  assert.is(failures.length, 0);
  // From now on etcd answers nothing again: the old give-up time (8000) passes without a report, since the
  // confirmation gave the lease a fresh deadline (3 s after the confirmed request) and, past it, a fresh grace.
  await world.advance(LOSS_GRACE_MS);
  assert.is(failures.length, 0, 'confirmed alive: not reported at the old give-up time');
  assert.is(keeper.doubts, 2, 'unanswered again since: a new doubt from the new deadline');
  await world.advance(answeredAt + 3000 + LOSS_GRACE_MS - world.now);
  assert.is(failures.length, 1);
  assert.instance(failures[0]!.err, KeepAliveError);
});

engine('in doubt, etcd answering TTL 0 reports LeaseExpiredError at once, before the grace ends', async () => {
  const { world, keeper, failures } = await leaseCutOff();
  world.openError = undefined;
  await world.advance(1000); // t ≈ 4000: reconnected
  assert.is(keeper.currentState, 'open');
  world.stream.answer(3n, 0);
  assert.is(failures.length, 1);
  assert.instance(failures[0]!.err, LeaseExpiredError);
  assert.ok(world.now < 3000 + LOSS_GRACE_MS);
  assert.is(keeper.confirmedAlive, 0);
  assert.is(keeper.currentState, 'idle');
  assert.is(world.strongTimers, 0);
});

engine('in doubt, Check()-style refreshOnce resolves on the confirming answer', async () => {
  const { world, keeper, failures, kept } = await leaseCutOff();
  const p = kept.refreshOnce(5000);
  world.openError = undefined;
  await world.advance(1000);
  world.stream.answer(3n, 3);
  assert.is(await p, 3);
  assert.is(keeper.confirmedAlive, 1);
  assert.is(failures.length, 0);
});

engine('close() while in doubt reports nothing and leaves no timer; a second close() is a no-op', async () => {
  const { world, keeper, failures } = await leaseCutOff();
  keeper.close();
  keeper.close();
  assert.is(keeper.currentState, 'closed');
  assert.is(world.strongTimers, 0);
  await world.advance(60_000);
  assert.is(failures.length, 0);
});

engine('a lease removed while in doubt is forgotten: no report, engine idle', async () => {
  const { world, keeper, failures, kept } = await leaseCutOff();
  kept.remove();
  assert.is(keeper.currentState, 'idle');
  assert.is(world.strongTimers, 0);
  await world.advance(60_000);
  assert.is(failures.length, 0);
});

engine.run();

// ---- the loss verdicts, as the program sees them --------------------------------------------------------
// A KeepAlive (the C++ façade) on a keeper driven by the fake world: each verdict must reach the handler exactly
// once (counted after the queue settles, so a late duplicate is caught too), and Check()/closed() report the same
// error. A verdict that forgot the handler used to be caught only by an integration test.

const verdicts = suite('keepalive loss verdicts (KeepAlive façade)');

function facade(graceMs = 0, ttl = 2, id = 9n) {
  const world = new World(graceMs);
  const keeper = new LeaseKeeper(world.deps);
  // A client that is never asked to connect: its keeper is the fake one, and the lease id is given (no grant).
  const client = new Client('http://127.0.0.1:1');
  const conn = client.conn;
  conn.setSlot(LEASE_KEEPER, keeper);
  const calls: Error[] = [];
  const ka = new KeepAlive(client, (err: Error) => void calls.push(err), ttl, id);
  return { world, keeper, ka, calls, conn };
}

/** Lets microtasks and immediates run, so a duplicate handler call queued late would be counted. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await flush();
}

verdicts('default (no grace): lost at the local deadline — handler once with KeepAliveError code 4; Check and closed agree', async () => {
  const { world, ka, calls } = facade(0);
  await world.advance(1999);
  await settle();
  assert.is(calls.length, 0, 'not before the deadline');
  await world.advance(1);
  await settle();
  assert.is(calls.length, 1, 'handler called exactly once');
  assert.instance(calls[0], KeepAliveError);
  assert.is((calls[0] as KeepAliveError).code, 4);
  assert.is(await ka.closed(), calls[0]);
  try {
    await ka.Check();
    assert.unreachable('Check must reject');
  } catch (err) {
    assert.is(err, calls[0]);
  }
  await world.advance(10_000);
  await settle();
  assert.is(calls.length, 1, 'never again');
});

verdicts('with a grace: in doubt past the deadline, then confirmed alive — the handler is never called', async () => {
  const { world, keeper, ka, calls } = facade(LOSS_GRACE_MS);
  await world.advance(2000);
  assert.is(keeper.doubts, 1);
  await world.advance(1000);
  world.stream.answer(9n, 2);
  await settle();
  assert.is(keeper.confirmedAlive, 1);
  assert.is(calls.length, 0);
  const check = ka.Check(); // one more refresh: etcd answers it
  await flush();
  world.stream.answer(9n, 2);
  await check;
  ka.Cancel();
  await settle();
  assert.is(calls.length, 0, 'a cancel is not a loss');
});

verdicts('with a grace: in doubt, then lost when the grace ends — handler once with code 4', async () => {
  const { world, keeper, calls } = facade(LOSS_GRACE_MS);
  await world.advance(2000);
  assert.is(keeper.doubts, 1);
  await world.advance(LOSS_GRACE_MS - 1);
  await settle();
  assert.is(calls.length, 0, 'not within the grace');
  await world.advance(1);
  await settle();
  assert.is(calls.length, 1);
  assert.is((calls[0] as KeepAliveError).code, 4);
});

verdicts('revoked (etcd answers TTL 0): handler once with LeaseExpiredError, at once', async () => {
  const { world, ka, calls } = facade(0, 10);
  await world.advance(0);
  world.stream.answer(9n, 10);
  await world.advance(3400);
  world.stream.answer(9n, 0);
  await settle();
  assert.is(calls.length, 1);
  assert.instance(calls[0], LeaseExpiredError);
  assert.is(await ka.closed(), calls[0]);
});

verdicts('revoked while in doubt: LeaseExpiredError before the grace ends, once', async () => {
  const { world, calls } = facade(LOSS_GRACE_MS);
  await world.advance(2500);
  world.stream.answer(9n, 0);
  await world.advance(LOSS_GRACE_MS);
  await settle();
  assert.is(calls.length, 1);
  assert.instance(calls[0], LeaseExpiredError);
});

verdicts('a permanent stream error: handler once with KeepAliveError carrying its code', async () => {
  const { world, calls } = facade(0, 10);
  await world.advance(0);
  world.stream.handlers.onClose(new GrpcStatusError(12, 'unimplemented'));
  await settle();
  assert.is(calls.length, 1);
  assert.instance(calls[0], KeepAliveError);
  assert.is((calls[0] as KeepAliveError).code, 12);
});

verdicts('client closed: no loss reported, the handler is not called', async () => {
  const { world, conn, calls } = facade(0, 10);
  await world.advance(0);
  await conn.close();
  await world.advance(60_000);
  await settle();
  assert.is(calls.length, 0);
});

verdicts.run();
