// What a Registration does with etcd, as one small interface: the real one is the public client API; the unit
// test of the registration's state machine (test/unit/discovery-registration.test.ts) gives a fake one.

import { Client, KeepAlive, Watcher, type Response } from '../core';
import { claim, type Claim } from './claim';

/** @internal A lease kept alive: the part of a KeepAlive a registration uses. */
export interface LeaseKeeper {
  Lease(): bigint;
  Cancel(): void;
  Check(): Promise<unknown>;
}

/** @internal The watch of the registration's own key: the part of a Watcher a registration uses. */
export interface KeyWatch {
  Wait(): Promise<boolean>;
  Cancel(): Promise<unknown>;
  ready(): Promise<unknown>;
}

/** @internal Everything a registration does with etcd. {@link clientPorts} is the real one. */
export interface RegistrationPorts {
  /** A plain put under `lease` (registration with `replace`). @throws ClientClosedError */
  put(key: string, value: string, lease: bigint): Promise<Response>;
  /** See claim.ts. @throws ClientClosedError */
  claim(who: string, key: string, value: string, lease: bigint, from?: bigint): Promise<Claim>;
  /** Revokes a lease and ignores the outcome (gone already, client closed, network down: it expires anyway). */
  revoke(lease: bigint): Promise<void>;
  /** Grants a lease of `ttl` seconds and keeps it alive; `onStop` hears its loss. @throws as KeepAlive.create */
  keepAlive(ttl: number, onStop: (error: Error) => void): Promise<LeaseKeeper>;
  /** Watches `key` from `revision`. @throws ClientClosedError */
  watch(key: string, revision: number, onResponse: (r: Response) => void): KeyWatch;
}

/** @internal The ports of a real client: its public API. */
export function clientPorts(client: Client): RegistrationPorts {
  return {
    put: (key, value, lease) => client.put(key, value, lease),
    claim: (who, key, value, lease, from) => claim(client, who, key, value, lease, from),
    revoke: (lease) => {
      try {
        return client.leaserevoke(lease).then(
          () => {},
          () => {},
        );
      } catch {
        return Promise.resolve();
      }
    },
    keepAlive: (ttl, onStop) => KeepAlive.create(client, onStop, ttl),
    watch: (key, revision, onResponse) => new Watcher(client, key, revision, onResponse),
  };
}
