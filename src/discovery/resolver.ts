// A grpc-js name resolver for `etcd:///<service>`: the channel's address list follows a Discovery live, and
// the channel balances round-robin over it. Built on the public client API and grpc-js's documented
// resolver contract (`@grpc/grpc-js/build/src/resolver.d.ts`): the listener is never called synchronously
// from the constructor or updateResolution, and never after destroy().

import { Client, ClientClosedError } from '../core';
import { requirePeer } from '../peer';
import { checkClient, checkOptions } from './args';
import { Backoff } from './backoff';
import { Discovery } from './discovery';
import { servicePrefix, toFormat, toPrefix, type DiscoveryFormat } from './layout';

/** The parts of a @grpc/grpc-js module the resolver uses (any version with `experimental.registerResolver`). */
export interface GrpcModule {
  experimental: {
    registerResolver(scheme: string, resolverClass: never): void;
    statusOrFromValue?: (value: never) => unknown;
    statusOrFromError?: (error: never) => unknown;
  };
  status: { UNAVAILABLE: number };
  Metadata: new () => unknown;
}

export interface EtcdResolverOptions {
  /** Where services are registered; default '/service'. */
  prefix?: string;
  /** 'plain' (default) or Go's 'go-endpoints' layout. */
  format?: DiscoveryFormat;
  /** The URI scheme to claim; default 'etcd' (`etcd:///<service>`). */
  scheme?: string;
  /**
   * The @grpc/grpc-js module your channels come from (pass yours if your app has its own copy); default: the
   * one this package depends on.
   */
  grpc?: GrpcModule;
}

interface GrpcUri {
  scheme?: string;
  authority?: string;
  path: string;
}

interface SubchannelAddress {
  host: string;
  port: number;
}

interface StatusObject {
  code: number;
  details: string;
  metadata: unknown;
}

/** The listener of current grpc-js (the version this package depends on): one function. */
type ListenerFn = (endpoints: unknown, attributes: Record<string, unknown>, serviceConfig: unknown, resolutionNote: string) => boolean;
/** The listener of older grpc-js releases that already take Endpoint lists: an object (best effort, untested). */
interface ListenerObject {
  onSuccessfulResolution(endpoints: unknown, serviceConfig: unknown, serviceConfigError: unknown, configSelector: unknown, attributes: Record<string, unknown>): void;
  onError(error: StatusObject): void;
}

const SERVICE_CONFIG = { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] };

/**
 * `host:port`, `[ipv6]:port` → `{ host, port }`; undefined for anything else (no port, a bare IPv6
 * address, a port outside 1–65535).
 */
export function parseHostPort(address: string): SubchannelAddress | undefined {
  let host: string;
  let port: string;
  const v6 = /^\[([^\]]*:[^\]]*)\]:(\d+)$/.exec(address);
  if (v6) {
    host = v6[1]!;
    port = v6[2]!;
  } else {
    const i = address.lastIndexOf(':');
    if (i <= 0 || address.indexOf(':') !== i || /[[\]]/.test(address)) return undefined;
    host = address.slice(0, i);
    port = address.slice(i + 1);
    if (!/^\d+$/.test(port)) return undefined;
  }
  const p = Number(port);
  if (!(p >= 1 && p <= 65535) || host === '') return undefined;
  return { host, port: p };
}

/** The service a target names: `etcd:///user` and `etcd:user` → 'user'; undefined if not a valid name. */
export function serviceOfTarget(target: GrpcUri): string | undefined {
  const path = target.path.replace(/^\/+/, '');
  return path !== '' && !path.includes('/') ? path : undefined;
}

function toScheme(x: unknown): string {
  if (x === undefined) return 'etcd';
  if (typeof x !== 'string' || !/^[A-Za-z][A-Za-z0-9+.-]*$/.test(x)) throw new TypeError(`scheme must be a URI scheme name, got ${JSON.stringify(x) ?? typeof x}`);
  return x;
}

