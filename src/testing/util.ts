// Small pieces the testing kit's modules share: free loopback ports, a bounded log buffer, one-shot HTTP(S)
// requests to etcd's gateway, and the environment etcd's child processes get.
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
 * `n` distinct free loopback ports. Every probe socket stays open until all are chosen (so the picks cannot
 * collide with each other), and a port handed out earlier in this process is never handed out again. Another
 * process may still take a port before it is bound: the launcher retries on "address already in use".
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

/** Keeps the last `limit` bytes written to it (a member's log across restarts). */
export class RingBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
    if (this.size > this.limit) {
      const only = this.chunks[0]!;
      this.chunks[0] = only.subarray(only.length - this.limit);
      this.size = this.limit;
    }
  }
  toString(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
  tail(chars: number): string {
    const s = this.toString();
    return s.length > chars ? '…' + s.slice(s.length - chars) : s;
  }
}

/** What the kit's own HTTPS requests to etcd need: the CA to trust, a client certificate, the expected name. */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One request to etcd's HTTP side (/health, the JSON gateway). Rejects on transport errors and after timeoutMs. */
export function httpRequest(
  url: string,
  method: 'GET' | 'POST',
  body: string | undefined,
  timeoutMs: number,
  tls?: ClientTls,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      method,
      agent: false,
      timeout: timeoutMs,
      headers: body ? { 'content-type': 'application/json', ...headers } : headers,
    };
    if (tls) Object.assign(options, tls, { rejectUnauthorized: tls.ca !== undefined });
    const req = (url.startsWith('https:') ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Environment for etcd and etcdctl: both read ETCD_* / ETCDCTL_* variables as flags, so those are dropped. */
export function childEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('ETCD_') || k.startsWith('ETCDCTL_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Poll `ready` every 50 ms until it returns a value (not undefined) or `timeoutMs` passes (then throws `what`). */
export async function pollUntil<T>(ready: () => Promise<T | undefined>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await ready();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(what());
    await sleep(50);
  }
}
