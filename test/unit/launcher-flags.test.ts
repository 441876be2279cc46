// The testing kit's per-version etcd flags (src/testing/binaries.ts versionFlags): etcd 3.7 rejects every
// --experimental-* flag, 3.6 renamed the progress-notify one, and only 3.4 needs --logger=zap.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { versionFlags } from '../../src/testing';

const VERSIONS = ['3.4.23', '3.5.36', '3.6.17', '3.7.4'];

test('no --experimental-* flag on 3.6 and later unless asked, none ever on 3.7', () => {
  for (const v of VERSIONS) {
    const flags = versionFlags(v, {});
    assert.not.ok(flags.some((f) => f.includes('progress-notify')), `${v}: ${flags.join(' ')}`);
    if (v >= '3.6') assert.not.ok(flags.some((f) => f.startsWith('--experimental-')), `${v}: ${flags.join(' ')}`);
  }
  assert.ok(versionFlags('3.4.23').includes('--logger=zap'));
  assert.not.ok(versionFlags('3.7.4').includes('--logger=zap'));
});

test('watch progress notify: the experimental name before 3.6, the plain one since (3.7 knows only that)', () => {
  const pick = (v: string, ms: number) => versionFlags(v, { progressNotifyIntervalMs: ms }).filter((f) => f.includes('progress-notify'));
  assert.equal(pick('3.4.23', 300), ['--experimental-watch-progress-notify-interval=300ms']);
  assert.equal(pick('3.5.36', 300), ['--experimental-watch-progress-notify-interval=300ms']);
  assert.equal(pick('3.6.0', 1000), ['--watch-progress-notify-interval=1000ms']);
  assert.equal(pick('3.7.4', 300), ['--watch-progress-notify-interval=300ms']);
  assert.equal(pick('4.0.0', 300), ['--watch-progress-notify-interval=300ms']);
});

test('a bad interval is refused before etcd starts', () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => versionFlags('3.7.4', { progressNotifyIntervalMs: bad }), /progressNotifyIntervalMs/);
  }
});

test.run();
