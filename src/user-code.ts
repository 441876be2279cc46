// Calling code the user gave us (watch callbacks, discovery's onOnline/onLost/…): a bottom-layer utility with
// no imports, so the engines and discovery can share it.

/**
 * Runs `fn(...args)`, the user's code. If it throws, the exception is rethrown on its own tick (an uncaught
 * exception the user sees) instead of unwinding through the caller, whose state stays consistent.
 */
export function callUser<A extends unknown[]>(fn: (...args: A) => void, ...args: A): void {
  try {
    fn(...args);
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}
