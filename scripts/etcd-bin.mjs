#!/usr/bin/env node
// `npm run -s etcd:bin -- [3.4|3.5|3.6|3.7|benchmark] [--check]`
//
// Prints the absolute path of a pinned etcd binary of that minor version (etcdctl beside it in the same folder),
// obtaining it the first time and reusing it afterwards. With no version: $ETCD_VERSION, else the default of
// etcd/versions.json — or 3.4 when Go is missing (said on stderr). `benchmark` prints etcd's own benchmark tool.
// `--check` only looks in the cache: it prints the path if present and exits 1 otherwise (it never builds).
//
// Where the binaries come from (pins in etcd/versions.json, nothing else pins a version):
//   - source "debian": the pinned etcd-server / etcd-client .debs, fetched with `apt-get download` and unpacked
//     with `dpkg-deb -x` (never installed);
//   - source "go": built from etcd's Go modules. etcd's server and etcdctl modules carry `replace` directives, so
//     `go install module@version` refuses them; a throw-away main module that requires them at one version
//     builds them (replace directives of dependencies are ignored). One module per version: mixing versions in
//     one go.mod would raise the shared api/client modules to the newest.
// Cache: ${XDG_CACHE_HOME:-~/.cache}/etcd-apiv3/etcd-v<version>/ (and benchmark-v<version>/). Builds go to a
// temporary folder renamed into place, under a lock, so concurrent callers wait for one build.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pins = JSON.parse(fs.readFileSync(path.join(root, 'etcd/versions.json'), 'utf8'));

export function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'etcd-apiv3');
}

function log(msg) {
  process.stderr.write(`etcd:bin: ${msg}\n`);
}

function fail(msg) {
  log(msg);
  process.exit(1);
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${(r.stderr || '') + (r.stdout || '')}`.trim());
  }
  return r.stdout;
}

/** Resolves "3.6", "3.6.17" or "" to the pinned entry { minor, version, source, ... }. */
export function pinFor(requested) {
  let want = requested || process.env.ETCD_VERSION || '';
  if (!want) {
    want = pins.default;
    if (pins.versions[want].source === 'go' && !have('go')) {
      log(`Go is not installed, so etcd ${pins.versions[want].version} cannot be built here; using Debian's etcd ${pins.versions['3.4'].version} (install Go >= 1.26 for the default etcd ${want})`);
      want = '3.4';
    }
  }
  const m = /^(\d+\.\d+)(?:\.(\d+))?$/.exec(want);
  if (!m || !pins.versions[m[1]]) {
    fail(`unknown etcd version "${want}": choose one of ${Object.keys(pins.versions).join(', ')}`);
  }
  const pin = pins.versions[m[1]];
  if (m[2] !== undefined && `${m[1]}.${m[2]}` !== pin.version) {
    fail(`etcd ${want} is not the pinned release of ${m[1]} (${pin.version}); pins live in etcd/versions.json`);
  }
  return { minor: m[1], ...pin };
}

