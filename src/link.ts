// The connection signal shared by the watch engine and the observer: whether etcd answers on the stream a
// long-lived object needs. Engines reconnect on their own and say nothing; this is what tells the program.

import { UnreachableError } from './errors';

/** How long a stream may go without reaching etcd before its users hear `'disconnected'`. */
export const UNREACHABLE_AFTER_MS = 3000;

/** `'connecting'` until etcd first answers, then `'connected'` / `'disconnected'` as signalled. */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/**
 * Called on every change of the state after subscribing: `'disconnected'` (with an UnreachableError whose
 * `cause` is the last stream error) when etcd has not answered for {@link UNREACHABLE_AFTER_MS} while a stream
 * is wanted, and `'connected'` when it answers while `'connecting'` (the first time) or `'disconnected'`. A
 * listener added while already `'connected'` hears nothing until the next change: read `connectionState()`.
 */
export type ConnectionListener = (state: 'connected' | 'disconnected', error?: UnreachableError) => void;

/**
 * @internal One stream's reachability. A blip shorter than the bound (a stream reset, a member restart that
 * a reconnect outlives) is not signalled: `lost()` only arms the timer, and an answer in time disarms it.
 */
export class Link {
  state: ConnectionState = 'connecting';
  private timer: NodeJS.Timeout | undefined;
  private lastError: unknown;

  constructor(
    private readonly notify: ConnectionListener,
    private readonly boundMs = UNREACHABLE_AFTER_MS,
  ) {}

  /** A stream is wanted and not known to work (connecting, backing off): start the clock unless running. */
  waiting(error?: unknown): void {
    if (error !== undefined) this.lastError = error;
    if (this.timer || this.state === 'disconnected') return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.state = 'disconnected';
      const why = this.lastError instanceof Error ? `: ${this.lastError.message}` : '';
      this.notify('disconnected', new UnreachableError(`etcd not reachable for ${this.boundMs} ms${why}`, { cause: this.lastError }));
    }, this.boundMs);
    this.timer.unref();
  }

  /** Another signal already says etcd is unreachable (a Watcher below): signal it now. */
  failed(error: UnreachableError): void {
    this.stop();
    if (this.state === 'disconnected') return;
    this.state = 'disconnected';
    this.notify('disconnected', error);
  }

  /** etcd answered on the current stream. */
  answered(): void {
    this.stop();
    this.lastError = undefined;
    if (this.state === 'connected') return;
    this.state = 'connected';
    this.notify('connected');
  }

  /** Nothing is wanted any more (no watcher left, closed): stop the clock, say nothing. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
