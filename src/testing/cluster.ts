// startEtcd() and startCluster(): real etcd members on free loopback ports with temporary data directories,
// optional TLS (a fresh PKI) and auth (a root user), plus the cluster-level controls: the leader, learners,
// etcdctl, and close(), which removes everything (as does the end of the process, however it ends).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveBinaries, versionFlags, type EtcdBinaries } from './binaries';
import { etcdTlsArgs, etcdctlTlsArgs, kitClientTls, makeCerts, mutualTls, type EtcdTlsOptions, type TestPki } from './certs';
import { runEtcdctl, type EtcdctlOptions, type EtcdctlResult } from './etcdctl';
import { Member, READY_TIMEOUT_MS, type EtcdMember } from './member';
import { releaseDir, trackDir } from './reaper';
import { httpRequest, pickFreePorts, pollUntil } from './util';

export interface StartEtcdOptions {
  /** An etcd minor version ('3.6') or release ('3.6.17') from the `npm run etcd:bin` cache. */
  version?: string;
  /** The etcd binary to run (etcdctl is looked for beside it, then ETCDCTL_BIN, then PATH). */
  bin?: string;
  /** Extra etcd flags for every member, after the kit's own (so they win). */
  args?: string[];
  /** Enable auth with a root user (`username`/`password` on the result); etcdctl() logs in as root. */
  auth?: boolean;
  /**
   * true: serve clients over TLS with a fresh PKI (server-only TLS); 'mutual': also require a client
   * certificate. `tls` on the result holds the PEMs a client needs. Or your own files (EtcdTlsOptions).
   */
  tls?: boolean | 'mutual' | EtcdTlsOptions;
  /** Prefix of member names, data directories and the cluster token (default 'etcd-test'). */
  name?: string;
  /** Data directories on /dev/shm when it exists (faster fsync), else os.tmpdir(). */
  dataDirOnTmpfs?: boolean;
  /** Watch progress notification interval in ms (the flag's name depends on the version). */
  progressNotifyIntervalMs?: number;
  /** @deprecated the old name of `args`. */
  extraArgs?: string[];
}

/** PEM text a client needs for a TLS etcd: `new Client(etcd.endpoint, etcd.tls)` style options. */
export interface EtcdClientTls {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface EtcdCluster extends AsyncDisposable {
  /** Every voting member's client URL (learners are not included until promoted). */
  readonly endpoints: string[];
  /** `endpoints` joined with ','. */
  readonly endpoint: string;
  /** Every member, learners included, in the order they were added. */
  readonly members: EtcdMember[];
  /** With `auth: true`: the root user's name ('root') and password. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** With TLS: the CA, and the client certificate and key (PEM). */
  readonly tls: EtcdClientTls | undefined;
  /** The binaries and the server version in use. */
  readonly binaries: EtcdBinaries;
  /** Runs etcdctl (API v3) against the cluster. Never rejects on a non-zero exit. */
  etcdctl(args: string[], opts?: EtcdctlOptions & { encoding?: 'utf8' }): Promise<EtcdctlResult<string>>;
  etcdctl(args: string[], opts: EtcdctlOptions & { encoding: 'buffer' }): Promise<EtcdctlResult<Buffer>>;
  /** Index in `members` of the current leader; waits (default 10 s) while an election is in progress. */
  leader(timeoutMs?: number): Promise<number>;
  /** Resolves when every running, unpaused member is healthy and there is a leader. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** `etcd member add --learner`: starts a new member as a learner and resolves once it runs. */
  addLearner(): Promise<EtcdMember>;
  /** Promotes a learner to a voting member (retries while etcd says it has not caught up yet). */
  promote(member: EtcdMember, timeoutMs?: number): Promise<void>;
  /** `etcd member remove`, then stops the member's process. */
  removeMember(member: EtcdMember): Promise<void>;
  /** Kills every member (SIGKILL: the data is discarded) and removes every file. Idempotent. */
  close(): Promise<void>;
}

/** A single member: the cluster controls plus the member's own (start, stop, kill, pause, …). */
export interface Etcd extends EtcdCluster, Omit<EtcdMember, 'index' | 'endpoint'> {}

let clusterSeq = 0;

function tmpBase(onTmpfs: boolean | undefined): string {
  if (onTmpfs) {
    try {
      if (fs.statSync('/dev/shm').isDirectory()) return '/dev/shm';
    } catch {
      /* no tmpfs: fall back */
    }
  }
  return os.tmpdir();
}

interface Status {
  header?: { member_id?: string };
  leader?: string;
}

/** @internal exported for the history checker */
export class Cluster implements EtcdCluster {
  readonly members: Member[] = [];
  username: string | undefined;
  password: string | undefined;
  tls: EtcdClientTls | undefined;
  private closing: Promise<void> | undefined;
  private seq = 0;
  private readonly memberArgs: string[];

