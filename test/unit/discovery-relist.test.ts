// Discovery's re-list, without etcd: a fake PrefixReader stands in for `ls` and the prefix Watcher. When the
// watch ends on its own (a compaction), Discovery lists again and reports only the difference with what it
// knew — no second "online" for an instance already online, "offline" for one that vanished — each change
// exactly once, then watches from the new listing's revision + 1.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, EventType, type Response } from '../../src/core';
import type { ConnectionListener } from '../../src/link';
import { Discovery, type PrefixReader, type PrefixWatch } from '../../src/discovery/discovery';
import { eventually } from '../helpers/wait';

/** Polls `cond` every 5 ms for up to 10 s. */
const until = (cond: () => boolean, what: string): Promise<unknown> => eventually(cond, 10_000, what, 5);

type Kv = [key: string, value: string];

function kv([key, value]: Kv) {
  return { key: () => key, as_string: () => value };
}

/** A successful listing at `revision`. */
function listing(revision: number, ...kvs: Kv[]): Response {
  return { is_ok: () => true, index: () => revision, values: () => kvs.map(kv), error_code: () => 0, error_message: () => '' } as unknown as Response;
}

/** A failed Response (a listing or a watch's last word) with etcd's `code`. */
function failure(code: number, message: string): Response {
  return { is_ok: () => false, index: () => 0, values: () => [], events: () => [], error_code: () => code, error_message: () => message } as unknown as Response;
}

function events(...evs: Array<['put', Kv] | ['delete', string]>): Response {
  return {
    is_ok: () => true,
    events: () =>
      evs.map(([type, x]) => ({
        event_type: () => (type === 'put' ? EventType.PUT : EventType.DELETE_),
        kv: () => (type === 'put' ? kv(x as Kv) : kv([x as string, ''])),
      })),
  } as unknown as Response;
}

/** One fake prefix watch: the test pushes responses into it and ends it. */
class FakeWatch implements PrefixWatch {
  cancelled = false;
  private finish!: (cancelled: boolean) => void;
  private readonly ended = new Promise<boolean>((resolve) => (this.finish = resolve));
  constructor(
    readonly prefix: string,
    readonly revision: number,
    readonly push: (r: Response) => void,
  ) {}
  onConnection(_cb: ConnectionListener): () => void {
    return () => {};
  }
  Wait(): Promise<boolean> {
    return this.ended;
  }
  Cancel(): Promise<boolean> {
    this.cancelled = true;
    this.finish(true);
    return Promise.resolve(true);
  }
  /** etcd ends the watch (compaction): its last word is an error Response, then it ends not cancelled. */
  compacted(): void {
    this.push(failure(11, 'mvcc: required revision has been compacted'));
    this.finish(false);
  }
}

class FakeReader implements PrefixReader {
  readonly listings: Response[] = [];
  readonly watches: FakeWatch[] = [];
  listCalls = 0;
  list(): Promise<Response> {
    this.listCalls++;
    const r = this.listings.shift();
    return r ? Promise.resolve(r) : new Promise(() => {}); // no listing queued: etcd is silent
  }
  watch(prefix: string, revision: number, onResponse: (r: Response) => void): PrefixWatch {
    const w = new FakeWatch(prefix, revision, onResponse);
    this.watches.push(w);
    return w;
  }
  get current(): FakeWatch {
    return this.watches[this.watches.length - 1]!;
  }
}

/** A Discovery over a fake reader, recording every callback as one line. */
function setup(): { d: Discovery; reader: FakeReader; calls: string[]; client: Client } {
  const client = new Client('http://127.0.0.1:1'); // never used: the reader replaces it
  const d = new Discovery(client);
  const reader = new FakeReader();
  (d as unknown as { reader: PrefixReader }).reader = reader;
  const calls: string[] = [];
  d.onOnline((s, i, a, m) => calls.push(`online ${s}/${i} ${a}${m === undefined ? '' : ` ${JSON.stringify(m)}`}`));
  d.onOffline((s, i, a) => calls.push(`offline ${s}/${i} ${a}`));
  return { d, reader, calls, client };
}

