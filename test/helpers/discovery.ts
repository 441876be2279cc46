// Discovery test pieces, written once.

import type { Discovery } from '../../src/index';
import { uniquePrefix } from './unique';

/** A registry prefix of its own for each test (no trailing slash). */
export function prefixFor(topic: string): string {
  return uniquePrefix(topic).replace(/\/$/, '');
}

/**
 * Records a Discovery's callbacks and checks the exactly-once rule as they come: no instance online twice without
 * an offline in between, no offline of an instance that is not online (with that address). Violations go to
 * `errors` (asserted by the test, never thrown from the callback). With `metaInLog`, an online line carries the
 * metadata as JSON (`+svc/inst addr {"a":1}`).
 */
export function track(d: Discovery, opts: { metaInLog?: boolean } = {}) {
  const log: string[] = [];
  const online = new Map<string, string>();
  const errors: string[] = [];
  const metadata = new Map<string, unknown>();
  d.onOnline((service, instance, address, meta) => {
    const k = `${service}/${instance}`;
    if (online.has(k)) errors.push(`${k} reported online twice (${online.get(k)}, then ${address})`);
    online.set(k, address);
    if (meta !== undefined) metadata.set(k, meta);
    log.push(`+${k} ${address}${opts.metaInLog && meta !== undefined ? ` ${JSON.stringify(meta)}` : ''}`);
  });
  d.onOffline((service, instance, address) => {
    const k = `${service}/${instance}`;
    if (online.get(k) !== address) errors.push(`${k} reported offline at ${address} while online at ${online.get(k)}`);
    online.delete(k);
    log.push(`-${k} ${address}`);
  });
  return { log, online, errors, metadata };
}
