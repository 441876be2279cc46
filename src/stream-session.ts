// The stream bookkeeping the watch engine, the lease keeper and the observer share: at most one stream is
// current, and whatever an older stream (or an open still in flight when it was superseded) reports later is
// dropped, so an engine never has to ask "is this from the stream I have now?".

import type { StreamCall, StreamHandlers } from './transport/transport';

/** What the owner of a StreamSession hears, only ever about the current stream. */
export interface SessionEvents<Res> {
  /** The open resolved and the stream is current: `session.call` is set. */
  onOpen(): void;
  onMessage(message: Res): void;
  /**
   * The current stream is over: `null` when the server ended it cleanly, its status when it failed, or the
   * open's rejection (ClientClosedError, an authentication failure). `session.call` is left as it was: the
   * owner detaches it.
   */
  onClose(error: unknown): void;
}

/**
 * One owner's current stream. Every `open()` or `detach()` starts a new generation; callbacks, opens and guards
 * of an earlier generation then do nothing, except that a stream whose open resolves too late is cancelled, so
 * the server drops it and nothing leaks.
 */
export class StreamSession<Req, Res> {
  private generation = 0;
  private current: StreamCall<Req> | undefined;

  constructor(
    /** Opens a stream (rejects with ClientClosedError or an authentication failure). */
    private readonly openStream: (handlers: StreamHandlers<Res>) => Promise<StreamCall<Req>>,
    private readonly events: SessionEvents<Res>,
  ) {}

  /** The open stream, once `onOpen` has been called and until `detach()`. */
  get call(): StreamCall<Req> | undefined {
    return this.current;
  }

  /**
   * Opens a new stream, superseding any open still in flight. Callers detach the previous stream first: this
   * does not cancel it. What `openStream` throws synchronously is thrown from here.
   */
  open(): void {
    const generation = ++this.generation;
    this.openStream({
      onMessage: (m) => {
        if (generation === this.generation) this.events.onMessage(m);
      },
      onClose: (err) => {
        if (generation === this.generation) this.events.onClose(err);
      },
    }).then(
      (call) => {
        if (generation !== this.generation) return call.cancel();
        this.current = call;
        this.events.onOpen();
      },
      (err: unknown) => {
        if (generation === this.generation) this.events.onClose(err);
      },
    );
  }

  /**
   * Forgets the current stream and silences everything from it, an open in flight and every guard; returns
   * the stream so the caller chooses how and when to end it (cancel, half-close). Idempotent.
   */
  detach(): StreamCall<Req> | undefined {
    this.generation++;
    const call = this.current;
    this.current = undefined;
    return call;
  }

  /** True until the next `open()` or `detach()`: lets a backoff timer tell it has been overtaken. */
  guard(): () => boolean {
    const generation = this.generation;
    return () => generation === this.generation;
  }
}
