import { AuthService, type AuthenticateResponse } from '../generated/etcdserver/etcdserverpb/rpc';
import { ERROR_GRPC_INVALID_ARGUMENT, ERROR_GRPC_UNAUTHENTICATED, GrpcStatusError } from './errors';
import { AUTH_FAILED, AUTH_NOT_ENABLED } from './server-messages';
import { trace } from './trace';
import type { Transport } from './transport/transport';

/** etcd's answer to Authenticate with a wrong user name or password (gRPC code 3, INVALID_ARGUMENT). */
export const MESSAGE_AUTH_FAILED = AUTH_FAILED;
/** etcd's answer to Authenticate when the server runs without authentication. */
const MESSAGE_AUTH_NOT_ENABLED = AUTH_NOT_ENABLED;

/**
 * Keeps the user/password token of one client. The token is fetched lazily, shared by all calls, renewed
 * before its TTL runs out (as C++ does, after `max(1, ttl - 3)` seconds) and at once when the server calls it
 * invalid. Concurrent callers share one Authenticate request.
 *
 * - A wrong user name or password rejects with UNAUTHENTICATED (16) and etcd's text. etcd itself answers
 *   INVALID_ARGUMENT (3), but what the caller sees is a call that failed because the client could not
 *   authenticate, and 16 is the code etcd gives every other "your credentials are not good" answer (an invalid
 *   token). It is final: nothing retries it, so a wrong password never turns into a reconnect loop.
 * - A server without authentication answers 'authentication is not enabled': the token is then `''` (no token
 *   is sent, as etcd's Go client does) until the next renewal, so enabling auth later is picked up when etcd
 *   answers 'user name is empty'.
 */
export class Auth {
  private current: string | undefined;
  private obtainedAt = 0;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly username: string,
    private readonly password: string,
    private readonly ttlSeconds: number,
    private readonly deadline: () => number | undefined,
  ) {}

  /**
   * The token to send (`''`: send none); authenticates first when there is none or it is about to expire.
   * Rejects with the GrpcStatusError of a failed Authenticate (16 for wrong credentials, see above).
   */
  token(): Promise<string> {
    const fresh = Date.now() - this.obtainedAt < Math.max(1, this.ttlSeconds - 3) * 1000;
    if (this.current !== undefined && fresh) return Promise.resolve(this.current);
    return (this.pending ??= this.authenticate());
  }

  /** Drops `stale` so the next `token()` authenticates again (unless another caller already renewed it). */
  invalidate(stale: string | undefined): void {
    if (stale === undefined || stale === this.current) this.current = undefined;
  }

  /** The token last obtained, if any (C++ `current_auth_token()`). */
  get lastToken(): string {
    return this.current ?? '';
  }

  private async authenticate(): Promise<string> {
    try {
      let token: string;
      try {
        const res: AuthenticateResponse = await this.transport.unary(
          AuthService.authenticate,
          { name: this.username, password: this.password },
          { deadline: this.deadline() },
        );
        token = res.token;
        trace('auth', `authenticated as ${JSON.stringify(this.username)}`);
      } catch (err) {
        if (!(err instanceof GrpcStatusError)) throw err;
        if (err.details === MESSAGE_AUTH_NOT_ENABLED) {
          trace('auth', 'authentication is not enabled on the server: sending no token');
          token = '';
        } else if (err.code === ERROR_GRPC_INVALID_ARGUMENT && err.details === MESSAGE_AUTH_FAILED) {
          trace('auth', `authentication as ${JSON.stringify(this.username)} failed`);
          throw new GrpcStatusError(ERROR_GRPC_UNAUTHENTICATED, err.details, err.sent, err.localDeadline);
        } else throw err;
      }
      this.current = token;
      this.obtainedAt = Date.now();
      return token;
    } finally {
      this.pending = undefined;
    }
  }
}
