// Unique key prefixes, so tests (and runs) sharing one etcd never see each other's keys.

let seq = 0;

/** A key prefix no other test (or run) uses: `/it/<topic>/<pid>-<n>-<random>/`. */
export function uniquePrefix(topic: string): string {
  return `/it/${topic}/${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}/`;
}