function loadGrpc(x: unknown): GrpcModule {
  const g = (x ?? requirePeer('@grpc/grpc-js', 'the etcd:/// resolver (registerEtcdResolver)')) as GrpcModule;
  if (typeof g !== 'object' || g === null || typeof g.experimental?.registerResolver !== 'function') {
    throw new TypeError('grpc must be the @grpc/grpc-js module (with experimental.registerResolver)');
  }
  return g;
}

/**
 * Makes `<scheme>:///<service>` (default `etcd:///<service>`) a working @grpc/grpc-js target: the channel's
 * addresses are the live instances of `<service>` under `prefix` (read with one shared {@link Discovery},
 * started when the first such channel resolves and closed when the last one is gone), balanced round-robin
 * and updated as instances come and go. With no instance, calls fail fast with UNAVAILABLE
 * "no instances of service 'x' registered under /service/x/" (or wait, with `waitForReady`).
 *
 * Returns a function that unregisters: it closes the shared Discovery; as grpc-js cannot forget a resolver,
 * channels using the scheme afterwards fail with UNAVAILABLE 'resolver unregistered'. The client is never
 * closed by the resolver.
 * @throws TypeError for a bad client or option.
 */
export function registerEtcdResolver(client: Client, options: EtcdResolverOptions = {}): () => void {
  checkClient(client);
  checkOptions(options);
  const prefix = toPrefix(options.prefix);
  const format = toFormat(options.format);
  const scheme = toScheme(options.scheme);
  const grpc = loadGrpc(options.grpc);
  const shared = new SharedDiscovery(client, prefix, format);

  const statusOk = (value: unknown): unknown => grpc.experimental.statusOrFromValue?.(value as never) ?? { ok: true, value };
  const statusError = (details: string): unknown => {
    const error = { code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() };
    return grpc.experimental.statusOrFromError?.(error as never) ?? { ok: false, error };
  };
  const unavailable = (details: string): StatusObject => ({ code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() });

  class EtcdResolver implements Resolver {
    readonly service: string | undefined;
    private active = false;
    private scheduled = false;
    /** Something changed since the last report (or nothing was reported since updateResolution/activation). */
    private pending = false;
    private reportedSinceActivation = false;
    /** Whether the last report had addresses: going to none must first clear the old ones (see report). */
    private hadAddresses = false;

    constructor(
      private readonly target: GrpcUri,
      private readonly listener: ListenerFn | ListenerObject,
    ) {
      this.service = serviceOfTarget(target);
    }

    static getDefaultAuthority(target: GrpcUri): string {
      const service = serviceOfTarget(target);
      if (service === undefined) throw new TypeError(`invalid ${scheme} target ${JSON.stringify(target.path)}: expected ${scheme}:///<service>`);
      return service;
    }

    /**
     * Reports once after (re)activation; later calls report only if something changed meanwhile. grpc-js
     * asks again after failures; answering each ask with the same result would make the two spin.
     */
    updateResolution(): void {
      if (!this.active) {
        this.active = true;
        this.reportedSinceActivation = false;
        shared.attach(this);
      }
      if (!this.reportedSinceActivation) this.schedule();
    }

    destroy(): void {
      if (!this.active) return;
      this.active = false;
      shared.detach(this);
    }

    /** Reports the current state on a later tick (coalesced). */
    schedule(): void {
      this.pending = true;
      if (this.scheduled) return;
      this.scheduled = true;
      process.nextTick(() => {
        this.scheduled = false;
        if (!this.active || !this.pending) return;
        this.pending = false;
        this.report();
      });
    }

    private report(): void {
      const state = shared.state();
      if (state.kind === 'starting') return; // scheduled again when the listing is in
      this.reportedSinceActivation = true;
      if (state.kind === 'unregistered') return this.fail('resolver unregistered');
      if (state.kind === 'failed') return this.fail(`cannot list ${prefix}/ in etcd: ${state.error.message}`);
      if (this.service === undefined) return this.fail(`invalid ${scheme} target ${JSON.stringify(this.target.path)}: expected ${scheme}:///<service>`);
      const endpoints: { addresses: SubchannelAddress[] }[] = [];
      const unusable: string[] = [];
      for (const i of state.discovery.instances(this.service)) {
        const a = parseHostPort(i.address);
        if (a) endpoints.push({ addresses: [a] });
        else unusable.push(i.address);
      }
      if (endpoints.length === 0) {
        const none = `no instances of service '${this.service}' registered under ${servicePrefix(prefix, this.service)}`;
        return this.fail(unusable.length ? `${none} (addresses not of the form host:port: ${unusable.join(', ')})` : none);
      }
      this.hadAddresses = true;
      const l = this.listener;
      if (typeof l === 'function') l(statusOk(endpoints), {}, statusOk(SERVICE_CONFIG), '');
      else l.onSuccessfulResolution(endpoints, SERVICE_CONFIG, null, null, {});
    }

    private fail(details: string): void {
      const l = this.listener;
      if (typeof l !== 'function') return l.onError(unavailable(details));
      // round_robin keeps its old addresses when handed an error, so an empty list clears them first.
      if (this.hadAddresses) l(statusOk([]), {}, statusOk(SERVICE_CONFIG), details);
      this.hadAddresses = false;
      l(statusError(details), {}, statusOk(SERVICE_CONFIG), details);
    }
  }

  grpc.experimental.registerResolver(scheme, EtcdResolver as never);
  return () => shared.unregister();
}