/** Lets the promise chains of recover() run (a resolved listing takes a few microtasks). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

test('after a compaction the re-list reports only the difference, each change once', async () => {
  const { d, reader, calls, client } = setup();
  try {
    reader.listings.push(listing(10, ['/service/a/1', 'addr-a1'], ['/service/a/2', 'addr-a2'], ['/service/b/1', 'addr-b1']));
    await d.start();
    assert.equal(calls.splice(0), ['online a/1 addr-a1', 'online a/2 addr-a2', 'online b/1 addr-b1']);
    assert.is(reader.current.revision, 11, 'watches from the listing revision + 1');
    assert.is(reader.current.prefix, '/service/');

    reader.current.push(events(['put', ['/service/c/1', 'addr-c1']]));
    assert.equal(calls.splice(0), ['online c/1 addr-c1']);

    // Compaction: a/1 and c/1 unchanged, a/2 vanished, b/1 moved, d/1 new.
    reader.listings.push(
      listing(50, ['/service/a/1', 'addr-a1'], ['/service/b/1', 'addr-b1-new'], ['/service/c/1', 'addr-c1'], ['/service/d/1', 'addr-d1']),
    );
    const first = reader.current;
    first.compacted();
    await until(() => reader.watches.length === 2, 'the second watch');
    assert.is(reader.listCalls, 2);
    assert.equal(calls.splice(0), ['offline a/2 addr-a2', 'offline b/1 addr-b1', 'online b/1 addr-b1-new', 'online d/1 addr-d1']);
    assert.is(reader.current.revision, 51, 're-watches from the re-list revision + 1');
    assert.equal(d.instances('a'), [{ instance: '1', address: 'addr-a1' }]);
    assert.equal(d.services(), ['a', 'b', 'c', 'd']);

    // The old watch is gone: its late responses change nothing. The new one reports as usual.
    first.push(events(['delete', '/service/a/1']));
    reader.current.push(events(['put', ['/service/a/1', 'addr-a1']], ['delete', '/service/d/1']));
    assert.equal(calls.splice(0), ['offline d/1 addr-d1']);
  } finally {
    await d.close();
    await client.close();
  }
  assert.ok(reader.current.cancelled, 'close() cancels the watch');
});

test('a re-list that finds the same instances reports nothing', async () => {
  const { d, reader, calls, client } = setup();
  try {
    reader.listings.push(listing(5, ['/service/a/1', 'addr-a1'], ['/service/a/2', '{"Addr":"addr-a2","Metadata":{"v":1}}']));
    await d.start();
    assert.is(calls.splice(0).length, 2);
    // Same addresses; a/2's metadata changed (a re-put with the same address reports nothing either).
    reader.listings.push(listing(9, ['/service/a/2', '{"Addr":"addr-a2","Metadata":{"v":2}}'], ['/service/a/1', 'addr-a1']));
    reader.current.compacted();
    await until(() => reader.watches.length === 2, 'the second watch');
    await settle();
    assert.equal(calls, []);
    assert.equal(d.instances('a')[1], { instance: '2', address: 'addr-a2', metadata: { v: 2 } });
  } finally {
    await d.close();
    await client.close();
  }
});

test('a re-list that fails is retried; the changes are reported once, when one succeeds', async () => {
  const { d, reader, calls, client } = setup();
  try {
    reader.listings.push(listing(5, ['/service/a/1', 'addr-a1'], ['/service/b/1', 'addr-b1']));
    await d.start();
    calls.splice(0);
    reader.listings.push(failure(14, 'unavailable'), failure(14, 'unavailable'), listing(20, ['/service/b/1', 'addr-b1']));
    reader.current.compacted();
    await until(() => reader.watches.length === 2, 'the second watch');
    assert.is(reader.listCalls, 4);
    assert.equal(calls, ['offline a/1 addr-a1']);
    assert.is(reader.current.revision, 21);
  } finally {
    await d.close();
    await client.close();
  }
});

test('a re-list finding the same instances again reports nothing; close() during a re-list retry ends it', async () => {
  const { d, reader, calls, client } = setup();
  reader.listings.push(listing(5, ['/service/a/1', 'addr-a1']));
  await d.start();
  calls.splice(0);
  reader.listings.push(listing(30, ['/service/a/1', 'addr-a1']));
  reader.current.compacted();
  await until(() => reader.watches.length === 2, 'the second watch');
  assert.equal(calls, []);
  // Compacted again, and the listing fails: Discovery pauses before trying again; close() cuts the pause short.
  reader.listings.push(failure(14, 'unavailable'), listing(40));
  reader.current.compacted();
  await until(() => reader.listCalls === 3, 'the third listing');
  await d.close();
  await settle();
  await client.close();
  assert.is(reader.listCalls, 3, 'no listing after close()');
  assert.is(reader.watches.length, 2);
  assert.equal(calls, []);
});

test.run();