  constructor(
    readonly binaries: EtcdBinaries,
    private readonly root: string,
    private readonly prefix: string,
    private readonly token: string,
    private readonly tlsFiles: EtcdTlsOptions | undefined,
    private readonly pki: TestPki | undefined,
    opts: StartEtcdOptions,
  ) {
    this.memberArgs = [
      ...versionFlags(binaries.version, { progressNotifyIntervalMs: opts.progressNotifyIntervalMs }),
      ...(tlsFiles ? etcdTlsArgs(tlsFiles) : []),
      ...(opts.args ?? []),
      ...(opts.extraArgs ?? []),
    ];
  }

  get endpoints(): string[] {
    return this.members.filter((m) => !m.isLearner).map((m) => m.clientUrl);
  }
  get endpoint(): string {
    return this.endpoints.join(',');
  }

  /** Creates the next member on the given ports (not configured, not started). */
  newMember(clientPort: number, peerPort: number, single: boolean): Member {
    const index = this.members.length;
    const name = single ? this.prefix : `${this.prefix}-${this.seq++}`;
    const m = new Member({
      name,
      index,
      clientPort,
      peerPort,
      dataDir: path.join(this.root, name),
      scheme: this.tlsFiles ? 'https' : 'http',
      bin: this.binaries.etcd,
      clientTls: this.tlsFiles ? kitClientTls(this.tlsFiles) : undefined,
    });
    this.members.push(m);
    return m;
  }

  configure(m: Member, peers: Member[], state: 'new' | 'existing'): void {
    m.configure([
      `--initial-cluster=${peers.map((p) => `${p.name}=${p.peerUrl}`).join(',')}`,
      `--initial-cluster-token=${this.token}`,
      // etcd ignores this once the data dir holds a WAL, so restarts need nothing else.
      `--initial-cluster-state=${state}`,
      ...this.memberArgs,
    ]);
  }

  etcdctl(args: string[], opts?: EtcdctlOptions & { encoding?: 'utf8' }): Promise<EtcdctlResult<string>>;
  etcdctl(args: string[], opts: EtcdctlOptions & { encoding: 'buffer' }): Promise<EtcdctlResult<Buffer>>;
  etcdctl(args: string[], opts: EtcdctlOptions = {}): Promise<EtcdctlResult<string | Buffer>> {
    return runEtcdctl(
      {
        bin: this.binaries.etcdctl,
        endpoints: this.endpoints,
        tlsArgs: this.tlsFiles ? etcdctlTlsArgs(this.tlsFiles) : [],
        user: this.username ? `${this.username}:${this.password}` : undefined,
      },
      args,
      opts,
    );
  }

  /** POST to etcd's JSON gateway on the first running member that answers; throws etcd's error otherwise. */
  async gateway<T>(route: string, body: unknown, timeoutMs = 2_000, headers?: Record<string, string>): Promise<T> {
    let last = 'no running member';
    for (const m of this.members.filter((x) => x.isRunning && !x.isPaused && !x.isLearner)) {
      try {
        const res = await httpRequest(`${m.clientUrl}${route}`, 'POST', JSON.stringify(body), timeoutMs, m.clientTls, headers);
        if (res.status === 200) return JSON.parse(res.body) as T;
        last = `${m.name}: HTTP ${res.status} ${res.body}`;
        if (res.status < 500) break; // etcd refused the request itself: another member would too
      } catch (e) {
        last = `${m.name}: ${(e as Error).message}`;
      }
    }
    throw new Error(`etcd ${route}: ${last}`);
  }

