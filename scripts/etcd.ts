/**
 * Launcher shared by the demo, the benchmark and the tests: start and control real etcd processes (single member or 3-member
 * clusters) on free loopback ports, with temporary data directories that are
 * always cleaned up.
 *
 * Works with etcd 3.4 (Debian packages etcd-server / etcd-client) through 3.7; the flags that differ between
 * versions are chosen by versionFlags(). Overrides: ETCD_BIN, ETCDCTL_BIN.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const ETCD_MISSING_MESSAGE =
  "etcd not found: run 'apt-get install -y etcd-server etcd-client' (Debian) or set ETCD_BIN";

/** How long startEtcd()/member.start() wait for /health before giving up. */
export const READY_TIMEOUT_MS = 20_000;
/** How long stop() waits after SIGTERM before sending SIGKILL. */
export const STOP_GRACE_MS = 5_000;
const RING_BYTES = 64 * 1024;

export interface StartEtcdOptions {
  /** Number of members (default 1). */
  members?: 1 | 3;
  /** Put data dirs on /dev/shm (falls back to os.tmpdir() if /dev/shm is absent). */
  dataDirOnTmpfs?: boolean;
  /** Extra etcd flags appended to every member's command line. */
  extraArgs?: string[];
  /** Prefix for member names, data dirs and the cluster token (default "etcd-test"). */
  name?: string;
  /**
   * Serve clients over TLS: client URLs become https://127.0.0.1:P (peers stay plain http). The health checks,
   * leader() and etcdctl() then speak TLS too, trusting `trustedCaFile` and presenting the client certificate.
   */
  tls?: EtcdTlsOptions;
  /**
   * etcd's timed watch progress notifications every this many ms (etcd's default: 10 min). The flag's name
   * depends on the version: see versionFlags().
   */
  watchProgressNotifyIntervalMs?: number;
}

export interface EtcdTlsOptions {
  /** etcd's --cert-file (PEM path). */
  certFile: string;
  /** etcd's --key-file. */
  keyFile: string;
  /**
   * etcd's --trusted-ca-file: the CA client certificates must be signed by. Note that etcd then *requires* a client
   * certificate, with or without `clientCertAuth`; leave it out for server-only TLS.
   */
  trustedCaFile?: string;
  /** etcd's --client-cert-auth: clients must present a certificate signed by `trustedCaFile`. */
  clientCertAuth?: boolean;
  /** The CA the helper's health checks and etcdctl verify the server with (default `trustedCaFile`; none: no check). */
  caFile?: string;
  /**
   * The certificate the helper's own health checks and etcdctl present (default: `certFile`/`keyFile`, which
   * then needs the clientAuth usage — etcd's own gateway does the same).
   */
  clientCertFile?: string;
  clientKeyFile?: string;
  /**
   * The name the server certificate is issued for when it does not cover 127.0.0.1 (e.g. 'etcd-cluster'): the
   * health checks verify against it, and etcdctl, which cannot override the name, skips verification.
   */
  serverName?: string;
}

export interface EtcdctlOptions {
  input?: Buffer | string;
  /** Extra environment (merged over a copy of process.env with ETCD*_ vars removed). */
  env?: NodeJS.ProcessEnv;
  /** Override the endpoints passed with --endpoints (default: all cluster endpoints). */
  endpoints?: string[];
  /** Kill etcdctl after this many ms (default 30 000). */
  timeoutMs?: number;
}

export interface EtcdctlResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

export interface EtcdMember {
  readonly name: string;
  /** http://127.0.0.1:P (https:// with the `tls` option) */
  readonly clientUrl: string;
  /** http://127.0.0.1:Q */
  readonly peerUrl: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** pid of the current process (undefined when not running). */
  readonly pid: number | undefined;
  /** True while the process is alive (also when paused). */
  readonly isRunning: boolean;
  readonly isPaused: boolean;
  /** SIGTERM, wait for exit, SIGKILL after 5 s. Data dir is kept. No-op when not running. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. Data dir is kept. No-op when not running. */
  kill(): Promise<void>;
  /** (Re)start with the same name, ports and data dir; resolves when /health is ok. */
  start(): Promise<void>;
  /** SIGSTOP */
  pause(): void;
  /** SIGCONT */
  resume(): void;
  /** Last ~64 KB of the member's stdout+stderr (across restarts). */
  logs(): string;
  /** GET /health once; true if {"health":"true"}. */
  healthy(timeoutMs?: number): Promise<boolean>;
}

