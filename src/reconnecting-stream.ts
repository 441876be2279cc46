// The one machine behind every long-lived stream (the watch stream, the lease keepalive stream, an election
// observer): open, deliver, classify the end, back off, open again. The engines keep only their domain logic
// (watchers, leases, leader reports) and plug into it through a few callbacks, so a reconnect rule is written,
// fixed and tested once.
//
//   idle ──start──▶ connecting ──opened──▶ open ──ended (retry / renew-token)──▶ backoff ──timer──▶ connecting
//   connecting ──ended──▶ backoff            open ──reopenNow──▶ connecting      backoff/any ──not wanted──▶ idle
//   connecting/open ──halt──▶ idle           any ──stop──▶ idle                   any ──close──▶ closed (final)

import type { GrpcStatusError } from './errors';
import { backoffDelay, STREAM_REOPEN } from './backoff';
import { classifyEnd, type EndVerdict } from './stream-end';
import { timerDelay } from './timers';
import { trace } from './trace';
import type { StreamCall, StreamHandlers } from './transport/transport';

/** The machine's states (see the diagram at the top of reconnecting-stream.ts). */
export type StreamState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/** Time and timers, injected so unit tests drive an engine with a fake clock. */
export interface Clock {
  now(): number;
  /** A timer firing `fn` after `ms`; a `weak` one does not keep the process alive. */
  setTimer(fn: () => void, ms: number, weak?: boolean): unknown;
  clearTimer(handle: unknown): void;
}

/** The real clock: Date.now and Node timers, capped to what a Node timer can wait (the owner re-arms early ones). */
export const REAL_CLOCK: Clock = Object.freeze({
  now: () => Date.now(),
  setTimer: (fn: () => void, ms: number, weak?: boolean): unknown => {
    const t = setTimeout(fn, timerDelay(ms));
    if (weak) t.unref();
    return t;
  },
  clearTimer: (handle: unknown): void => clearTimeout(handle as NodeJS.Timeout),
});

/** What an engine supplies. Every callback is about the current stream only: an older one is silenced. */
export interface StreamOwner<Req, Res> {
  /** Opens a stream (rejects with ClientClosedError or an authentication failure: handled like an end). */
  open(handlers: StreamHandlers<Res>): Promise<StreamCall<Req>>;
  /** The stream is open and current (`call` is also `machine.call` until the next end or stop). */
  onOpen(call: StreamCall<Req>): void;
  onMessage(message: Res): void;
  /** Whether anyone still wants the stream; asked before every backoff and every reopen. */
  wanted(): boolean;
  /**
   * Optional: sees the verdict of every end first and may replace it — e.g. a status that halts the stream may
   * condemn only the request that caused it, and the engine then returns 'retry' for the others. Not called for
   * 'client-closed'.
   */
  onEnd?(err: unknown, verdict: EndVerdict): EndVerdict;
  /**
   * The stream ended and will be reopened (after `delayMs`): per-stream state is void now. Called before
   * `wanted()` is asked, so the engine may drop subscribers that no longer want it.
   */
  onLost?(err: unknown, delayMs: number): void;
  /** The stream failed for good with `status`; the machine is idle. The engine ends its subscribers. */
  onHalt(status: GrpcStatusError): void;
  /** The client was closed under the stream; the owner closes itself (the machine does nothing more). */
  onClientClosed?(): void;
  /** Renews the auth token for the next open; absent when the client has no credentials. */
  renewToken?(): void;
  /**
   * Whether a message shows the stream works, ending the failure streak (backoff from scratch, the token may be
   * renewed again). Default: every message. The watch engine excludes cancel answers, since a refused create
   * can itself be the token refusal that is being retried.
   */
  countsAsAnswer?(message: Res): boolean;
}

/** Options of a ReconnectingStream. */
export interface ReconnectingStreamOptions {
  /** The trace component (src/trace.ts) and a label for the stream. */
  readonly component: string;
  readonly label: string;
  /** Default: the real clock. */
  readonly clock?: Clock;
  /** The delay before reopen attempt `attempt` (0-based); default the STREAM_REOPEN policy. */
  readonly backoff?: (attempt: number) => number;
}