  async leader(timeoutMs = 10_000): Promise<number> {
    let last = 'no running member answered';
    // The gateway prints uint64 ids as strings (etcdctl's JSON prints numbers that lose precision in JS).
    const probe = async (): Promise<number | undefined> => {
      for (const m of this.members.filter((x) => x.isRunning && !x.isPaused)) {
        try {
          const res = await httpRequest(`${m.clientUrl}/v3/maintenance/status`, 'POST', '{}', 1_000, m.clientTls);
          const s = JSON.parse(res.body) as Status;
          if (res.status !== 200) last = `${m.name}: HTTP ${res.status} ${res.body}`;
          else if (s.header?.member_id) m.id = s.header.member_id;
          if (res.status === 200 && s.leader && s.leader !== '0' && s.header?.member_id === s.leader) return m.index;
        } catch (e) {
          last = `${m.name}: ${(e as Error).message}`;
        }
      }
      return undefined;
    };
    return pollUntil(probe, timeoutMs, () => `no etcd leader found within ${timeoutMs} ms (${last})`);
  }

  async waitHealthy(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(this.members.filter((m) => m.isRunning && !m.isPaused && !m.isLearner).map((m) => m.waitReady(deadline)));
    await this.leader(Math.max(1_000, deadline - Date.now()));
  }

  /** The gateway as root when auth is on (a fresh token per call: tokens may expire between calls). */
  async gatewayAsRoot<T>(route: string, body: unknown, timeoutMs = 5_000): Promise<T> {
    if (!this.username) return this.gateway<T>(route, body, timeoutMs);
    const auth = await this.gateway<{ token?: string }>('/v3/auth/authenticate', { name: this.username, password: this.password });
    return this.gateway<T>(route, body, timeoutMs, { authorization: auth.token ?? '' });
  }

  async enableAuth(): Promise<void> {
    this.password = `root-${Math.random().toString(36).slice(2, 10)}`;
    await this.gateway('/v3/auth/user/add', { name: 'root', password: this.password });
    await this.gateway('/v3/auth/user/grant', { user: 'root', role: 'root' });
    await this.gateway('/v3/auth/enable', {});
    this.username = 'root';
  }

  async addLearner(): Promise<EtcdMember> {
    const [clientPort, peerPort] = (await pickFreePorts(2)) as [number, number];
    const m = this.newMember(clientPort, peerPort, false);
    m.isLearner = true;
    try {
      // etcd refuses membership changes for a while after a member (re)connects ("unhealthy cluster").
      let last = '';
      const added = await pollUntil(
        () =>
          this.gateway<{ member?: { ID?: string } }>('/v3/cluster/member/add', { peerURLs: [m.peerUrl], isLearner: true }).catch((e: Error) => {
            last = e.message;
            if (!/unhealthy cluster|not ready|too many requests/i.test(last)) throw e;
            return undefined;
          }),
        READY_TIMEOUT_MS,
        () => `member add --learner refused for ${READY_TIMEOUT_MS} ms: ${last}`,
      );
      m.id = added.member?.ID;
      this.configure(m, this.members, 'existing');
      m.spawnProcess();
      // A learner serves /health only once it has caught up; its process running and answering is enough here.
      await pollUntil(async () => ((await m.healthy(500)) || !m.isRunning ? true : undefined), READY_TIMEOUT_MS, () => `learner ${m.name} did not come up:\n${m.logs().slice(-4000)}`);
      if (!m.isRunning) throw new Error(`learner ${m.name} exited:\n${m.logs().slice(-4000)}`);
      return m;
    } catch (e) {
      await m.kill();
      this.members.pop();
      throw e;
    }
  }

  async promote(member: EtcdMember, timeoutMs = 20_000): Promise<void> {
    const m = this.own(member);
    let last = '';
    await pollUntil(
      async () => {
        try {
          await this.gateway('/v3/cluster/member/promote', { ID: m.id });
          return true;
        } catch (e) {
          last = (e as Error).message;
          if (!/in sync|not ready|too many learner|timed out/i.test(last)) throw e;
          return undefined;
        }
      },
      timeoutMs,
      () => `learner ${m.name} not promoted within ${timeoutMs} ms: ${last}`,
    );
    m.isLearner = false;
  }

  async removeMember(member: EtcdMember): Promise<void> {
    const m = this.own(member);
    if (!m.id) {
      const list = await this.gateway<{ members?: { ID?: string; name?: string }[] }>('/v3/cluster/member/list', {});
      m.id = list.members?.find((x) => x.name === m.name)?.ID;
    }
    await this.gateway('/v3/cluster/member/remove', { ID: m.id });
    await m.stop();
  }

