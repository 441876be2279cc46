// The etcd version behind a client, read only when it matters: when a call that etcd 3.4 does not know is
// answered with UNIMPLEMENTED (errors.ts MIN_ETCD_VERSION), the error should say which version the server is.

import { MaintenanceService, StatusRequest } from '../generated/etcdserver/etcdserverpb/rpc';
import { ClientSlot, type Connection } from './connection';
import { ERROR_GRPC_UNIMPLEMENTED, GrpcStatusError, MIN_ETCD_VERSION, unsupportedByServer } from './errors';

/** The last version Maintenance.Status reported to this client. */
const SERVER_VERSION = new ClientSlot<string>('server version');

/** Asks the server (whichever member answers) for its version, and remembers it. */
async function readVersion(conn: Connection): Promise<string> {
  const res = await conn.unary(MaintenanceService.status, StatusRequest.fromPartial({}));
  conn.setSlot(SERVER_VERSION, res.version);
  return res.version;
}

/**
 * Turns an UNIMPLEMENTED answer to a call newer than etcd 3.4 into an UnsupportedByServerError naming the
 * server's version and the one the call needs; anything else comes back unchanged. The version is read with
 * one Status call and cached for the client. A cached version that should know the call is read again (the
 * client may have moved to another member of a cluster being upgraded or downgraded). When Status itself fails
 * (no permission on some 3.5/3.6 releases with auth on, say), the error still names the version needed.
 * Never rejects.
 */
export async function explainUnimplemented(conn: Connection, path: string, err: unknown): Promise<unknown> {
  if (!(err instanceof GrpcStatusError) || err.code !== ERROR_GRPC_UNIMPLEMENTED || MIN_ETCD_VERSION[path] === undefined) return err;
  let version = conn.peekSlot(SERVER_VERSION);
  const explained = version === undefined ? undefined : unsupportedByServer(path, err, version);
  if (explained !== undefined && explained !== err) return explained;
  try {
    version = await readVersion(conn);
  } catch (statusErr) {
    const why = statusErr instanceof GrpcStatusError ? `Status failed: ${statusErr.code} ${statusErr.details}` : String(statusErr);
    return conn.closed ? err : unsupportedByServer(path, err, undefined, why);
  }
  return unsupportedByServer(path, err, version);
}
