// etcd/versions.json is the one place that pins etcd releases: the Go interop module must require the client of
// the newest pinned etcd, and the pins must name one release per minor version.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = join(__dirname, '..', '..');
const pins = JSON.parse(readFileSync(join(root, 'etcd/versions.json'), 'utf8')) as {
  default: string;
  versions: Record<string, { version: string; source: string }>;
  benchmark: { version: string };
};

test('every pin is a release of the minor version it is filed under', () => {
  for (const [minor, pin] of Object.entries(pins.versions)) {
    assert.ok(pin.version.startsWith(`${minor}.`), `${minor} → ${pin.version}`);
    assert.ok(['go', 'debian'].includes(pin.source), `${minor}: source ${pin.source}`);
  }
  assert.ok(pins.versions[pins.default], `the default ${pins.default} is pinned`);
});

test('the Go interop module requires the client and api of the default (newest) etcd', () => {
  const gomod = readFileSync(join(root, 'interop/go/go.mod'), 'utf8');
  const want = `v${pins.versions[pins.default]!.version}`;
  for (const mod of ['go.etcd.io/etcd/client/v3', 'go.etcd.io/etcd/api/v3']) {
    const m = new RegExp(`${mod.replace(/\./g, '\\.')} (v[0-9.]+)`).exec(gomod);
    assert.ok(m, `${mod} is required in interop/go/go.mod`);
    assert.is(m![1], want, `${mod} in interop/go/go.mod`);
  }
});

test('the default is the newest pinned minor version', () => {
  const newest = Object.keys(pins.versions).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1])).at(-1);
  assert.is(pins.default, newest);
});

test.run();
