/**
 * @module server/auth
 * Bearer tokens and the limit on failed logins: an address that presents 10 bad tokens within
 * a minute has its further bad tokens answered 429 until the oldest failure ages out. Valid
 * tokens from that address still pass: a token is 256 random bits, so the limit is there to
 * stop floods, and it must not let a stranger behind the same proxy lock everyone out. Time
 * comes from the injected clock.
 */
import type { Clock } from '../clock.js';

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export class FailedAuthLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly max = 10,
    private readonly windowMs = 60_000,
    /** Addresses tracked at most; the oldest are forgotten first. */
    private readonly capacity = 10_000,
  ) {}

  /** Milliseconds until `ip` may try again; 0 when it may now. */
  blockedFor(ip: string): number {
    const recent = this.recent(ip);
    if (recent.length < this.max) return 0;
    return Math.max(1, recent[recent.length - this.max] + this.windowMs - this.clock.now().getTime());
  }

  fail(ip: string): void {
    const recent = this.recent(ip);
    recent.push(this.clock.now().getTime());
    this.failures.delete(ip);
    this.failures.set(ip, recent.slice(-this.max));
    if (this.failures.size > this.capacity) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
  }

  private recent(ip: string): number[] {
    const cutoff = this.clock.now().getTime() - this.windowMs;
    return (this.failures.get(ip) ?? []).filter((t) => t > cutoff);
  }
}
