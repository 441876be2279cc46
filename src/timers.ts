// The one place that knows how long a Node timer can wait. Node fires a timer set beyond 2^31 − 1 ms after
// 1 ms (with a warning), so every deadline, backoff and lease timer in the client is capped here and re-armed
// by its owner when it fires early.

/** The longest delay a Node timer honours: 2^31 − 1 ms (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` capped to what a Node timer can wait; negative and NaN delays become 0. */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms;
}
