// StreamSession without sockets: which callbacks reach the owner once a stream has been superseded, and that a
// stream whose open resolves too late is cancelled rather than adopted.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GrpcStatusError } from '../../src/errors';
import { StreamSession } from '../../src/stream-session';
import type { StreamCall, StreamHandlers } from '../../src/transport/transport';

class FakeCall implements StreamCall<string> {
  cancelled = 0;
  write(): void {}
  end(): void {}
  cancel(): void {
    this.cancelled++;
  }
}

interface PendingOpen {
  handlers: StreamHandlers<number>;
  resolve(call: FakeCall): void;
  reject(err: unknown): void;
}

function setup() {
  const opens: PendingOpen[] = [];
  const log: string[] = [];
  const session = new StreamSession<string, number>(
    (handlers) =>
      new Promise<StreamCall<string>>((resolve, reject) => {
        opens.push({ handlers, resolve, reject });
      }),
    {
      onOpen: () => log.push('open'),
      onMessage: (m) => log.push(`message ${m}`),
      onClose: (err) => log.push(`close ${err === null ? 'null' : (err as Error).message}`),
    },
  );
  return { session, opens, log };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

const test = suite('StreamSession');

test('an opened stream becomes current and its callbacks reach the owner', async () => {
  const { session, opens, log } = setup();
  session.open();
  assert.is(session.call, undefined);
  const call = new FakeCall();
  opens[0]!.resolve(call);
  await tick();
  assert.is(session.call, call);
  opens[0]!.handlers.onMessage(1);
  opens[0]!.handlers.onClose(null);
  assert.equal(log, ['open', 'message 1', 'close null']);
  // The owner decides when to let go of a closed stream.
  assert.is(session.call, call);
});

test('a rejected open is reported as a close of the current stream', async () => {
  const { session, opens, log } = setup();
  session.open();
  const err = new GrpcStatusError(14, 'down');
  opens[0]!.reject(err);
  await tick();
  assert.equal(log, [`close ${err.message}`]);
  assert.is(session.call, undefined);
});

test('detach forgets the stream, returns it and silences it', async () => {
  const { session, opens, log } = setup();
  session.open();
  const call = new FakeCall();
  opens[0]!.resolve(call);
  await tick();
  assert.is(session.detach(), call);
  assert.is(session.call, undefined);
  assert.is(session.detach(), undefined);
  opens[0]!.handlers.onMessage(2);
  opens[0]!.handlers.onClose(null);
  assert.equal(log, ['open']);
  assert.is(call.cancelled, 0, 'the caller chooses how to end it');
});

test('an open that resolves after detach is cancelled, not adopted', async () => {
  const { session, opens, log } = setup();
  session.open();
  session.detach();
  const late = new FakeCall();
  opens[0]!.resolve(late);
  await tick();
  assert.is(late.cancelled, 1);
  assert.is(session.call, undefined);
  assert.equal(log, []);
});

test('an open that rejects after detach is not reported', async () => {
  const { session, opens, log } = setup();
  session.open();
  session.detach();
  opens[0]!.reject(new Error('late'));
  await tick();
  assert.equal(log, []);
});

test('a newer open supersedes one still in flight', async () => {
  const { session, opens, log } = setup();
  session.open();
  session.open();
  const first = new FakeCall();
  const second = new FakeCall();
  opens[1]!.resolve(second);
  opens[0]!.resolve(first);
  await tick();
  assert.is(first.cancelled, 1);
  assert.is(session.call, second);
  opens[0]!.handlers.onMessage(1);
  opens[1]!.handlers.onMessage(2);
  assert.equal(log, ['open', 'message 2']);
});

test('a guard holds until the next open or detach', () => {
  const { session } = setup();
  const beforeOpen = session.guard();
  assert.ok(beforeOpen());
  session.open();
  assert.not.ok(beforeOpen());
  const whileOpen = session.guard();
  assert.ok(whileOpen());
  session.detach();
  assert.not.ok(whileOpen());
});

test.run();
