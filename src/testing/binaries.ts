// Which etcd and etcdctl binaries the kit runs, and the flags that differ between etcd versions.
//
// `version: '3.6'` means the release pinned for 3.6 in etcd/versions.json (shipped with the package), found
// in the cache that `npm run etcd:bin -- 3.6` fills: ${XDG_CACHE_HOME:-~/.cache}/etcd-apiv3/etcd-v<x.y.z>/.
// Nothing is ever downloaded or built at run time. Without a version: ETCD_VERSION (a cached version), else
// ETCD_BIN, else `etcd` on PATH.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface EtcdBinaries {
  /** Path of the etcd server binary. */
  readonly etcd: string;
  /** Path of etcdctl (undefined if none was found; etcdctl() then throws). */
  readonly etcdctl: string | undefined;
  /** The server's version as `etcd --version` prints it (e.g. '3.6.17'); '' when it could not be read. */
  readonly version: string;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function findOnPath(cmd: string): string | undefined {
  if (cmd.includes('/')) return isExecutable(cmd) ? cmd : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return undefined;
}

/** The directory `npm run etcd:bin` caches etcd releases in. */
export function etcdCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'etcd-apiv3');
}

interface VersionPins {
  versions: Record<string, { version: string }>;
}

let pins: VersionPins | undefined;

/** etcd/versions.json of this package: found by walking up from this module (source tree or dist/). */
function readPins(): VersionPins {
  if (pins) return pins;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'etcd', 'versions.json');
    if (fs.existsSync(p)) return (pins = JSON.parse(fs.readFileSync(p, 'utf8')) as VersionPins);
    if (path.dirname(dir) === dir) throw new Error('etcd-apiv3/testing: etcd/versions.json is missing from the package');
  }
}

/** '3.6' → the pinned '3.6.17'; a full 'x.y.z' is taken as is. */
export function pinnedVersion(version: string): string {
  const v = version.replace(/^v/, '');
  if (/^\d+\.\d+\.\d+/.test(v)) return v;
  const pin = readPins().versions[v];
  if (!pin) throw new Error(`etcd ${version}: no pinned release (known: ${Object.keys(readPins().versions).join(', ')})`);
  return pin.version;
}

function cachedBinaries(version: string): EtcdBinaries {
  const full = pinnedVersion(version);
  const dir = path.join(etcdCacheDir(), `etcd-v${full}`);
  const etcd = path.join(dir, 'etcd');
  if (!isExecutable(etcd)) {
    const minor = full.split('.').slice(0, 2).join('.');
    throw new Error(
      `etcd ${full} is not in ${dir}. The kit never downloads etcd: run \`npm run etcd:bin -- ${minor}\` in a ` +
        'checkout of etcd-apiv3 to fill that cache, or set ETCD_BIN (and ETCDCTL_BIN) to binaries you have.',
    );
  }
  const ctl = path.join(dir, 'etcdctl');
  return { etcd, etcdctl: isExecutable(ctl) ? ctl : findEtcdctl(undefined), version: full };
}

function findEtcdctl(besideEtcd: string | undefined): string | undefined {
  if (process.env.ETCDCTL_BIN) return findOnPath(process.env.ETCDCTL_BIN);
  if (besideEtcd) {
    const p = path.join(path.dirname(besideEtcd), 'etcdctl');
    if (isExecutable(p)) return p;
  }
  return findOnPath('etcdctl');
}

const versionCache = new Map<string, string>();

/** `etcd --version` of a binary ('3.4.23'), cached per path; '' when it cannot be read. */
export function binaryVersion(bin: string): string {
  let v = versionCache.get(bin);
  if (v === undefined) {
    try {
      const out = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
      v = /etcd Version:\s*v?(\d+\.\d+\.\d+)/i.exec(out)?.[1] ?? '';
    } catch {
      v = '';
    }
    versionCache.set(bin, v);
  }
  return v;
}

export const ETCD_MISSING_MESSAGE =
  'etcd not found. Install etcd (Debian: `apt-get install etcd-server etcd-client`; or a release from ' +
  'https://github.com/etcd-io/etcd/releases) and put `etcd` and `etcdctl` on PATH, or set ETCD_BIN / ETCDCTL_BIN, ' +
  'or set ETCD_VERSION to a version `npm run etcd:bin` has cached.';

/**
 * The binaries for `startEtcd()`: `bin` if given, else the cached `version`, else ETCD_VERSION, ETCD_BIN, then
 * `etcd` on PATH. Throws an error saying what to install or run when nothing is found.
 */
export function resolveBinaries(opts: { version?: string; bin?: string } = {}): EtcdBinaries {
  if (opts.bin) {
    if (!isExecutable(opts.bin)) throw new Error(`etcd binary ${opts.bin} is not an executable file`);
    return { etcd: opts.bin, etcdctl: findEtcdctl(opts.bin), version: binaryVersion(opts.bin) };
  }
  const version = opts.version ?? process.env.ETCD_VERSION;
  if (version) return cachedBinaries(version);
  const etcd = findOnPath(process.env.ETCD_BIN || 'etcd');
  if (!etcd) {
    throw new Error(process.env.ETCD_BIN ? `ETCD_BIN=${process.env.ETCD_BIN} is not an executable file` : ETCD_MISSING_MESSAGE);
  }
  return { etcd, etcdctl: findEtcdctl(etcd), version: binaryVersion(etcd) };
}

/** True when `startEtcd()` without options would find an etcd binary. */
export function etcdAvailable(): boolean {
  try {
    resolveBinaries();
    return true;
  } catch {
    return false;
  }
}

/** The etcd binary `startEtcd()` without options would run (undefined when none is found). */
export function etcdBin(): string | undefined {
  try {
    return resolveBinaries().etcd;
  } catch {
    return undefined;
  }
}

/** The etcdctl binary the kit would run (undefined when none is found). */
export function etcdctlBin(): string | undefined {
  try {
    return resolveBinaries().etcdctl;
  } catch {
    return findEtcdctl(undefined);
  }
}

/** [major, minor] of 'x.y.z' (unknown versions count as the newest). */
function minorOf(version: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : [99, 99];
}

/** What the kit asks of etcd beyond the basics; each maps to a flag whose spelling depends on the version. */
export interface VersionedSettings {
  /** How often etcd sends watch progress notifications (ms). */
  progressNotifyIntervalMs?: number;
}

/**
 * The flags for `version` that the kit adds to every member: logging (3.4 needs the zap logger for
 * --log-outputs; 3.5 on have only zap) and the settings whose names changed. 3.6 introduced the
 * non-experimental names, and 3.7 rejects every `--experimental-*` flag.
 */
export function versionFlags(version: string, settings: VersionedSettings = {}): string[] {
  const [major, minor] = minorOf(version);
  const atLeast = (a: number, b: number) => major > a || (major === a && minor >= b);
  const flags = atLeast(3, 5) ? [] : ['--logger=zap'];
  flags.push('--log-outputs=stderr', '--log-level=error');
  if (settings.progressNotifyIntervalMs !== undefined) {
    const ms = settings.progressNotifyIntervalMs;
    if (!Number.isInteger(ms) || ms <= 0) throw new RangeError(`progressNotifyIntervalMs must be a positive integer, got ${String(ms)}`);
    const name = atLeast(3, 6) ? 'watch-progress-notify-interval' : 'experimental-watch-progress-notify-interval';
    flags.push(`--${name}=${settings.progressNotifyIntervalMs}ms`);
  }
  return flags;
}
