// A running etcd cluster (or single member) and its controls: the leader, learners, one-way partitions
// between members, etcdctl, auth setup, and close(), which removes everything (as does the end of the
// process, however it ends). start.ts creates them.
import * as path from 'node:path';
import { versionFlags, type EtcdBinaries } from './binaries';
import { etcdTlsArgs, etcdctlTlsArgs, kitClientTls, type EtcdTlsOptions, type TestPki } from './certs';
import { runEtcdctl, type EtcdctlOptions, type EtcdctlResult } from './etcdctl';
import { Member, READY_TIMEOUT_MS, type EtcdMember } from './member';
import { startProxy, type Proxy } from './proxy';
import { releaseDir } from './reaper';
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
  /**
   * Put a proxy in front of every member's peer port (members dial each other through them), so that
   * `partition(from, to)` can cut one direction between two members. Off by default.
   */
  peerProxies?: boolean;
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
  /**
   * One-way partition between members (needs `peerProxies: true`): raft messages from `members[from]` stop
   * reaching `members[to]`; the other direction still flows. Bytes are held, not dropped, until heal().
   */
  partition(from: number, to: number): Promise<void>;
  /** Cuts `members[i]` off from every other member, both ways (needs `peerProxies: true`). */
  isolate(i: number): Promise<void>;
  /** Ends every partition; held peer traffic is delivered. */
  heal(): void;
  /** Kills every member (SIGKILL: the data is discarded) and removes every file. Idempotent. */
  close(): Promise<void>;
}

/** A single member: the cluster controls plus the member's own (start, stop, kill, pause, …). */
export interface Etcd extends EtcdCluster, Omit<EtcdMember, 'index' | 'endpoint'> {}

interface Status {
  header?: { member_id?: string };
  leader?: string;
  raftTerm?: string;
}

/** @internal exported for the history checker */
export class Cluster implements EtcdCluster {
  readonly members: Member[] = [];
  username: string | undefined;
  password: string | undefined;
  tls: EtcdClientTls | undefined;
  private closing: Promise<void> | undefined;
  private seq = 0;
  /** Peer proxies by member index (with `peerProxies`). */
  readonly peerProxies: Proxy[] = [];
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
  async newMember(clientPort: number, peerPort: number, single: boolean, peerProxy: boolean): Promise<Member> {
    const index = this.members.length;
    const proxy = peerProxy ? await startProxy({ host: '127.0.0.1', port: peerPort }) : undefined;
    if (proxy) this.peerProxies[index] = proxy;
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
      advertisePeerUrl: proxy?.url,
    });
    this.members.push(m);
    return m;
  }

  configure(m: Member, peers: Member[], state: 'new' | 'existing'): void {
    m.configure([
      `--initial-cluster=${peers.map((p) => `${p.name}=${p.advertisePeerUrl}`).join(',')}`,
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
    // The gateway prints uint64 ids as strings (etcdctl's JSON prints numbers that lose precision in JS). A
    // leader cut off from the others may still claim leadership at an older term: the highest term wins.
    const probe = async (): Promise<number | undefined> => {
      const claims = await Promise.all(
        this.members
          .filter((x) => x.isRunning && !x.isPaused)
          .map(async (m) => {
            try {
              const res = await httpRequest(`${m.clientUrl}/v3/maintenance/status`, 'POST', '{}', 1_000, m.clientTls);
              if (res.status !== 200) {
                last = `${m.name}: HTTP ${res.status} ${res.body}`;
                return undefined;
              }
              const s = JSON.parse(res.body) as Status;
              if (s.header?.member_id) m.id = s.header.member_id;
              const leads = s.leader && s.leader !== '0' && s.header?.member_id === s.leader;
              return leads ? { index: m.index, term: Number(s.raftTerm ?? 0) } : undefined;
            } catch (e) {
              last = `${m.name}: ${(e as Error).message}`;
              return undefined;
            }
          }),
      );
      let best: { index: number; term: number } | undefined;
      for (const c of claims) if (c && (!best || c.term > best.term)) best = c;
      return best?.index;
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
    const m = await this.newMember(clientPort, peerPort, false, this.peerProxies.length > 0);
    m.isLearner = true;
    try {
      // etcd refuses membership changes for a while after a member (re)connects ("unhealthy cluster").
      let last = '';
      const added = await pollUntil(
        () =>
          this.gateway<{ member?: { ID?: string } }>('/v3/cluster/member/add', { peerURLs: [m.advertisePeerUrl], isLearner: true }).catch((e: Error) => {
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

  /** Hex member ids (as etcd's peers name themselves in X-Server-From). */
  private async hexIds(): Promise<string[]> {
    if (this.peerProxies.length === 0) throw new Error('partitions need a cluster started with { peerProxies: true }');
    if (this.members.some((m) => !m.id)) {
      const list = await this.gateway<{ members?: { ID?: string; name?: string }[] }>('/v3/cluster/member/list', {});
      for (const m of this.members) m.id ??= list.members?.find((x) => x.name === m.name)?.ID;
    }
    return this.members.map((m) => BigInt(m.id ?? '0').toString(16));
  }

  async partition(from: number, to: number): Promise<void> {
    const ids = await this.hexIds();
    if (!this.members[from] || !this.members[to] || from === to) throw new Error(`partition(${from}, ${to}): bad member indexes`);
    // `from`'s messages travel in its own requests to `to` (pipeline, snapshots) and in its answers to the
    // streams `to` opened to it.
    this.peerProxies[to]!.partitionFrom(ids[from]!, 'up');
    this.peerProxies[from]!.partitionFrom(ids[to]!, 'down');
  }

  async isolate(i: number): Promise<void> {
    for (let j = 0; j < this.members.length; j++) {
      if (j === i) continue;
      await this.partition(i, j);
      await this.partition(j, i);
    }
  }

  heal(): void {
    for (const p of this.peerProxies) p.restore();
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
        await Promise.all(this.peerProxies.map((p) => p.close()));
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
