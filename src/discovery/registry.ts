// Service registration: one key per instance under a lease this process keeps alive, so the key vanishes
// when the process dies and comes back by itself when the lease is lost or the key deleted. This file is the
// Registry (options, argument checks, the set of live registrations); each registration's state machine is in
// registration.ts, and the conditional write of its key in claim.ts.

import { toOptionalBool, toPositiveTtl } from '../args';
import type { Client } from '../core';
import { ClosedError } from '../errors';
import { checkClient, checkOptions } from './args';
import { encodeValue, instanceKey, toFormat, toName, toPrefix, type DiscoveryFormat } from './layout';
import { Registration } from './registration';
import { clientPorts } from './registration-ports';

export interface RegistryOptions {
  /** Keys are `<prefix>/<service>/<instance>`; default '/service'. */
  prefix?: string;
  /** Lease TTL in seconds (default 3): how long a crashed process's instances stay visible. */
  ttl?: number;
  /** 'plain' (default) or Go's 'go-endpoints' layout. */
  format?: DiscoveryFormat;
}

export interface RegisterOptions {
  /** Any JSON value, stored beside the address and reported by Discovery. */
  metadata?: unknown;
  /** Take over the key if it already exists (default false: refuse). */
  replace?: boolean;
  /** This registration's lease TTL in seconds (default: the registry's). */
  ttl?: number;
}

const DEFAULT_TTL = 3;

/**
 * Registers service instances in etcd. Each registration is one key under its own lease, kept
 * alive by this process; see {@link Registration} for what happens on lease loss and close.
 */
export class Registry {
  private readonly client: Client;
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly format: DiscoveryFormat;
  private readonly live = new Set<Registration>();
  private closing: Promise<void> | undefined;

  /** @throws TypeError / RangeError for a bad client or option. */
  constructor(client: Client, options: RegistryOptions = {}) {
    this.client = checkClient(client);
    checkOptions(options);
    this.prefix = toPrefix(options.prefix);
    this.ttl = options.ttl === undefined ? DEFAULT_TTL : toPositiveTtl(options.ttl);
    this.format = toFormat(options.format);
  }

  /**
   * Registers `instance` of `service` at `address`: key `<prefix>/<service>/<instance>` (plain layout) or
   * `<prefix>/<service>/<address>` (go-endpoints: there the instance name is the address and the `instance`
   * argument is not used), under a new lease of `ttl` seconds kept alive by this process and watched by the
   * registration (see {@link Registration}). Resolves once the key is written and etcd watches it.
   *
   * Refuses (rejects with AlreadyRegisteredError naming service, instance and key) when the key exists
   * already, unless `replace: true`. Rejects with ClientClosedError if the client is closed, with ClosedError
   * if the Registry is, with an EtcdError (etcd's `code` and `details`) if etcd refused, or with the
   * KeepAliveError of the lease grant. A failed registration leaves nothing behind (its lease is
   * revoked).
   * @throws TypeError / RangeError (synchronously) for bad arguments or metadata that is not JSON.
   */
  register(service: string, instance: string, address: string, options: RegisterOptions = {}): Promise<Registration> {
    const svc = toName('service', service);
    if (typeof address !== 'string' || address === '') throw new TypeError(`address must be a non-empty string, got ${JSON.stringify(address) ?? typeof address}`);
    let name: string;
    if (this.format === 'plain') name = toName('instance', instance);
    else {
      if (typeof instance !== 'string') throw new TypeError(`instance must be a string, got ${instance === null ? 'null' : typeof instance}`);
      name = address;
    }
    checkOptions(options);
    const ttl = options.ttl === undefined ? this.ttl : toPositiveTtl(options.ttl);
    const replace = toOptionalBool('replace', options.replace);
    const value = encodeValue(this.format, address, options.metadata);
    const key = instanceKey(this.prefix, svc, name);
    if (this.closing) return Promise.reject(new ClosedError('this Registry is closed'));
    const reg = new Registration(clientPorts(this.client), svc, name, address, key, value, ttl, (r) => this.live.delete(r));
    return reg.establish(replace).then(async () => {
      if (this.closing) {
        await reg.close();
        throw new ClosedError('this Registry is closed');
      }
      this.live.add(reg);
      return reg;
    });
  }

  /** Closes every registration this registry made (each revokes its lease). Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all([...this.live].map((r) => r.close())).then(() => {});
    return this.closing;
  }

  /** `await using registry = new Registry(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