interface Resolver {
  readonly service: string | undefined;
  schedule(): void;
}

type SharedState =
  | { kind: 'starting' }
  | { kind: 'ready'; discovery: Discovery }
  | { kind: 'failed'; error: Error }
  | { kind: 'unregistered' };

/**
 * The one Discovery behind every resolver of a registration: created and started when the first resolver
 * attaches, retried with backoff while the first listing fails, closed when the last resolver detaches
 * (or on unregister).
 */
class SharedDiscovery {
  private readonly resolvers = new Set<Resolver>();
  private discovery: Discovery | undefined;
  private current: SharedState = { kind: 'starting' };
  private unregistered = false;
  /** Paces the retries of the current Discovery's first listing; woken when it is shut. */
  private backoff = new Backoff();

  constructor(
    private readonly client: Client,
    private readonly prefix: string,
    private readonly format: DiscoveryFormat,
  ) {}

  state(): SharedState {
    return this.unregistered ? { kind: 'unregistered' } : this.current;
  }

  attach(r: Resolver): void {
    this.resolvers.add(r);
    if (!this.discovery && !this.unregistered) this.open();
  }

  detach(r: Resolver): void {
    this.resolvers.delete(r);
    if (this.resolvers.size === 0) this.shut();
  }

  unregister(): void {
    if (this.unregistered) return;
    this.unregistered = true;
    this.shut();
    for (const r of this.resolvers) r.schedule();
  }

  private open(): void {
    const d = new Discovery(this.client, { prefix: this.prefix, format: this.format });
    this.discovery = d;
    this.current = { kind: 'starting' };
    const changed = (service: string): void => {
      for (const r of this.resolvers) if (r.service === service) r.schedule();
    };
    d.onOnline((service) => changed(service));
    d.onOffline((service) => changed(service));
    void this.start(d);
  }

  private start(d: Discovery): Promise<void> {
    const backoff = (this.backoff = new Backoff());
    return backoff.run(
      () => this.discovery === d,
      async () => {
        try {
          await d.start();
          if (this.discovery !== d) return true;
          this.current = { kind: 'ready', discovery: d };
          for (const r of this.resolvers) r.schedule();
          return true;
        } catch (err) {
          if (this.discovery !== d) return true;
          this.current = { kind: 'failed', error: err as Error };
          for (const r of this.resolvers) r.schedule();
          return err instanceof ClientClosedError; // closed: for good
        }
      },
    );
  }

  private shut(): void {
    const d = this.discovery;
    this.discovery = undefined;
    this.current = { kind: 'starting' };
    this.backoff.wake();
    if (d) void d.close();
  }
}
