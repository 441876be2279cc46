// The one rule that says what to do when a stream (watch, lease keepalive, election observe, RangeStream) or a
// unary call ended. Every engine asks it, so a decision about how an end is treated is made here once.

import { ClientClosedError, GrpcStatusError, needsNewToken } from './errors';
import { streamMayReopen } from './retry';

/**
 * What to do after an end:
 * - `'client-closed'`: the client was closed; stop quietly, report nothing.
 * - `'renew-token'`: etcd refused the auth token; get a new one and open again (after the usual backoff).
 * - `'retry'`: transient; open again after a backoff.
 * - `{ halt: status }`: permanent; end whatever waits on the stream with this status.
 */
export type EndVerdict = 'client-closed' | 'renew-token' | 'retry' | { readonly halt: GrpcStatusError };

/** What the caller knows about its current failure streak. */
export interface EndContext {
  /**
   * The token was already renewed in this failure streak: since the last message from an opened stream (a
   * stream), or since the call began (a unary call).
   */
  readonly tokenRenewed: boolean;
  /** Whether a token can be renewed at all: false for a client without credentials (default true). */
  readonly canRenew?: boolean;
}

/**
 * Classifies how a stream or call ended: `err` is `null` for a clean end by the server, the status it failed
 * with, the open's rejection, or anything else a transport threw. The three decisions every engine shares:
 *
 * - **An error that is not a GrpcStatusError is transient: `'retry'`.** It is our own or the transport's
 *   failure (a socket torn down mid-frame, a decoder surprise), not etcd's answer, so it says nothing permanent
 *   about the request; a new stream may well work. (The election observer used to end on one; a watcher and a
 *   lease never did, and an observer should not give up more easily than they do.) A clean end (`null`) is
 *   `'retry'` too: etcd ends streams when a member shuts down.
 * - **The token is renewed once per failure streak.** A token refusal gives `'renew-token'` unless
 *   `tokenRenewed`; the caller then sets it, and clears it when an opened stream delivers a message (the new
 *   token works). A second refusal in the same streak means a new token does not help (the user was removed,
 *   its password changed): it is treated as its status says — `'retry'` for a transient code, otherwise a halt
 *   with that status. (The observer used to renew on every refusal, which can loop forever at full speed.)
 * - **Backoff timers** (not decided here but by the same contract, see reconnecting-stream.ts): a reopen timer
 *   keeps the process alive while a subscriber still wants the stream, and is cleared when it is closed.
 *
 * Statuses etcd may lift by itself (unavailable, no leader, a learner's refusal, a member cancelling its
 * streams on shutdown: `streamMayReopen`) are `'retry'`; every other status halts. A unary call uses only the
 * `'renew-token'` branch: whether it is sent again otherwise is the retry table's business (retry.ts).
 */
export function classifyEnd(err: unknown, context: EndContext): EndVerdict {
  if (err instanceof ClientClosedError) return 'client-closed';
  if (!(err instanceof GrpcStatusError)) return 'retry';
  if (needsNewToken(err) && !context.tokenRenewed && context.canRenew !== false) return 'renew-token';
  return streamMayReopen(err) ? 'retry' : { halt: err };
}