/** Runs fn() holding an exclusive lock directory; waits (bounded) for another holder to finish. */
function withLock(lockPath, fn) {
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lockPath);
      fs.writeFileSync(path.join(lockPath, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let holder = 0;
      try {
        holder = Number(fs.readFileSync(path.join(lockPath, 'pid'), 'utf8'));
      } catch {}
      let alive = false;
      if (holder > 0) {
        try {
          process.kill(holder, 0);
          alive = true;
        } catch {}
      }
      if (!alive && holder > 0) {
        fs.rmSync(lockPath, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) fail(`gave up waiting for ${lockPath} (held by pid ${holder})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lockPath, { recursive: true, force: true });
  }
}

function debianBinaries(pin, dest) {
  if (!have('apt-get') || !have('dpkg-deb')) {
    fail(`etcd ${pin.version} comes from Debian's packages (${pin.packages.join(', ')}) and needs apt-get and dpkg-deb; on another system set ETCD_BIN to an etcd ${pin.minor} binary`);
  }
  const tmp = fs.mkdtempSync(path.join(cacheDir(), `.tmp-deb-${pin.version}-`));
  try {
    const download = () => spawnSync('apt-get', ['download', ...pin.packages], { cwd: tmp, encoding: 'utf8' });
    let r = download();
    if (r.status !== 0) {
      // The package lists may be empty on a fresh machine: refresh them once (needs root or password-less sudo).
      const sudo = process.getuid?.() === 0 ? [] : spawnSync('sudo', ['-n', 'true']).status === 0 ? ['sudo', '-n'] : null;
      if (!sudo) fail(`apt-get download ${pin.packages.join(' ')} failed and 'apt-get update' needs root:\n${r.stderr}`);
      log('refreshing apt package lists (apt-get update)');
      const [cmd, ...pre] = sudo.length ? sudo : ['apt-get'];
      run(cmd, sudo.length ? [...pre, 'apt-get', 'update', '-qq'] : ['update', '-qq']);
      r = download();
      if (r.status !== 0) fail(`apt-get download ${pin.packages.join(' ')} failed:\n${r.stderr}`);
    }
    for (const deb of fs.readdirSync(tmp).filter((f) => f.endsWith('.deb'))) {
      run('dpkg-deb', ['-x', path.join(tmp, deb), path.join(tmp, 'x')]);
    }
    const out = path.join(tmp, 'out');
    fs.mkdirSync(out);
    for (const b of ['etcd', 'etcdctl']) fs.copyFileSync(path.join(tmp, 'x/usr/bin', b), path.join(out, b));
    for (const b of ['etcd', 'etcdctl']) fs.chmodSync(path.join(out, b), 0o755);
    fs.renameSync(out, dest);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function goEnv() {
  // Fail fast rather than download another Go toolchain; static binaries like etcd's own releases.
  return { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=mod -buildvcs=false' };
}

/** Builds `pkgs` ({ name: importPath }) from `mods` (module@version list) into dest/<name>. */
function goBuild(label, mods, pkgs, dest, ldflags) {
  if (!have('go')) {
    fail(`${label} is built from etcd's Go modules and needs Go >= 1.26 on PATH (or set ETCD_BIN to an etcd binary of that version; 3.4 comes from Debian without Go)`);
  }
  const work = fs.mkdtempSync(path.join(cacheDir(), `.tmp-build-${label.replace(/\W+/g, '-')}-`));
  try {
    fs.writeFileSync(path.join(work, 'go.mod'), 'module local/etcdapiv3build\n\ngo 1.26\n');
    // A build-tagged file of blank imports keeps the requirements in go.mod (the usual "tools.go" pattern).
    fs.writeFileSync(
      path.join(work, 'tools.go'),
      `//go:build tools\n\npackage tools\n\nimport (\n${Object.values(pkgs).map((p) => `\t_ "${p}"\n`).join('')})\n`,
    );
    const started = Date.now();
    log(`building ${label} from Go modules (${mods.join(' ')}); the first build takes a few minutes`);
    const env = goEnv();
    run('go', ['get', ...mods], { cwd: work, env });
    run('go', ['mod', 'tidy'], { cwd: work, env });
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    for (const [name, pkg] of Object.entries(pkgs)) {
      run('go', ['build', '-trimpath', '-ldflags', `-s -w ${ldflags}`, '-o', path.join(out, name), pkg], { cwd: work, env });
    }
    fs.renameSync(out, dest);
    log(`built ${label} in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Path of the etcd binary for `requested` (see pinFor); obtains it unless checkOnly. */
export function etcdBinary(requested, { checkOnly = false } = {}) {
  const pin = pinFor(requested);
  const dir = path.join(cacheDir(), `etcd-v${pin.version}`);
  const bin = path.join(dir, 'etcd');
  if (isExecutable(bin) && isExecutable(path.join(dir, 'etcdctl'))) return bin;
  if (checkOnly) return undefined;
  fs.mkdirSync(cacheDir(), { recursive: true });
  withLock(path.join(cacheDir(), `.lock-etcd-v${pin.version}`), () => {
    if (isExecutable(bin)) return;
    fs.rmSync(dir, { recursive: true, force: true });
    if (pin.source === 'debian') debianBinaries(pin, dir);
    else {
      const v = `v${pin.version}`;
      goBuild(
        `etcd ${pin.version}`,
        [`go.etcd.io/etcd/server/v3@${v}`, `go.etcd.io/etcd/etcdctl/v3@${v}`],
        { etcd: 'go.etcd.io/etcd/server/v3', etcdctl: 'go.etcd.io/etcd/etcdctl/v3' },
        dir,
        `-X go.etcd.io/etcd/api/v3/version.GitSHA=${v}`,
      );
    }
  });
  return bin;
}

/** Path of etcd's benchmark tool (pinned in etcd/versions.json "benchmark"); obtains it unless checkOnly. */
export function benchmarkBinary({ checkOnly = false } = {}) {
  const pin = pins.benchmark;
  const dir = path.join(cacheDir(), `benchmark-v${pin.version}`);
  const bin = path.join(dir, 'benchmark');
  if (isExecutable(bin)) return bin;
  if (checkOnly) return undefined;
  fs.mkdirSync(cacheDir(), { recursive: true });
  withLock(path.join(cacheDir(), `.lock-benchmark-v${pin.version}`), () => {
    if (isExecutable(bin)) return;
    fs.rmSync(dir, { recursive: true, force: true });
    goBuild(`etcd benchmark ${pin.version}`, [`${pin.module}@v${pin.version}`], { benchmark: pin.package }, dir, '');
  });
  return bin;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const checkOnly = args.includes('--check');
  const positional = args.filter((a) => !a.startsWith('--'));
  if (positional.length > 1 || args.some((a) => a.startsWith('--') && a !== '--check')) {
    fail('usage: etcd-bin.mjs [3.4|3.5|3.6|3.7|benchmark] [--check]');
  }
  let result;
  try {
    result = positional[0] === 'benchmark' ? benchmarkBinary({ checkOnly }) : etcdBinary(positional[0], { checkOnly });
  } catch (e) {
    fail(e.message);
  }
  if (!result) process.exit(1);
  process.stdout.write(`${result}\n`);
}
