// The gRPC wire format as the node:http2 transport needs it: message framing, the grpc-timeout header, and
// how HTTP/2 outcomes (HTTP status, RST_STREAM codes) become gRPC status codes. Pure functions, no sockets.

import { constants } from 'node:http2';

// The gRPC status codes come from the one table in errors.ts, under the names this transport uses.
export {
  ERROR_GRPC_OK as STATUS_OK,
  ERROR_GRPC_CANCELLED as STATUS_CANCELLED,
  ERROR_GRPC_UNKNOWN as STATUS_UNKNOWN,
  ERROR_GRPC_DEADLINE_EXCEEDED as STATUS_DEADLINE_EXCEEDED,
  ERROR_GRPC_PERMISSION_DENIED as STATUS_PERMISSION_DENIED,
  ERROR_GRPC_RESOURCE_EXHAUSTED as STATUS_RESOURCE_EXHAUSTED,
  ERROR_GRPC_UNIMPLEMENTED as STATUS_UNIMPLEMENTED,
  ERROR_GRPC_INTERNAL as STATUS_INTERNAL,
  ERROR_GRPC_UNAVAILABLE as STATUS_UNAVAILABLE,
  ERROR_GRPC_UNAUTHENTICATED as STATUS_UNAUTHENTICATED,
} from '../../errors';
import {
  ERROR_GRPC_CANCELLED as STATUS_CANCELLED,
  ERROR_GRPC_INTERNAL as STATUS_INTERNAL,
  ERROR_GRPC_PERMISSION_DENIED as STATUS_PERMISSION_DENIED,
  ERROR_GRPC_RESOURCE_EXHAUSTED as STATUS_RESOURCE_EXHAUSTED,
  ERROR_GRPC_UNAUTHENTICATED as STATUS_UNAUTHENTICATED,
  ERROR_GRPC_UNAVAILABLE as STATUS_UNAVAILABLE,
  ERROR_GRPC_UNIMPLEMENTED as STATUS_UNIMPLEMENTED,
  ERROR_GRPC_UNKNOWN as STATUS_UNKNOWN,
} from '../../errors';

/**
 * One length-prefixed message: flag byte 0 (uncompressed), 4-byte big-endian length, payload. One allocation
 * and one copy: the serializer hands us a finished Buffer, and a single frame keeps it one DATA write.
 */
export function frameMessage(payload: Uint8Array): Buffer {
  const len = payload.length;
  const frame = Buffer.allocUnsafe(5 + len);
  frame[0] = 0;
  frame.writeUInt32BE(len, 1);
  frame.set(payload, 5);
  return frame;
}

/** The `grpc-timeout` header value for `ms` milliseconds (at most 8 digits, as the spec requires). */
export function grpcTimeout(ms: number): string {
  ms = Math.max(1, Math.ceil(ms));
  if (ms < 1e8) return `${ms}m`;
  const s = Math.ceil(ms / 1000);
  if (s < 1e8) return `${s}S`;
  const m = Math.ceil(s / 60);
  if (m < 1e8) return `${m}M`;
  return `${Math.min(Math.ceil(m / 60), 99_999_999)}H`;
}

/**
 * `grpc-message` is percent-encoded UTF-8. Invalid escapes are kept as they are (the spec says to never fail
 * a call because of its message).
 */
export function decodeGrpcMessage(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  return raw.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

/** The `grpc-status` header as a code; anything malformed is UNKNOWN. */
export function parseGrpcStatus(raw: string | string[]): number {
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isInteger(code) && code >= 0 && code <= 16 ? code : STATUS_UNKNOWN;
}

/** gRPC's "HTTP to gRPC status" table, for responses without grpc-status (proxies, wrong servers). */
export function httpStatusToGrpc(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return STATUS_INTERNAL;
    case 401:
      return STATUS_UNAUTHENTICATED;
    case 403:
      return STATUS_PERMISSION_DENIED;
    case 404:
      return STATUS_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return STATUS_UNAVAILABLE;
    default:
      return STATUS_UNKNOWN;
  }
}

/** The status for a stream the server reset (RST_STREAM) before it sent a gRPC status. */
export function rstCodeToGrpc(rstCode: number): { code: number; details: string } {
  switch (rstCode) {
    case constants.NGHTTP2_NO_ERROR:
      return { code: STATUS_INTERNAL, details: 'server closed the stream without sending a gRPC status' };
    case constants.NGHTTP2_REFUSED_STREAM:
      return { code: STATUS_UNAVAILABLE, details: 'stream refused by the server (RST_STREAM REFUSED_STREAM)' };
    case constants.NGHTTP2_CANCEL:
      return { code: STATUS_CANCELLED, details: 'stream cancelled by the server (RST_STREAM CANCEL)' };
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return { code: STATUS_RESOURCE_EXHAUSTED, details: 'bandwidth exhausted or memory limit exceeded (RST_STREAM ENHANCE_YOUR_CALM)' };
    case constants.NGHTTP2_INADEQUATE_SECURITY:
      return { code: STATUS_PERMISSION_DENIED, details: 'protocol not secure enough (RST_STREAM INADEQUATE_SECURITY)' };
    default:
      return { code: STATUS_INTERNAL, details: `stream reset by the server (RST_STREAM code ${rstCode})` };
  }
}

/** True for the content types a gRPC server answers with (`application/grpc`, `application/grpc+proto`, ...). */
export function isGrpcContentType(ct: string | undefined): boolean {
  return ct !== undefined && (ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;'));
}

/** The text of a thrown value, for the details of the status it becomes. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
