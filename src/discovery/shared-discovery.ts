// The one Discovery behind every etcd:/// resolver of one registerEtcdResolver() call, shared so that many
// channels to many services cost one listing and one watch.

import { Client, ClientClosedError } from '../core';
import { Backoff } from './backoff';
import type { ServiceInstance } from './catalog';
import { Discovery } from './discovery';
import type { DiscoveryFormat } from './layout';

/** @internal What SharedDiscovery needs of a resolver: the service it follows, and a way to tell it to report. */
export interface Resolver {
  readonly service: string | undefined;
  schedule(): void;
}

/** @internal The part of a started Discovery a resolver reads. */
export interface InstanceSource {
  instances(service: string): ServiceInstance[];
}

/** @internal Where the shared Discovery stands, as a resolver sees it. */
export type SharedState =
  | { kind: 'starting' }
  | { kind: 'ready'; discovery: InstanceSource }
  | { kind: 'failed'; error: Error }
  | { kind: 'unregistered' };

/** @internal What a resolver needs of the shared Discovery (a fake in test/unit/discovery-resolver.test.ts). */
export interface SharedSource {
  state(): SharedState;
  attach(r: Resolver): void;
  detach(r: Resolver): void;
}

/**
 * @internal The one Discovery behind every resolver of a registration: created and started when the first resolver
 * attaches, retried with backoff while the first listing fails, closed when the last resolver detaches
 * (or on unregister).
 */
export class SharedDiscovery implements SharedSource {
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