export interface EtcdCluster {
  /** ['http://127.0.0.1:P', ...] (https:// with the `tls` option) */
  readonly endpoints: string[];
  /** endpoints joined with ',' */
  readonly endpoint: string;
  readonly members: EtcdMember[];
  /** Kill every member (SIGKILL; data is discarded anyway) and remove all data dirs. Idempotent. */
  stop(): Promise<void>;
  /** Run etcdctl (API v3) against the cluster. Never rejects on non-zero exit. */
  etcdctl(args: string[], opts?: EtcdctlOptions): Promise<EtcdctlResult>;
  /** The current leader (polls up to 10 s while an election is in progress). */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** Resolve when every running, unpaused member reports healthy and a leader exists. */
  waitHealthy(timeoutMs?: number): Promise<void>;
}

// ---------------------------------------------------------------------------
// binaries

function findOnPath(cmd: string): string | undefined {
  if (cmd.includes('/')) return isExecutable(cmd) ? cmd : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function etcdBin(): string | undefined {
  return findOnPath(process.env.ETCD_BIN || 'etcd');
}

export function etcdctlBin(): string | undefined {
  return findOnPath(process.env.ETCDCTL_BIN || 'etcdctl') ?? (isExecutable('/usr/bin/etcdctl') ? '/usr/bin/etcdctl' : undefined);
}

/** True when an etcd binary (ETCD_BIN or `etcd` on PATH) is available. */
export function etcdAvailable(): boolean {
  return etcdBin() !== undefined;
}

/** Environment for child processes: ETCD_* / ETCDCTL_* vars are read as flags by etcd/etcdctl, drop them. */
function childEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('ETCD_') || k.startsWith('ETCDCTL_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------
// flags that depend on the etcd version (the only place that knows them)

/** [major, minor, patch] of an etcd binary. */
export type EtcdVersionTriple = readonly [number, number, number];

const binVersions = new Map<string, EtcdVersionTriple>();

/** The version of an etcd binary, from `etcd --version` (read once per path). */
export function etcdVersionOf(bin: string): EtcdVersionTriple {
  let v = binVersions.get(bin);
  if (!v) {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8', env: childEnv() });
    const m = /etcd Version:\s*(\d+)\.(\d+)\.(\d+)/.exec(out);
    if (!m) throw new Error(`cannot read the etcd version of ${bin} from: ${out}`);
    v = [Number(m[1]), Number(m[2]), Number(m[3])];
    binVersions.set(bin, v);
  }
  return v;
}

/**
 * The etcd flags for the launcher options whose flag differs between etcd versions:
 * - `watchProgressNotifyIntervalMs`: `--experimental-watch-progress-notify-interval` on 3.4/3.5, renamed
 *   `--watch-progress-notify-interval` in 3.6 (the old name deprecated there, and rejected by 3.7 like every
 *   `--experimental-*` flag).
 * Everything else the launcher passes means the same on 3.4 through 3.7.
 */
export function versionFlags(version: EtcdVersionTriple, opts: Pick<StartEtcdOptions, 'watchProgressNotifyIntervalMs'>): string[] {
  const since36 = version[0] > 3 || (version[0] === 3 && version[1] >= 6);
  const flags: string[] = [];
  if (opts.watchProgressNotifyIntervalMs !== undefined) {
    const ms = opts.watchProgressNotifyIntervalMs;
    if (!Number.isInteger(ms) || ms <= 0) throw new RangeError(`watchProgressNotifyIntervalMs must be a positive integer, got ${String(ms)}`);
    flags.push(`--${since36 ? '' : 'experimental-'}watch-progress-notify-interval=${ms}ms`);
  }
  return flags;
}

// ---------------------------------------------------------------------------
// ports

const reservedPorts = new Set<number>();

function listenEphemeral(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(srv));
  });
}

/**
 * Pick `n` distinct free loopback ports. All probe sockets are held open until
 * every port is chosen (so picks cannot collide with each other), and ports
 * handed out earlier in this process are never handed out again.
 */
export async function pickFreePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    let attempts = 0;
    while (ports.length < n) {
      if (++attempts > n * 20) throw new Error('could not find free loopback ports');
      const srv = await listenEphemeral();
      servers.push(srv);
      const port = (srv.address() as net.AddressInfo).port;
      if (reservedPorts.has(port) || ports.includes(port)) continue;
      ports.push(port);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  for (const p of ports) reservedPorts.add(p);
  return ports;
}

// ---------------------------------------------------------------------------
// misc utils

class RingBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
    if (this.size > this.limit) {
      const only = this.chunks[0]!;
      this.chunks[0] = only.subarray(only.length - this.limit);
      this.size = this.limit;
    }
  }
  toString(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
  tail(bytes: number): string {
    const s = this.toString();
    return s.length > bytes ? '…' + s.slice(s.length - bytes) : s;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the helper's own https requests need: the CA to trust, the client certificate, the expected name. */
interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
}

function clientTls(tls: EtcdTlsOptions | undefined): ClientTls | undefined {
  if (!tls) return undefined;
  const out: ClientTls = {
    cert: fs.readFileSync(tls.clientCertFile ?? tls.certFile),
    key: fs.readFileSync(tls.clientKeyFile ?? tls.keyFile),
  };
  const caFile = tls.caFile ?? tls.trustedCaFile;
  if (caFile) out.ca = fs.readFileSync(caFile);
  if (tls.serverName) out.servername = tls.serverName;
  return out;
}

function httpRequest(
  url: string,
  method: 'GET' | 'POST',
  body: string | undefined,
  timeoutMs: number,
  tls?: ClientTls,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { method, agent: false, timeout: timeoutMs, headers: body ? { 'content-type': 'application/json' } : {} };
    if (tls) Object.assign(options, tls, { rejectUnauthorized: tls.ca !== undefined });
    const req = (url.startsWith('https:') ? https : http).request(
      url,
      options,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------
// global cleanup

const liveClusters = new Set<Cluster>();
let exitHookInstalled = false;

function cleanupSync(): void {
  for (const c of liveClusters) c.destroySync();
  liveClusters.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', cleanupSync);
  // A fatal signal skips 'exit' handlers: clean up, then re-raise with default behaviour.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      cleanupSync();
      process.removeListener(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------------------
// member

class Member implements EtcdMember {
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** TLS settings of the helper's own requests (undefined without the `tls` option). */
  readonly clientTls: ClientTls | undefined;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<void> | undefined;
  private paused = false;
  private readonly ring = new RingBuffer(RING_BYTES);
  private baseArgs: string[] = [];

  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    private readonly tls?: EtcdTlsOptions,
  ) {
    this.clientUrl = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
    this.peerUrl = `http://127.0.0.1:${peerPort}`;
    this.clientTls = clientTls(tls);
  }

  configure(initialCluster: string, token: string, extraArgs: string[]): void {
    const tls = this.tls;
    const tlsArgs = tls
      ? [
          `--cert-file=${tls.certFile}`,
          `--key-file=${tls.keyFile}`,
          ...(tls.trustedCaFile ? [`--trusted-ca-file=${tls.trustedCaFile}`] : []),
          ...(tls.clientCertAuth ? ['--client-cert-auth'] : []),
        ]
      : [];
    this.baseArgs = [
      `--name=${this.name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      // Ignored by etcd once the data dir holds a WAL, so restarts need no "existing".
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=error',
      ...tlsArgs,
      ...extraArgs,
    ];
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isRunning(): boolean {
    return this.child !== undefined;
  }

  get isPaused(): boolean {
    return this.isRunning && this.paused;
  }

  logs(): string {
    return this.ring.toString();
  }

  /** Spawn the process (no readiness wait). */
  spawnProcess(): void {
    if (this.child) throw new Error(`etcd member ${this.name} is already running (pid ${this.child.pid})`);
    const bin = etcdBin();
    if (!bin) throw new Error(ETCD_MISSING_MESSAGE);
    const child = spawn(bin, this.baseArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    this.paused = false;
    const onData = (c: Buffer) => this.ring.push(c);
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // Never keep the test process alive just because an etcd is running;
    // the exit hook kills whatever is left.
    child.unref();
    (child.stdout as unknown as net.Socket).unref?.();
    (child.stderr as unknown as net.Socket).unref?.();
    this.exitPromise = new Promise<void>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.child === child) {
          this.child = undefined;
          this.paused = false;
        }
        this.ring.push(Buffer.from(`\n[etcd ${this.name} pid ${child.pid} exited code=${code} signal=${signal}]\n`));
        resolve();
      };
      child.once('exit', done);
      child.once('error', (err) => {
        this.ring.push(Buffer.from(`\n[spawn error: ${err.message}]\n`));
        done(null, null);
      });
    });
    this.child = child;
  }

  async healthy(timeoutMs = 1_000): Promise<boolean> {
    try {
      const res = await httpRequest(`${this.clientUrl}/health`, 'GET', undefined, timeoutMs, this.clientTls);
      if (res.status !== 200) return false;
      const j = JSON.parse(res.body) as { health?: unknown };
      return j.health === 'true' || j.health === true;
    } catch {
      return false;
    }
  }

  /** Poll /health until ok; fail early if the process exits. */
  async waitReady(deadline: number): Promise<void> {
    for (;;) {
      if (!this.child) {
        throw new Error(`etcd member ${this.name} exited during startup:\n${this.ring.tail(4000)}`);
      }
      if (await this.healthy(500)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `etcd member ${this.name} (${this.clientUrl}) not healthy after ${READY_TIMEOUT_MS} ms:\n${this.ring.tail(4000)}`,
        );
      }
      await sleep(50);
    }
  }

  async start(): Promise<void> {
    this.spawnProcess();
    await this.waitReady(Date.now() + READY_TIMEOUT_MS);
  }

  private async waitExit(ms: number): Promise<boolean> {
    const p = this.exitPromise;
    if (!p) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    try {
      return await Promise.race([p.then(() => true), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (this.paused) this.resume(); // a stopped process would not act on SIGTERM
    signal(child, 'SIGTERM');
    if (await this.waitExit(STOP_GRACE_MS)) return;
    signal(child, 'SIGKILL');
    if (!(await this.waitExit(STOP_GRACE_MS))) throw new Error(`etcd member ${this.name} did not exit after SIGKILL`);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    signal(child, 'SIGKILL');
    if (!(await this.waitExit(STOP_GRACE_MS))) throw new Error(`etcd member ${this.name} did not exit after SIGKILL`);
  }

  pause(): void {
    if (!this.child) throw new Error(`etcd member ${this.name} is not running`);
    signal(this.child, 'SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.child) return;
    signal(this.child, 'SIGCONT');
    this.paused = false;
  }

  killSync(): void {
    if (this.child) signal(this.child, 'SIGKILL');
  }
}

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(child.pid, sig);
  } catch {
    /* already gone */
  }
}

// ---------------------------------------------------------------------------
// cluster

interface StatusResponse {
  header?: { member_id?: string };
  leader?: string;
}

class Cluster implements EtcdCluster {
  readonly endpoints: string[];
  readonly endpoint: string;
  private stopped = false;
  private stopPromise: Promise<void> | undefined;

  constructor(
    readonly members: Member[],
    private readonly dirs: string[],
    private readonly tls?: EtcdTlsOptions,
  ) {
    this.endpoints = members.map((m) => m.clientUrl);
    this.endpoint = this.endpoints.join(',');
  }

  async waitHealthy(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(this.members.filter((m) => m.isRunning && !m.isPaused).map((m) => m.waitReady(deadline)));
    await this.leader(Math.max(1_000, deadline - Date.now()));
  }

  async leader(timeoutMs = 10_000): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    let lastErr = 'no running member answered';
    for (;;) {
      // The grpc-gateway returns uint64 ids as strings (etcdctl -w json prints
      // them as JSON numbers, which lose precision in JS), so use the gateway.
      const statuses = await Promise.all(
        this.members
          .filter((m) => m.isRunning && !m.isPaused)
          .map(async (m) => {
            try {
              const res = await httpRequest(`${m.clientUrl}/v3/maintenance/status`, 'POST', '{}', 1_000, m.clientTls);
              if (res.status !== 200) {
                lastErr = `${m.name}: HTTP ${res.status} ${res.body}`;
                return undefined;
              }
              return { m, s: JSON.parse(res.body) as StatusResponse };
            } catch (e) {
              lastErr = `${m.name}: ${(e as Error).message}`;
              return undefined;
            }
          }),
      );
      for (const st of statuses) {
        if (st && st.s.leader && st.s.leader !== '0' && st.s.header?.member_id === st.s.leader) return st.m;
      }
      if (Date.now() > deadline) throw new Error(`no etcd leader found within ${timeoutMs} ms (${lastErr})`);
      await sleep(50);
    }
  }

  etcdctl(args: string[], opts: EtcdctlOptions = {}): Promise<EtcdctlResult> {
    const bin = etcdctlBin();
    if (!bin) return Promise.reject(new Error(ETCD_MISSING_MESSAGE.replace('etcd not found', 'etcdctl not found')));
    const endpoints = (opts.endpoints ?? this.endpoints).join(',');
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const child = spawn(bin, [`--endpoints=${endpoints}`, ...this.etcdctlTlsArgs(), ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: childEnv({ ETCDCTL_API: '3', ...opts.env }),
      });
      const out: Buffer[] = [];
      const err = new RingBuffer(RING_BYTES);
      child.stdout!.on('data', (c: Buffer) => out.push(c));
      child.stderr!.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => {
        err.push(Buffer.from(`\n[etcdctl killed after ${timeoutMs} ms]\n`));
        child.kill('SIGKILL');
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, sig) => {
        clearTimeout(timer);
        resolve({ stdout: Buffer.concat(out), stderr: err.toString(), code: code ?? (sig ? 128 : 1) });
      });
      child.stdin!.on('error', () => {}); // EPIPE if etcdctl exits before reading
      child.stdin!.end(opts.input);
    });
  }

  /** etcdctl's TLS flags for a TLS cluster (none otherwise). */
  private etcdctlTlsArgs(): string[] {
    const tls = this.tls;
    if (!tls) return [];
    const caFile = tls.caFile ?? tls.trustedCaFile;
    return [
      ...(caFile ? [`--cacert=${caFile}`] : []),
      `--cert=${tls.clientCertFile ?? tls.certFile}`,
      `--key=${tls.clientKeyFile ?? tls.keyFile}`,
      // etcdctl cannot verify a certificate issued for another name than the endpoint's host.
      ...(tls.serverName || !caFile ? ['--insecure-skip-tls-verify'] : []),
    ];
  }

  stop(): Promise<void> {
    if (!this.stopPromise) {
      this.stopPromise = (async () => {
        this.stopped = true;
        try {
          // The data is thrown away, so no graceful shutdown: SIGTERMing all members
          // of a 3-member cluster at once makes the leader hang in leadership
          // transfer until the 5 s SIGKILL fallback.
          await Promise.all(this.members.map((m) => m.kill()));
        } finally {
          this.removeDirs();
          liveClusters.delete(this);
        }
      })();
    }
    return this.stopPromise;
  }

  /** Synchronous last-resort cleanup (process exit). */
  destroySync(): void {
    this.stopped = true;
    for (const m of this.members) m.killSync();
    this.removeDirs();
  }

  private removeDirs(): void {
    for (const d of this.dirs) {
      try {
        fs.rmSync(d, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
      } catch {
        /* best effort */
      }
    }
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}

// ---------------------------------------------------------------------------
// entry point

let clusterSeq = 0;

function tmpBase(onTmpfs: boolean | undefined): string {
  if (onTmpfs) {
    try {
      if (fs.statSync('/dev/shm').isDirectory()) return '/dev/shm';
    } catch {
      /* fall through */
    }
  }
  return os.tmpdir();
}

/** Start a fresh etcd (1 or 3 members) and wait until it is healthy with a leader. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  if (!etcdAvailable()) throw new Error(ETCD_MISSING_MESSAGE);
  const n = opts.members ?? 1;
  if (n !== 1 && n !== 3) throw new Error(`members must be 1 or 3, got ${String(n)}`);
  // Another process can grab a probed port before etcd binds it: retry with new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, n);
    } catch (e) {
      const msg = (e as Error).message;
      if (attempt < 3 && /address already in use/i.test(msg)) continue;
      throw e;
    }
  }
}

async function startOnce(opts: StartEtcdOptions, n: number): Promise<EtcdCluster> {
  const prefix = (opts.name ?? 'etcd-test').replace(/[^A-Za-z0-9_.-]/g, '-');
  const seq = ++clusterSeq;
  const token = `${prefix}-${process.pid}-${seq}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const version = etcdVersionOf(etcdBin()!);
  // A fresh data dir per cluster, named with the version: etcd 3.6+ refuses a data dir a newer etcd wrote.
  const root = fs.mkdtempSync(path.join(tmpBase(opts.dataDirOnTmpfs), `${prefix}-v${version.join('.')}-`));
  const ports = await pickFreePorts(n * 2);
  const members: Member[] = [];
  for (let i = 0; i < n; i++) {
    const name = n === 1 ? prefix : `${prefix}-${i}`;
    members.push(new Member(name, ports[2 * i]!, ports[2 * i + 1]!, path.join(root, name), opts.tls));
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const extraArgs = [...versionFlags(version, opts), ...(opts.extraArgs ?? [])];
  for (const m of members) m.configure(initialCluster, token, extraArgs);

  const cluster = new Cluster(members, [root], opts.tls);
  installExitHook();
  liveClusters.add(cluster);
  try {
    for (const m of members) m.spawnProcess();
    await cluster.waitHealthy(READY_TIMEOUT_MS);
    return cluster;
  } catch (e) {
    await cluster.stop().catch(() => {});
    throw e;
  }
}
