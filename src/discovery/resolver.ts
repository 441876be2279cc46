// A grpc-js name resolver for `etcd:///<service>`: the channel's address list follows a Discovery live, and
// the channel balances round-robin over it. Built on the public client API and grpc-js's documented
// resolver contract (`@grpc/grpc-js/build/src/resolver.d.ts`): the listener is never called synchronously
// from the constructor or updateResolution, and never after destroy().

import type { Client } from '../core';
import { requirePeer } from '../peer';
import { checkClient, checkOptions } from './args';
import { servicePrefix, toFormat, toPrefix, type DiscoveryFormat } from './layout';
import { SharedDiscovery, type Resolver, type SharedSource } from './shared-discovery';

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

/** A target as grpc-js parses it. */
export interface GrpcUri {
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
export type ListenerFn = (endpoints: unknown, attributes: Record<string, unknown>, serviceConfig: unknown, resolutionNote: string) => boolean;
/** The listener of older grpc-js releases that already take Endpoint lists: an object (best effort, untested). */
export interface ListenerObject {
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
 * addresses are the live instances of `<service>` under `prefix` (read with one shared Discovery,
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
  grpc.experimental.registerResolver(scheme, resolverClass({ grpc, shared, scheme, prefix }) as never);
  return () => shared.unregister();
}

/** @internal What every resolver of one registerEtcdResolver() call shares. */
export interface ResolverContext {
  grpc: GrpcModule;
  shared: SharedSource;
  scheme: string;
  prefix: string;
}

/** @internal The class grpc-js constructs for each channel of `ctx.scheme`: an EtcdResolver bound to `ctx`. */
export function resolverClass(ctx: ResolverContext): new (target: GrpcUri, listener: ListenerFn | ListenerObject) => EtcdResolver {
  return class extends EtcdResolver {
    constructor(target: GrpcUri, listener: ListenerFn | ListenerObject) {
      super(ctx, target, listener);
    }

    static getDefaultAuthority(target: GrpcUri): string {
      const service = serviceOfTarget(target);
      if (service === undefined) throw new TypeError(invalidTarget(ctx.scheme, target));
      return service;
    }
  };
}

function invalidTarget(scheme: string, target: GrpcUri): string {
  return `invalid ${scheme} target ${JSON.stringify(target.path)}: expected ${scheme}:///<service>`;
}

/**
 * @internal The resolver of one channel, following one service. Its contract with the listener:
 * - it never calls the listener synchronously (not from the constructor, not from updateResolution) and never
 *   after destroy();
 * - changes are coalesced: any number of them before the next tick make one report;
 * - a report is the service's `host:port` addresses with round_robin, or an UNAVAILABLE error (no instance,
 *   the listing failed, the target is invalid, the resolver was unregistered); before an error that follows
 *   addresses, an empty address list clears the old ones, since round_robin keeps them when handed an error;
 * - it reports once per (re)activation; grpc-js's later asks are answered only when something changed.
 */
export class EtcdResolver implements Resolver {
  readonly service: string | undefined;
  private active = false;
  private scheduled = false;
  /** Something changed since the last report (or nothing was reported since updateResolution/activation). */
  private pending = false;
  private reportedSinceActivation = false;
  /** Whether the last report had addresses: going to none must first clear the old ones (see report). */
  private hadAddresses = false;

  constructor(
    private readonly ctx: ResolverContext,
    private readonly target: GrpcUri,
    private readonly listener: ListenerFn | ListenerObject,
  ) {
    this.service = serviceOfTarget(target);
  }

  /**
   * Reports once after (re)activation; later calls report only if something changed meanwhile. grpc-js
   * asks again after failures; answering each ask with the same result would make the two spin.
   */
  updateResolution(): void {
    if (!this.active) {
      this.active = true;
      this.reportedSinceActivation = false;
      this.ctx.shared.attach(this);
    }
    if (!this.reportedSinceActivation) this.schedule();
  }

  destroy(): void {
    if (!this.active) return;
    this.active = false;
    this.ctx.shared.detach(this);
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
    const state = this.ctx.shared.state();
    if (state.kind === 'starting') return; // scheduled again when the listing is in
    this.reportedSinceActivation = true;
    if (state.kind === 'unregistered') return this.fail('resolver unregistered');
    if (state.kind === 'failed') return this.fail(`cannot list ${this.ctx.prefix}/ in etcd: ${state.error.message}`);
    if (this.service === undefined) return this.fail(invalidTarget(this.ctx.scheme, this.target));
    const endpoints: { addresses: SubchannelAddress[] }[] = [];
    const unusable: string[] = [];
    for (const i of state.discovery.instances(this.service)) {
      const a = parseHostPort(i.address);
      if (a) endpoints.push({ addresses: [a] });
      else unusable.push(i.address);
    }
    if (endpoints.length === 0) {
      const none = `no instances of service '${this.service}' registered under ${servicePrefix(this.ctx.prefix, this.service)}`;
      return this.fail(unusable.length ? `${none} (addresses not of the form host:port: ${unusable.join(', ')})` : none);
    }
    this.hadAddresses = true;
    const l = this.listener;
    if (typeof l === 'function') l(this.statusOk(endpoints), {}, this.statusOk(SERVICE_CONFIG), '');
    else l.onSuccessfulResolution(endpoints, SERVICE_CONFIG, null, null, {});
  }

  private fail(details: string): void {
    const l = this.listener;
    if (typeof l !== 'function') return l.onError(this.unavailable(details));
    // round_robin keeps its old addresses when handed an error, so an empty list clears them first.
    if (this.hadAddresses) l(this.statusOk([]), {}, this.statusOk(SERVICE_CONFIG), details);
    this.hadAddresses = false;
    l(this.statusError(details), {}, this.statusOk(SERVICE_CONFIG), details);
  }

  /** A successful StatusOr of the listener's grpc-js (a plain `{ ok, value }` where it has no helper). */
  private statusOk(value: unknown): unknown {
    return this.ctx.grpc.experimental.statusOrFromValue?.(value as never) ?? { ok: true, value };
  }

  /** An UNAVAILABLE StatusOr with `details`. */
  private statusError(details: string): unknown {
    const error = this.unavailable(details);
    return this.ctx.grpc.experimental.statusOrFromError?.(error as never) ?? { ok: false, error };
  }

  private unavailable(details: string): StatusObject {
    return { code: this.ctx.grpc.status.UNAVAILABLE, details, metadata: new this.ctx.grpc.Metadata() };
  }
}
