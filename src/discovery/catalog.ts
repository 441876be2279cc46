// Discovery's view of the registered instances as plain data, with no I/O: what counts as a change, the
// difference a re-list reports, and the round-robin pick. Unit-tested without etcd
// (test/unit/discovery-catalog.test.ts).

import { byCodeUnits, type EndpointValue } from './layout';

/** One live instance of a service, as `instances()` and `pick()` give it. */
export interface ServiceInstance {
  instance: string;
  address: string;
  /** Present only when the registration carried metadata. */
  metadata?: unknown;
}

/** A change of the view, to be reported to the callbacks in this order. */
export type Change =
  | { type: 'online'; service: string; instance: string; address: string; metadata?: unknown }
  | { type: 'offline'; service: string; instance: string; address: string };

interface ServiceEntry {
  instances: Map<string, EndpointValue>;
  /** Instance names in code-unit order; rebuilt lazily after a change. */
  sorted: string[] | undefined;
}

/**
 * @internal The instances known per service, and the round-robin position per service. Every mutator
 * returns the changes to report: an address change is offline(old) then online(new); a re-put with the same
 * address (a lease restored, metadata edited) changes what `instances()` shows but reports nothing.
 */
export class Catalog {
  private readonly services = new Map<string, ServiceEntry>();
  /** The instance name `pick()` returned last, per service; kept across changes (and while empty). */
  private readonly lastPicked = new Map<string, string>();

  /** An instance was written with `value`. */
  put(service: string, instance: string, value: EndpointValue): Change[] {
    let entry = this.services.get(service);
    const old = entry?.instances.get(instance);
    if (!entry) {
      entry = { instances: new Map(), sorted: undefined };
      this.services.set(service, entry);
    }
    entry.instances.set(instance, value);
    if (old === undefined) {
      entry.sorted = undefined;
      return [online(service, instance, value)];
    }
    if (old.address === value.address) return [];
    return [{ type: 'offline', service, instance, address: old.address }, online(service, instance, value)];
  }

  /** An instance's key was deleted (or no longer holds a registration). */
  delete(service: string, instance: string): Change[] {
    const entry = this.services.get(service);
    const old = entry?.instances.get(instance);
    if (!entry || old === undefined) return [];
    entry.instances.delete(instance);
    entry.sorted = undefined;
    if (entry.instances.size === 0) this.services.delete(service);
    return [{ type: 'offline', service, instance, address: old.address }];
  }

  /**
   * Replaces the whole view with a fresh listing and returns only the difference: offline for instances
   * gone, offline + online for changed addresses, online for new ones.
   */
  replaceAll(listing: Iterable<{ service: string; instance: string; value: EndpointValue }>): Change[] {
    const next = new Map<string, Map<string, EndpointValue>>();
    for (const { service, instance, value } of listing) {
      let m = next.get(service);
      if (!m) next.set(service, (m = new Map()));
      m.set(instance, value);
    }
    const changes: Change[] = [];
    for (const [service, entry] of [...this.services]) {
      for (const instance of [...entry.instances.keys()]) {
        if (!next.get(service)?.has(instance)) changes.push(...this.delete(service, instance));
      }
    }
    for (const [service, m] of next) {
      for (const [instance, value] of m) changes.push(...this.put(service, instance, value));
    }
    return changes;
  }

  /** Every live instance of `service`, sorted by instance name. */
  instances(service: string): ServiceInstance[] {
    const entry = this.services.get(service);
    if (!entry) return [];
    return this.sortedNames(entry).map((name) => toInstance(name, entry.instances.get(name)!));
  }

  /** Every service with at least one live instance, sorted. */
  serviceNames(): string[] {
    return [...this.services.keys()].sort(byCodeUnits);
  }

  /**
   * Round robin that keeps its place across changes: the first instance (by name) after the one picked last
   * time, wrapping around. A new instance is reached in its turn; a removed one is simply skipped.
   */
  pick(service: string): ServiceInstance | undefined {
    const entry = this.services.get(service);
    if (!entry) return undefined;
    const names = this.sortedNames(entry);
    const last = this.lastPicked.get(service);
    let chosen = names[0]!;
    if (last !== undefined) {
      // First name greater than `last` (binary search), else wrap to the first.
      let lo = 0;
      let hi = names.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (names[mid]! <= last) lo = mid + 1;
        else hi = mid;
      }
      if (lo < names.length) chosen = names[lo]!;
    }
    this.lastPicked.set(service, chosen);
    return toInstance(chosen, entry.instances.get(chosen)!);
  }

  private sortedNames(entry: ServiceEntry): string[] {
    return (entry.sorted ??= [...entry.instances.keys()].sort(byCodeUnits));
  }
}

function online(service: string, instance: string, value: EndpointValue): Change {
  return value.metadata === undefined
    ? { type: 'online', service, instance, address: value.address }
    : { type: 'online', service, instance, address: value.address, metadata: value.metadata };
}

function toInstance(instance: string, value: EndpointValue): ServiceInstance {
  return value.metadata === undefined ? { instance, address: value.address } : { instance, address: value.address, metadata: value.metadata };
}
