// The one reconnecting-stream machine (src/reconnecting-stream.ts) without sockets: a fake clock and fake
// streams drive it through its states — transitions, backoff growth and reset, renewing the token once per
// streak, halts, close at each state, and that an older stream (or a late open) is silenced. The cases of the
// former StreamSession test (generations, late opens) are here too.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClientClosedError, GrpcStatusError } from '../../src/errors';
import { ReconnectingStream, type Clock, type StreamOwner } from '../../src/reconnecting-stream';
import type { EndVerdict } from '../../src/stream-end';
import type { StreamCall, StreamHandlers } from '../../src/transport/transport';

class FakeCall implements StreamCall<string> {
  cancelled = 0;
  ended = 0;
  readonly written: string[] = [];
  write(m: string): void {
    this.written.push(m);
  }
  end(): void {
    this.ended++;
  }
  cancel(): void {
    this.cancelled++;
  }
}

interface PendingOpen {
  handlers: StreamHandlers<number>;
  resolve(call: FakeCall): void;
  reject(err: unknown): void;
}

interface Timer {
  id: number;
  at: number;
  fn: () => void;
  weak: boolean;
}

class FakeClock implements Clock {
  t = 0;
  private seq = 0;
  timers: Timer[] = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number, weak = false): unknown {
    const timer = { id: ++this.seq, at: this.t + ms, fn, weak };
    this.timers.push(timer);
    return timer.id;
  }
  clearTimer(id: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await tick();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
    await tick();
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const unavailable = () => new GrpcStatusError(14, 'unavailable');
const badToken = () => new GrpcStatusError(3, 'etcdserver: invalid auth token');

function setup(extra: Partial<StreamOwner<string, number>> = {}, auth = true) {
  const clock = new FakeClock();
  const opens: PendingOpen[] = [];
  const log: string[] = [];
  const backoffs: number[] = [];
  let wanted = true;
  let renewed = 0;
  const owner: StreamOwner<string, number> = {
    open: (handlers) => new Promise<StreamCall<string>>((resolve, reject) => opens.push({ handlers, resolve, reject })),
    onOpen: () => log.push('open'),
    onMessage: (m) => log.push(`message ${m}`),
    wanted: () => wanted,
    onLost: (err) => log.push(`lost ${err === null ? 'null' : (err as Error).message}`),
    onHalt: (status) => log.push(`halt ${status.code}`),
    onClientClosed: () => log.push('client closed'),
    ...(auth ? { renewToken: () => void renewed++ } : {}),
    ...extra,
  };
  const machine = new ReconnectingStream<string, number>(owner, {
    component: 'test',
    label: 'test',
    clock,
    backoff: (attempt) => {
      const ms = 100 * 2 ** attempt;
      backoffs.push(ms);
      return ms;
    },
  });
  /** Resolves the latest open with a new call. */
  const openLatest = async (): Promise<FakeCall> => {
    const call = new FakeCall();
    opens[opens.length - 1]!.resolve(call);
    await tick();
    return call;
  };
  const latest = () => opens[opens.length - 1]!;
  return {
    clock,
    machine,
    opens,
    log,
    backoffs,
    openLatest,
    latest,
    setWanted: (w: boolean) => void (wanted = w),
    renewed: () => renewed,
  };
}

const test = suite('ReconnectingStream');

test('idle → connecting → open; messages reach the owner; call is current', async () => {
  const { machine, opens, log, openLatest, latest } = setup();
  assert.is(machine.state, 'idle');
  machine.start();
  assert.is(machine.state, 'connecting');
  machine.start(); // no-op
  assert.is(opens.length, 1);
  const call = await openLatest();
  assert.is(machine.state, 'open');
  assert.is(machine.call, call);
  latest().handlers.onMessage(7);
  assert.equal(log, ['open', 'message 7']);
  assert.is(machine.opened, 1);
});

test('an end backs off, then reopens; the backoff grows until a message resets it', async () => {
  const { machine, opens, clock, backoffs, openLatest, latest } = setup();
  machine.start();
  await openLatest();
  latest().handlers.onClose(unavailable());
  assert.is(machine.state, 'backoff');
  assert.is(machine.call, undefined);
  await clock.advance(99);
  assert.is(opens.length, 1, 'waits for the backoff');
  await clock.advance(1);
  assert.is(machine.state, 'connecting');
  latest().reject(unavailable()); // a failed open is an end too
  await tick();
  assert.is(machine.state, 'backoff');
  await clock.advance(200);
  await openLatest();
  latest().handlers.onClose(null);
  assert.equal(backoffs, [100, 200, 400]);
  await clock.advance(400);
  await openLatest();
  latest().handlers.onMessage(1);
  latest().handlers.onClose(null);
  assert.equal(backoffs, [100, 200, 400, 100], 'a message ends the streak');
});

test('a message that does not count as an answer keeps the streak', async () => {
  const { machine, clock, backoffs, openLatest, latest } = setup({ countsAsAnswer: (m) => m > 0 });
  machine.start();
  await openLatest();
  latest().handlers.onClose(null);
  await clock.advance(100);
  await openLatest();
  latest().handlers.onMessage(0);
  latest().handlers.onClose(null);
  assert.equal(backoffs, [100, 200]);
});

test('the token is renewed once per streak; a second refusal in the streak halts with that status', async () => {
  const { machine, clock, log, openLatest, latest, renewed } = setup();
  machine.start();
  await openLatest();
  latest().handlers.onClose(badToken());
  assert.is(renewed(), 1);
  assert.is(machine.state, 'backoff');
  await clock.advance(100);
  await openLatest();
  latest().handlers.onClose(badToken());
  assert.is(renewed(), 1, 'not renewed twice');
  assert.is(machine.state, 'idle');
  assert.is(log[log.length - 1], 'halt 3');
});

test('a message between two token refusals allows another renewal', async () => {
  const { machine, clock, openLatest, latest, renewed } = setup();
  machine.start();
  await openLatest();
  latest().handlers.onClose(badToken());
  await clock.advance(100);
  await openLatest();
  latest().handlers.onMessage(1);
  latest().handlers.onClose(badToken());
  assert.is(renewed(), 2);
  assert.is(machine.state, 'backoff');
});

test('without credentials a token refusal halts at once', async () => {
  const { machine, log, openLatest, latest } = setup({}, false);
  machine.start();
  await openLatest();
  latest().handlers.onClose(badToken());
  assert.is(machine.state, 'idle');
  assert.is(log[log.length - 1], 'halt 3');
});

test('a permanent status halts: idle, onHalt, no timer; a later start is a new streak', async () => {
  const { machine, clock, log, backoffs, openLatest, latest } = setup();
  machine.start();
  await openLatest();
  latest().handlers.onClose(unavailable());
  await clock.advance(100);
  await openLatest();
  latest().handlers.onClose(new GrpcStatusError(7, 'etcdserver: permission denied'));
  assert.is(machine.state, 'idle');
  assert.is(log[log.length - 1], 'halt 7');
  assert.is(clock.timers.length, 0);
  machine.start();
  await openLatest();
  latest().handlers.onClose(unavailable());
  assert.equal(backoffs, [100, 100]);
});

test('a plain Error (an open that threw something else than a status) is transient: backoff, not halt', async () => {
  const { machine, latest } = setup();
  machine.start();
  latest().reject(new Error('socket hang up'));
  await tick();
  assert.is(machine.state, 'backoff');
});

test('the owner may replace a verdict (halt → retry)', async () => {
  const seen: EndVerdict[] = [];
  const { machine, openLatest, latest } = setup({
    onEnd: (_err, v) => {
      seen.push(v);
      return 'retry';
    },
  });
  machine.start();
  await openLatest();
  latest().handlers.onClose(new GrpcStatusError(7, 'etcdserver: permission denied'));
  assert.is(machine.state, 'backoff');
  assert.is(typeof seen[0], 'object');
});

test('client closed: the owner is told, nothing reopens', async () => {
  const { machine, clock, opens, log, latest } = setup();
  machine.start();
  latest().reject(new ClientClosedError());
  await tick();
  assert.is(log[log.length - 1], 'client closed');
  await clock.advance(10_000);
  assert.is(opens.length, 1);
});

test('nobody wants it any more: the end goes idle instead of backing off, and a due reopen goes idle too', async () => {
  const s = setup();
  s.machine.start();
  await s.openLatest();
  s.setWanted(false);
  s.latest().handlers.onClose(unavailable());
  assert.is(s.machine.state, 'idle');
  assert.is(s.clock.timers.length, 0);
  s.setWanted(true);
  s.machine.start();
  await s.openLatest();
  s.latest().handlers.onClose(unavailable());
  s.setWanted(false);
  await s.clock.advance(100);
  assert.is(s.machine.state, 'idle');
  assert.is(s.opens.length, 2);
});

test('the backoff timer holds the process (not weak) and stop/close clear it', async () => {
  const { machine, clock, openLatest, latest } = setup();
  machine.start();
  await openLatest();
  latest().handlers.onClose(unavailable());
  assert.equal(clock.timers.map((t) => t.weak), [false]);
  machine.stop();
  assert.is(clock.timers.length, 0);
  assert.is(machine.state, 'idle');
});

test('close is idempotent and final in every state, and returns the current call once', async () => {
  for (const at of ['idle', 'connecting', 'open', 'backoff'] as const) {
    const { machine, clock, opens, openLatest, latest } = setup();
    let call: FakeCall | undefined;
    if (at !== 'idle') machine.start();
    if (at === 'open' || at === 'backoff') call = await openLatest();
    if (at === 'backoff') latest().handlers.onClose(unavailable());
    assert.is(machine.state, at);
    const returned = machine.close();
    assert.is(returned, at === 'open' ? call : undefined, at);
    assert.is(machine.state, 'closed');
    assert.is(machine.close(), undefined);
    assert.is(clock.timers.length, 0, `${at}: no timer left`);
    machine.start();
    await clock.advance(10_000);
    assert.is(machine.state, 'closed');
    if (at === 'connecting') {
      const late = new FakeCall();
      latest().resolve(late);
      await tick();
      assert.is(late.cancelled, 1, 'an open that resolves after close is cancelled');
    }
    assert.is(opens.length, at === 'idle' ? 0 : 1);
  }
});

test('stop returns the call for the owner to end, silences it, and is idempotent', async () => {
  const { machine, log, openLatest, latest } = setup();
  machine.start();
  const call = await openLatest();
  const old = latest();
  assert.is(machine.stop(), call);
  assert.is(machine.stop(), undefined);
  old.handlers.onMessage(5);
  old.handlers.onClose(unavailable());
  assert.equal(log, ['open']);
  assert.is(machine.state, 'idle');
});

test('reopenNow drops the open stream and opens another without backoff; the old one is silenced', async () => {
  const { machine, opens, log, backoffs, openLatest, latest } = setup();
  machine.start();
  const first = await openLatest();
  const old = latest();
  machine.reopenNow('stalled');
  assert.is(first.cancelled, 1);
  assert.is(machine.state, 'connecting');
  assert.is(opens.length, 2);
  old.handlers.onMessage(9);
  old.handlers.onClose(unavailable());
  assert.equal(backoffs, []);
  assert.equal(log, ['open']);
});

test('fail ends the current stream as if it had ended with the error', async () => {
  const { machine, renewed, openLatest } = setup();
  machine.start();
  const call = await openLatest();
  machine.fail(badToken());
  assert.is(call.cancelled, 1);
  assert.is(renewed(), 1);
  assert.is(machine.state, 'backoff');
});

test('an open that resolves after stop is cancelled, not adopted; one that rejects is not reported', async () => {
  const { machine, log, opens } = setup();
  machine.start();
  machine.stop();
  const late = new FakeCall();
  opens[0]!.resolve(late);
  await tick();
  assert.is(late.cancelled, 1);
  assert.is(machine.call, undefined);
  machine.start();
  machine.stop();
  opens[1]!.reject(unavailable());
  await tick();
  assert.equal(log, []);
  assert.is(machine.state, 'idle');
});

test('a guard holds until the next open, end or stop', async () => {
  const { machine, openLatest, latest } = setup();
  machine.start();
  await openLatest();
  const g = machine.guard();
  assert.ok(g());
  latest().handlers.onClose(unavailable());
  assert.not.ok(g());
});

test.run();
