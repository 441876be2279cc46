// What the watch engine hands its watchers: etcd's watch responses turned into C++-style Responses (events,
// compaction, refusals). Pure: no stream, no state.

import type { Event as PbEvent } from '../generated/mvcc/mvccpb/kv';
import { Event_EventType } from '../generated/mvcc/mvccpb/kv';
import { ERROR_GRPC_OUT_OF_RANGE } from './errors';
import { Event, Response } from './response';
import { COMPACTED } from './server-messages';

export const ACTION_WATCH = 'watch';
/** C++'s wording for a watch ended by compaction. */
export const MESSAGE_COMPACTED = COMPACTED;

/** The C++ watch Response: action, value and prev value from the first event; all events in `events()`. */
export function eventsResponse(events: PbEvent[], revision: number, watchId: number): Response {
  const first = events[0]!;
  let action: string;
  if (first.type === Event_EventType.DELETE) action = 'delete';
  else action = first.kv && first.kv.version === 1n ? 'create' : 'set';
  const wrapped = events.map((e) => new Event(e));
  const init: ConstructorParameters<typeof Response>[0] = { action, index: revision, events: wrapped, watchId };
  if (first.kv) init.value = wrapped[0]!.kv();
  if (first.prevKv) init.prevValue = wrapped[0]!.prev_kv();
  return new Response(init);
}

/** A watcher ended by compaction: code 11 with C++'s text, `compact_revision()` and the header revision. */
export function compactedResponse(compactRevision: number, revision: number, watchId: number): Response {
  return new Response({ code: ERROR_GRPC_OUT_OF_RANGE, message: MESSAGE_COMPACTED, action: ACTION_WATCH, compactRevision, index: revision, watchId });
}

/** A watcher ended by a refusal or a failure: its code and text. */
export function failureResponse(code: number, message: string, watchId?: number): Response {
  return new Response(watchId === undefined ? { code, message, action: ACTION_WATCH } : { code, message, action: ACTION_WATCH, watchId });
}