const ALLOWED: Readonly<Record<StreamState, readonly StreamState[]>> = {
  idle: ['connecting', 'closed'],
  connecting: ['open', 'backoff', 'connecting', 'idle', 'closed'],
  open: ['backoff', 'connecting', 'idle', 'closed'],
  backoff: ['connecting', 'idle', 'closed'],
  closed: [],
};

/**
 * One long-lived stream that reopens itself. The contract:
 * - **Ends** are classified by the one rule, `classifyEnd` (stream-end.ts), with this stream's failure streak:
 *   'retry' and 'renew-token' back off and reopen (renewing the token first, once per streak); a halt goes idle
 *   and calls `onHalt`; 'client-closed' calls `onClientClosed`.
 * - **The streak** (the backoff attempt and the token-renewed flag) ends with a message that counts as an
 *   answer, and when the machine goes idle: the next start is a new streak.
 * - **Backoff timers** run on the clock and keep the process alive (a subscriber is waiting for the stream);
 *   one whose subscribers are all gone goes idle instead of reopening; `stop()` and `close()` clear it.
 * - **Stale streams**: every open, stop or end starts a new generation; whatever an older stream (or an open
 *   that resolves after it was superseded) reports is dropped, and such a late stream is cancelled.
 * - **close()** is final and idempotent, as is `stop()` in idle: both return the current call (if any) for the
 *   owner to end as it chooses.
 */
export class ReconnectingStream<Req, Res> {
  private current: StreamState = 'idle';
  private generation = 0;
  private currentCall: StreamCall<Req> | undefined;
  private attempt = 0;
  private tokenRenewed = false;
  private timer: unknown;
  private readonly clock: Clock;
  private readonly backoff: (attempt: number) => number;
  /** Streams opened so far (for tests and tracing). */
  opened = 0;

  constructor(
    private readonly owner: StreamOwner<Req, Res>,
    private readonly options: ReconnectingStreamOptions,
  ) {
    this.clock = options.clock ?? REAL_CLOCK;
    this.backoff = options.backoff ?? ((attempt) => backoffDelay(STREAM_REOPEN, attempt));
  }

  get state(): StreamState {
    return this.current;
  }

  /** The open stream, from `onOpen` until it ends or is stopped. */
  get call(): StreamCall<Req> | undefined {
    return this.currentCall;
  }

  /** Whether the token was renewed in the current failure streak (what `classifyEnd` is told). */
  get tokenRenewedInStreak(): boolean {
    return this.tokenRenewed;
  }

  /** The verdict the machine would give `err` now (lets an engine classify an in-band refusal the same way). */
  classify(err: unknown): EndVerdict {
    return classifyEnd(err, { tokenRenewed: this.tokenRenewed, canRenew: this.owner.renewToken !== undefined });
  }

  /** Opens the stream if idle; does nothing in any other state. Throws what the owner's `open` throws synchronously. */
  start(): void {
    if (this.current === 'idle') this.connect('started');
  }

  /**
   * Ends the current stream now as if it had ended with `err` (an in-band refusal, e.g. a watch create refused
   * for its token): it is cancelled and the end is classified as usual. Ignored unless connecting or open.
   */
  fail(err: unknown): void {
    if (this.current !== 'connecting' && this.current !== 'open') return;
    this.detach()?.cancel();
    this.ended(err);
  }

  /**
   * Drops the current stream (cancelled) and opens a new one at once, without backoff and without ending the
   * streak: for a stream the engine found stalled (the owner spaces these itself). Only while open.
   */
  reopenNow(why: string): void {
    if (this.current !== 'open') return;
    this.detach()?.cancel();
    this.connect(why);
  }

  /**
   * Nobody wants the stream any more: goes idle (clearing the backoff timer and the streak) and returns the
   * current call, if any, for the owner to end or cancel. Idempotent; ignored once closed.
   */
  stop(why = 'not wanted'): StreamCall<Req> | undefined {
    if (this.current === 'idle' || this.current === 'closed') return undefined;
    const call = this.detach();
    this.goIdle(why);
    return call;
  }

