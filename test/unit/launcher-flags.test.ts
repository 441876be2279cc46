// The launcher's per-version etcd flags (scripts/etcd.ts versionFlags): etcd 3.7 rejects every --experimental-*
// flag, 3.6 renamed the progress-notify one.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { versionFlags } from '../../scripts/etcd';

test('no option, no flag, on any version', () => {
  for (const v of [[3, 4, 23], [3, 5, 36], [3, 6, 17], [3, 7, 4]] as const) assert.equal(versionFlags(v, {}), []);
});

test('watch progress notify: the experimental name before 3.6, the plain one since (3.7 knows only that)', () => {
  assert.equal(versionFlags([3, 4, 23], { watchProgressNotifyIntervalMs: 300 }), ['--experimental-watch-progress-notify-interval=300ms']);
  assert.equal(versionFlags([3, 5, 36], { watchProgressNotifyIntervalMs: 300 }), ['--experimental-watch-progress-notify-interval=300ms']);
  assert.equal(versionFlags([3, 6, 0], { watchProgressNotifyIntervalMs: 1000 }), ['--watch-progress-notify-interval=1000ms']);
  assert.equal(versionFlags([3, 7, 4], { watchProgressNotifyIntervalMs: 300 }), ['--watch-progress-notify-interval=300ms']);
  assert.equal(versionFlags([4, 0, 0], { watchProgressNotifyIntervalMs: 300 }), ['--watch-progress-notify-interval=300ms']);
});

test('a bad interval is refused before etcd starts', () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => versionFlags([3, 7, 4], { watchProgressNotifyIntervalMs: bad }), /watchProgressNotifyIntervalMs/);
  }
});

test.run();
