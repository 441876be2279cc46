import { AuthService, type AuthenticateResponse } from '../generated/etcdserver/etcdserverpb/rpc';
import type { Transport } from './transport/transport';

/**
 * Keeps the user/password token of one client. The token is fetched lazily, shared by all calls, renewed
 * before its TTL runs out (as C++ does, after `max(1, ttl - 3)` seconds) and at once when the server calls it
 * invalid. Concurrent callers share one Authenticate request.
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

  /** The token to send; authenticates first when there is none or it is about to expire. */
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
      const res: AuthenticateResponse = await this.transport.unary(
        AuthService.authenticate,
        { name: this.username, password: this.password },
        { deadline: this.deadline() },
      );
      this.current = res.token;
      this.obtainedAt = Date.now();
      return res.token;
    } finally {
      this.pending = undefined;
    }
  }
}