  /** Final: clears the timer and silences the stream; returns the current call for the owner to cancel. Idempotent. */
  close(): StreamCall<Req> | undefined {
    if (this.current === 'closed') return undefined;
    const call = this.detach();
    this.clearTimer();
    this.goto('closed', 'closed');
    return call;
  }

  /** A function true until the next open, end, stop or close: lets an engine's own timer tell it was overtaken. */
  guard(): () => boolean {
    const generation = this.generation;
    return () => generation === this.generation;
  }

  /** The one transition function: checks the move is allowed and traces it. */
  private goto(next: StreamState, why: string): void {
    const from = this.current;
    if (!ALLOWED[from].includes(next)) {
      throw new Error(`etcd-apiv3 internal error: ${this.options.label} stream cannot go from ${from} to ${next} (${why})`);
    }
    this.current = next;
    trace(this.options.component, `${this.options.label} stream ${from} → ${next}: ${why}`);
  }

  private goIdle(why: string): void {
    this.clearTimer();
    this.attempt = 0;
    this.tokenRenewed = false;
    this.goto('idle', why);
  }

  private detach(): StreamCall<Req> | undefined {
    this.generation++;
    const call = this.currentCall;
    this.currentCall = undefined;
    return call;
  }

  private connect(why: string): void {
    this.goto('connecting', why);
    const generation = ++this.generation;
    this.owner
      .open({
        onMessage: (m) => {
          if (generation === this.generation) this.message(m);
        },
        onClose: (err) => {
          if (generation !== this.generation) return;
          this.detach();
          this.ended(err);
        },
      })
      .then(
        (call) => {
          if (generation !== this.generation) return call.cancel();
          this.currentCall = call;
          this.opened++;
          this.goto('open', `opened (#${this.opened})`);
          this.owner.onOpen(call);
        },
        (err: unknown) => {
          if (generation !== this.generation) return;
          this.generation++;
          this.ended(err);
        },
      );
  }

  private message(m: Res): void {
    if (this.owner.countsAsAnswer?.(m) ?? true) {
      this.attempt = 0;
      this.tokenRenewed = false;
    }
    this.owner.onMessage(m);
  }

  /** The current stream (already detached) ended with `err`. */
  private ended(err: unknown): void {
    if (this.current !== 'connecting' && this.current !== 'open') return;
    let verdict = this.classify(err);
    if (verdict === 'client-closed') {
      trace(this.options.component, `${this.options.label} stream: client closed`);
      this.owner.onClientClosed?.();
      return;
    }
    if (this.owner.onEnd) verdict = this.owner.onEnd(err, verdict);
    if (this.current !== 'connecting' && this.current !== 'open') return; // the owner stopped or closed it
    if (typeof verdict === 'object') {
      this.goIdle(`halted: ${verdict.halt.code} ${verdict.halt.details}`);
      this.owner.onHalt(verdict.halt);
      return;
    }
    if (verdict === 'client-closed') return this.owner.onClientClosed?.();
    if (verdict === 'renew-token') {
      this.tokenRenewed = true;
      this.owner.renewToken?.();
    }
    const wait = this.backoff(this.attempt++);
    const why = `${describe(err)}${verdict === 'renew-token' ? ', token renewed' : ''}; reopening in ${wait} ms`;
    this.goto('backoff', why);
    this.owner.onLost?.(err, wait);
    if ((this.current as StreamState) !== 'backoff') return; // the owner stopped or closed it meanwhile
    if (!this.owner.wanted()) return this.goIdle('nobody wants it');
    // Strong: a subscriber waits for this reopen (see the class comment).
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      if (this.current !== 'backoff') return;
      if (this.owner.wanted()) this.connect('backoff over');
      else this.goIdle('nobody wants it');
    }, wait);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}

function describe(err: unknown): string {
  if (err === null) return 'ended by the server';
  return err instanceof Error ? err.message : String(err);
}
