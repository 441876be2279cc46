// startEtcd() and startCluster(): the entry points. They pick the binaries, make the data directory (and a
// PKI for `tls: true`), start the members on free ports and wait until the cluster is healthy with a leader.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveBinaries } from './binaries';
import { makeCerts, mutualTls, type EtcdTlsOptions, type TestPki } from './certs';
import { Cluster, type Etcd, type EtcdClientTls, type EtcdCluster, type StartEtcdOptions } from './cluster';
import { READY_TIMEOUT_MS, type Member } from './member';
import { trackDir } from './reaper';
import { pickFreePorts } from './util';

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
    const { files, pki, pem } = tlsSetup(opts.tls);
    const root = fs.mkdtempSync(path.join(tmpBase(opts.dataDirOnTmpfs), `${prefix}-`));
    trackDir(root);
    const c = make(binaries, root, prefix, token, files, pki, opts);
    c.tls = pem;
    try {
      const ports = await pickFreePorts(n * 2);
      for (let i = 0; i < n; i++) await c.newMember(ports[2 * i]!, ports[2 * i + 1]!, n === 1 && c instanceof SingleEtcd, !!opts.peerProxies);
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
