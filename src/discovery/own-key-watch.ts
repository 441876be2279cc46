// The watch a registration keeps on its own key, to see the key deleted or taken over.

import type { Response } from '../core';
import type { KeyWatch, RegistrationPorts } from './registration-ports';

/**
 * @internal One watch of a registration's key. `stop()` silences it at once: after it, neither a response
 * nor the watch's end reaches the registration, whatever the watch still delivers.
 */
export class OwnKeyWatch {
  private constructor(
    /** The watch itself (its `ready()` tells when etcd watches). */
    readonly watch: KeyWatch,
    private readonly stopper: AbortController,
  ) {}

  /**
   * Watches `key` from `revision`: `onResponse` gets each Response, `onEnd(cancelled)` the watch's end unless
   * stop() came first. Returns undefined if the client is closed (the key then expires after the TTL).
   */
  static start(
    ports: RegistrationPorts,
    key: string,
    revision: number,
    onResponse: (r: Response) => void,
    onEnd: (cancelled: boolean) => void,
  ): OwnKeyWatch | undefined {
    const stopper = new AbortController();
    let w: KeyWatch;
    try {
      w = ports.watch(key, revision, (r) => {
        if (!stopper.signal.aborted) onResponse(r);
      });
    } catch {
      return undefined; // ClientClosedError
    }
    void w.Wait().then((cancelled) => {
      if (!stopper.signal.aborted) onEnd(cancelled);
    });
    return new OwnKeyWatch(w, stopper);
  }

  /** Silences the watch now and cancels it; resolves when it is cancelled (never rejects). */
  stop(): Promise<void> {
    this.stopper.abort();
    return this.watch.Cancel().then(
      () => {},
      () => {},
    );
  }
}
