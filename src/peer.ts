// Optional peer dependencies (package.json peerDependenciesMeta): loaded only when a feature that needs them
// is used, so a default install stays small.

import { MissingPeerDependencyError } from './errors';

/** @internal `require(name)`, or MissingPeerDependencyError naming the package and `what` needs it. */
export function requirePeer(name: string, what: string): unknown {
  try {
    return require(name) as unknown;
  } catch (err) {
    // Only the package itself missing is ours to explain; a broken install of it keeps its own error.
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'MODULE_NOT_FOUND' && e.message.includes(`'${name}'`)) throw new MissingPeerDependencyError(name, what);
    throw err;
  }
}
