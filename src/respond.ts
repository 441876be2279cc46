import type { Connection } from './connection';
import { ClientClosedError, toFailure } from './errors';
import { Response, type ResponseInit } from './response';

/**
 * Runs one call and shapes its outcome as a Response: success as `body` builds it, a server or network
 * failure as `(code, message)` with the given action. Only a closed client (ClientClosedError) and the
 * caller's own abort reject.
 */
export async function respond(
  conn: Connection,
  action: string,
  body: () => Promise<ResponseInit>,
  signal?: AbortSignal,
): Promise<Response> {
  const start = performance.now();
  try {
    const init = await body();
    init.action ??= action;
    init.durationMs = performance.now() - start;
    return new Response(init);
  } catch (err) {
    if (err instanceof ClientClosedError || conn.closed) throw err instanceof ClientClosedError ? err : new ClientClosedError();
    if (signal?.aborted && err === signal.reason) throw err;
    const { code, message } = toFailure(err);
    return new Response({ code, message, action, durationMs: performance.now() - start });
  }
}
