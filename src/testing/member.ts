// One etcd process: its ports, data directory, flags and life cycle (start, stop, kill, pause, resume).
// Every process runs in its own process group and is registered with the reaper, so it cannot outlive us.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { trackProcessGroup, untrackProcessGroup } from './reaper';
import { RingBuffer, childEnv, httpRequest, sleep, type ClientTls } from './util';

/** How long start() waits for /health before giving up. */
export const READY_TIMEOUT_MS = 20_000;
/** How long stop() waits after SIGTERM before it sends SIGKILL. */
export const STOP_GRACE_MS = 5_000;

/** Controls of one etcd member. Every method is safe to call in any state unless it says otherwise. */
export interface EtcdMember {
  /** The member's name (--name). */
  readonly name: string;
  /** Its position in the cluster's `members`. */
  readonly index: number;
  /** Its client URL: 'http://127.0.0.1:P' (https:// with TLS). Same as `clientUrl`. */
  readonly endpoint: string;
  readonly clientUrl: string;
  /** Its peer URL: 'http://127.0.0.1:Q'. */
  readonly peerUrl: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Its data directory (kept across stop/start; removed by the cluster's close()). */
  readonly dataDir: string;
  /** The pid of the running process; undefined while stopped. */
  readonly pid: number | undefined;
  /** True while the process is alive (paused included). */
  readonly isRunning: boolean;
  readonly isPaused: boolean;
  /** True while the member is a learner (added with addLearner() and not promoted yet). */
  readonly isLearner: boolean;
  /** Starts the process with the same name, ports, flags and data; resolves when /health answers ok. */
  start(): Promise<void>;
  /** SIGTERM, waits for the exit (SIGKILL after 5 s). Keeps the data. No-op when not running. */
  stop(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** SIGKILL (a crash: no leadership transfer, no clean WAL close) and waits for the exit. Keeps the data. */
  kill(): Promise<void>;
  /** SIGSTOP: the process freezes; its sockets stay open and answer nothing. Resolves once it has stopped. */
  pause(): Promise<void>;
  /** SIGCONT. Sent before this returns. */
  resume(): Promise<void>;
  /** The last ~64 KB of the member's output (errors only by default), across restarts. */
  logs(): string;
  /** One GET /health; true when etcd says {"health":"true"}. */
  healthy(timeoutMs?: number): Promise<boolean>;
}

export interface MemberSpec {
  name: string;
  index: number;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  scheme: 'http' | 'https';
  bin: string;
  clientTls: ClientTls | undefined;
  /** The peer URL other members dial, when it is not the member's own (a proxy in front of it). */
  advertisePeerUrl?: string;
}

export class Member implements EtcdMember {
  readonly name: string;
  readonly index: number;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** The peer URL the other members dial (a peer proxy's, with `peerProxies`). */
  readonly advertisePeerUrl: string;
  readonly clientTls: ClientTls | undefined;
  isLearner = false;
  /** The member id as etcd's gateway prints it (decimal string), once known. */
  id: string | undefined;
  private readonly bin: string;
  private args: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private paused = false;
  private readonly ring = new RingBuffer(64 * 1024);

  constructor(spec: MemberSpec) {
    this.name = spec.name;
    this.index = spec.index;
    this.clientPort = spec.clientPort;
    this.peerPort = spec.peerPort;
    this.dataDir = spec.dataDir;
    this.bin = spec.bin;
    this.clientTls = spec.clientTls;
    this.clientUrl = `${spec.scheme}://127.0.0.1:${spec.clientPort}`;
    this.peerUrl = `http://127.0.0.1:${spec.peerPort}`;
    this.advertisePeerUrl = spec.advertisePeerUrl ?? this.peerUrl;
  }

  get endpoint(): string {
    return this.clientUrl;
  }

  /** Sets the command line: the member's own URLs and dirs, then `clusterArgs`. */
  configure(clusterArgs: string[]): void {
    this.args = [
      `--name=${this.name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.advertisePeerUrl}`,
      ...clusterArgs,
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

  /** Spawns the process without waiting for readiness. Throws if it is already running. */
  spawnProcess(): void {
    if (this.child) throw new Error(`etcd member ${this.name} is already running (pid ${this.child.pid})`);
    const child = spawn(this.bin, this.args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(), detached: true });
    this.paused = false;
    const onData = (c: Buffer) => this.ring.push(c);
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // A forgotten etcd must not keep the test process alive; the reaper ends it when we end.
    child.unref();
    (child.stdout as unknown as net.Socket).unref?.();
    (child.stderr as unknown as net.Socket).unref?.();
    if (child.pid !== undefined) trackProcessGroup(child.pid);
    this.exited = new Promise<void>((resolve) => {
      const done = (code: number | null, sig: NodeJS.Signals | null) => {
        if (child.pid !== undefined) untrackProcessGroup(child.pid);
        if (this.child === child) {
          this.child = undefined;
          this.paused = false;
        }
        this.ring.push(Buffer.from(`\n[etcd ${this.name} pid ${child.pid} exited code=${code} signal=${sig}]\n`));
        resolve();
      };
      child.once('exit', done);
      child.once('error', (err) => {
        this.ring.push(Buffer.from(`\n[cannot start ${this.bin}: ${err.message}]\n`));
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

  /** Polls /health until ok; fails early when the process exits. A learner is ready once its port answers. */
  async waitReady(deadline: number): Promise<void> {
    for (;;) {
      if (!this.child) throw new Error(`etcd member ${this.name} exited during startup:\n${this.ring.tail(4000)}`);
      if (await this.healthy(500)) return;
      if (Date.now() > deadline) {
        throw new Error(`etcd member ${this.name} (${this.clientUrl}) not healthy in time:\n${this.ring.tail(4000)}`);
      }
      await sleep(50);
    }
  }

  async start(): Promise<void> {
    this.spawnProcess();
    await this.waitReady(Date.now() + READY_TIMEOUT_MS);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private async waitExit(ms: number): Promise<boolean> {
    const p = this.exited;
    if (!p || !this.child) return true;
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
    if (this.paused) this.signal('SIGCONT'); // a stopped process would not act on SIGTERM
    this.paused = false;
    this.signal('SIGTERM');
    if (await this.waitExit(STOP_GRACE_MS)) return;
    await this.kill();
  }

  async kill(): Promise<void> {
    if (!this.child) return;
    this.signal('SIGKILL');
    if (!(await this.waitExit(STOP_GRACE_MS))) throw new Error(`etcd member ${this.name} did not exit after SIGKILL`);
  }

  async pause(): Promise<void> {
    if (!this.child) throw new Error(`etcd member ${this.name} is not running`);
    this.signal('SIGSTOP');
    this.paused = true;
    // The signal takes effect asynchronously; where /proc exists, wait (briefly) until the process has stopped.
    const pid = this.child.pid;
    for (let i = 0; i < 100 && pid !== undefined; i++) {
      let state: string | undefined;
      try {
        state = /^\d+ \(.*\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
      } catch {
        return; // no /proc (not Linux) or the process is gone
      }
      if (state !== 'R' && state !== 'S' && state !== 'D') return;
      await sleep(10);
    }
  }

  async resume(): Promise<void> {
    if (!this.child) return;
    this.signal('SIGCONT');
    this.paused = false;
  }

  /** SIGKILL without waiting (process exit path). */
  killNow(): void {
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig); // the whole group: etcd is its leader
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  }
}