  private own(member: EtcdMember): Member {
    const m = this.members.find((x) => x === member);
    if (!m) throw new Error(`${member.name} is not a member of this cluster`);
    return m;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        // No graceful stop: the data is thrown away, and SIGTERM to every member at once leaves the leader
        // waiting on a leadership transfer to members that are going away.
        await Promise.all(this.members.map((m) => m.kill()));
      } finally {
        releaseDir(this.root);
        this.pki?.cleanup();
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The single-member face: cluster controls plus members[0]'s own. */
class SingleEtcd extends Cluster implements Etcd {
  private get m(): Member {
    return this.members[0]!;
  }
  get name(): string {
    return this.m.name;
  }
  get clientUrl(): string {
    return this.m.clientUrl;
  }
  get peerUrl(): string {
    return this.m.peerUrl;
  }
  get clientPort(): number {
    return this.m.clientPort;
  }
  get peerPort(): number {
    return this.m.peerPort;
  }
  get dataDir(): string {
    return this.m.dataDir;
  }
  get pid(): number | undefined {
    return this.m.pid;
  }
  get isRunning(): boolean {
    return this.m.isRunning;
  }
  get isPaused(): boolean {
    return this.m.isPaused;
  }
  get isLearner(): boolean {
    return false;
  }
  start(): Promise<void> {
    return this.m.start();
  }
  stop(): Promise<void> {
    return this.m.stop();
  }
  restart(): Promise<void> {
    return this.m.restart();
  }
  kill(): Promise<void> {
    return this.m.kill();
  }
  pause(): Promise<void> {
    return this.m.pause();
  }
  resume(): Promise<void> {
    return this.m.resume();
  }
  logs(): string {
    return this.m.logs();
  }
  healthy(timeoutMs?: number): Promise<boolean> {
    return this.m.healthy(timeoutMs);
  }
}

function tlsSetup(tls: StartEtcdOptions['tls']): { files?: EtcdTlsOptions; pki?: TestPki; pem?: EtcdClientTls } {
  if (!tls) return {};
  if (typeof tls === 'object') {
    const read = (f: string | undefined) => (f ? fs.readFileSync(f, 'utf8') : undefined);
    const ca = read(tls.caFile ?? tls.trustedCaFile);
    return { files: tls, pem: { ca, cert: read(tls.clientCertFile ?? tls.certFile), key: read(tls.clientKeyFile ?? tls.keyFile) } };
  }
  const pki = makeCerts();
  const files: EtcdTlsOptions =
    tls === 'mutual'
      ? mutualTls(pki)
      : { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.ca.certFile, clientCertFile: pki.client.certFile, clientKeyFile: pki.client.keyFile };
  return { files, pki, pem: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key } };
}

async function launch<C extends Cluster>(n: number, opts: StartEtcdOptions, make: (...a: ConstructorParameters<typeof Cluster>) => C): Promise<C> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`a cluster needs at least one member, got ${String(n)}`);
  const binaries = resolveBinaries(opts);
  // Another process can take a probed port before etcd binds it: retry with new ports.
  for (let attempt = 1; ; attempt++) {
    const prefix = (opts.name ?? 'etcd-test').replace(/[^A-Za-z0-9_.-]/g, '-');
    const token = `${prefix}-${process.pid}-${++clusterSeq}-${Math.random().toString(36).slice(2, 8)}`;
    const root = fs.mkdtempSync(path.join(tmpBase(opts.dataDirOnTmpfs), `${prefix}-`));
    trackDir(root);
    const { files, pki, pem } = tlsSetup(opts.tls);
    const c = make(binaries, root, prefix, token, files, pki, opts);
    c.tls = pem;
    try {
      const ports = await pickFreePorts(n * 2);
      for (let i = 0; i < n; i++) c.newMember(ports[2 * i]!, ports[2 * i + 1]!, n === 1 && c instanceof SingleEtcd);
      for (const m of c.members) c.configure(m, c.members, 'new');
      for (const m of c.members) m.spawnProcess();
      await c.waitHealthy(READY_TIMEOUT_MS);
      if (opts.auth) await c.enableAuth();
      return c;
    } catch (e) {
      await c.close().catch(() => {});
      if (attempt < 3 && /address already in use/i.test((e as Error).message)) continue;
      throw e;
    }
  }
}

/** Starts one etcd member and resolves when it is healthy. Throws (saying what to install) without etcd. */
export function startEtcd(opts: StartEtcdOptions = {}): Promise<Etcd> {
  return launch(1, opts, (...a) => new SingleEtcd(...a));
}

/** Starts an `n`-member cluster and resolves when every member is healthy and there is a leader. */
export function startCluster(n = 3, opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  return launch(n, opts, (...a) => new Cluster(...a));
}
