// Which ready connection a call goes on. Pure: it knows nothing of sockets, so it is unit-tested on its own
// (test/unit/http2-picker.test.ts).

/**
 * The READY connections of a transport, kept in endpoint order, and the load-balancing choice among them:
 * `pick_first` always takes the first (the earliest endpoint that is ready), `round_robin` rotates over all of
 * them. A connection that stops being ready is removed, so it is never picked. The rotation starts at the first
 * endpoint in every process.
 */
export class Picker<T> {
  private readonly ready: T[] = [];
  private next = 0;

  constructor(
    private readonly pickFirst: boolean,
    /** The endpoint position of an item: the order `ready` is kept in. */
    private readonly rank: (item: T) => number,
  ) {}

  /** How many connections are ready. */
  get size(): number {
    return this.ready.length;
  }

  /** `item` became ready; it takes its place in endpoint order. */
  add(item: T): void {
    const ready = this.ready;
    const r = this.rank(item);
    let i = 0;
    while (i < ready.length && this.rank(ready[i]!) < r) i++;
    ready.splice(i, 0, item);
  }

  /** `item` is no longer ready (no-op if it was not in the list). */
  remove(item: T): void {
    const i = this.ready.indexOf(item);
    if (i >= 0) this.ready.splice(i, 1);
  }

  clear(): void {
    this.ready.length = 0;
  }

  /** The connection for the next call, or undefined when none is ready. */
  pick(): T | undefined {
    const ready = this.ready;
    const n = ready.length;
    if (n <= 1 || this.pickFirst) return ready[0];
    let i = this.next;
    if (i >= n) i = 0;
    this.next = i + 1;
    return ready[i];
  }
}
