/**
 * @module repo/lease
 * A lease: one holder at a time across hosts for maintenance that must not run twice at once
 * (prune with a grace period), on storage with conditional writes (Backend.createIfAbsent,
 * replaceIfVersion). The lease object (`locks/lease-<name>`) holds the holder and an expiry;
 * the holder renews it well before then, and anyone may take it over once it has expired,
 * by a conditional replace, so of two takers only one wins and a dead holder blocks nobody
 * for longer than the lease's term. Release writes an expired lease rather than removing
 * the object: a removal cannot be made conditional everywhere, and could drop a successor's.
 *
 * Expiry compares the holder's clock with the taker's: hosts' clocks must agree to well
 * within the term (NTP).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../clock.js';
import { isLifeboatError, LifeboatError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import type { KeyRing } from './crypto.js';
import { LEASE_PREFIX } from './lock.js';

/** How long a lease lasts unless renewed. */
export const LEASE_TERM_MS = 10 * 60 * 1000;
/** How often a holder renews: several renewals fit in a term. */
export const LEASE_RENEW_MS = 2 * 60 * 1000;
const AAD = Buffer.from('lifeboat lease v1');

export interface LeaseInfo {
  /** Random per take: tells a holder's own lease from a successor's. */
  holder: string;
  operation: string;
  host: string;
  pid: number;
  taken: string;
  expires: string;
}

/** Whether this storage can hold leases (else the caller keeps to lock files). */
export function leasesSupported(backend: Backend): boolean {
  const b = backend;
  return !!(b.capabilities.conditionalWrites && b.createIfAbsent && b.loadVersioned && b.replaceIfVersion);
}

export class RepositoryLease {
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  private lostError: LifeboatError | undefined;

  private constructor(
    private readonly backend: Backend,
    private readonly key: KeyRing,
    private readonly clock: Clock,
    private readonly name: string,
    private readonly term: number,
    readonly info: LeaseInfo,
    private version: string,
  ) {}

  /**
   * Takes the lease `name` for `operation`, or fails with code 'locked' naming its live
   * holder. An expired or unreadable lease is taken over.
   */
  static async take(
    backend: Backend,
    key: KeyRing,
    clock: Clock,
    name: string,
    operation: string,
    term = LEASE_TERM_MS,
  ): Promise<RepositoryLease> {
    if (!leasesSupported(backend)) {
      throw new LifeboatError('internal', `[repo] storage at ${backend.location} has no conditional writes`);
    }
    const handle = { type: 'lock' as const, name: LEASE_PREFIX + name };
    const now = clock.now();
    const info: LeaseInfo = {
      holder: randomBytes(16).toString('hex'),
      operation,
      host: hostname(),
      pid: process.pid,
      taken: now.toISOString(),
      expires: new Date(now.getTime() + term).toISOString(),
    };
    const body = seal(key, info);
    let version = await backend.createIfAbsent!(handle, body);
    if (version === undefined) {
      const current = await backend.loadVersioned!(handle).catch((err) => {
        if (isLifeboatError(err) && err.code === 'not_found') return undefined; // removed meanwhile
        throw err;
      });
      if (!current) version = await backend.createIfAbsent!(handle, body);
      else {
        const held = open(key, current.data);
        if (held && new Date(held.expires).getTime() > now.getTime()) throw busy(backend, name, held, now);
        version = await backend.replaceIfVersion!(handle, body, current.version);
      }
      // Another taker was first: theirs now.
      if (version === undefined) throw busy(backend, name, undefined, now);
    }
    return RepositoryLease.held(backend, key, clock, name, term, info, version);
  }

  private static held(
    backend: Backend,
    key: KeyRing,
    clock: Clock,
    name: string,
    term: number,
    info: LeaseInfo,
    version: string,
  ): RepositoryLease {
    const lease = new RepositoryLease(backend, key, clock, name, term, info, version);
    lease.timer = setInterval(
      () => {
        lease.renew().catch(() => {});
      },
      Math.min(LEASE_RENEW_MS, Math.floor(term / 3)),
    );
    lease.timer.unref();
    return lease;
  }

  /**
   * Extends the lease by a term. Fails with code 'locked' once it was lost (not renewed in
   * time and taken over): the holder must stop before its next irreversible step.
   */
  async renew(): Promise<void> {
    if (this.lostError) throw this.lostError;
    if (this.released) return;
    const expires = new Date(this.clock.now().getTime() + this.term).toISOString();
    const next = { ...this.info, expires };
    const version = await this.backend.replaceIfVersion!(this.handle, seal(this.key, next), this.version);
    if (version === undefined) {
      this.lostError = new LifeboatError(
        'locked',
        `[repo] the ${this.name} lease at ${this.backend.location} was taken over (not renewed within ${Math.round(this.term / 60000)} min); this ${this.info.operation} stops (run it again)`,
        { retryable: true },
      );
      if (this.timer) clearInterval(this.timer);
      throw this.lostError;
    }
    this.version = version;
    this.info.expires = expires;
  }

  /** Ends the lease: it is written as expired, so the next taker need not wait. */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.released || this.lostError) return;
    this.released = true;
    const ended = { ...this.info, expires: new Date(0).toISOString() };
    await this.backend.replaceIfVersion!(this.handle, seal(this.key, ended), this.version);
  }

  private get handle() {
    return { type: 'lock' as const, name: LEASE_PREFIX + this.name };
  }
}

function seal(key: KeyRing, info: LeaseInfo): Buffer {
  return key.sealIndex(Buffer.from(JSON.stringify(info)), AAD);
}

/** The lease's content, or undefined when it does not open (then it counts as expired). */
function open(key: KeyRing, data: Buffer): LeaseInfo | undefined {
  try {
    return JSON.parse(key.open(data, AAD, 'lease').toString('utf8')) as LeaseInfo;
  } catch {
    return undefined;
  }
}

function busy(backend: Backend, name: string, held: LeaseInfo | undefined, now: Date): LifeboatError {
  const who = held
    ? `${held.operation} pid ${held.pid} on host ${held.host}, until ${held.expires.slice(11, 16)} UTC unless renewed (${Math.max(0, Math.round((new Date(held.expires).getTime() - now.getTime()) / 60000))} min)`
    : 'another process that took it a moment ago';
  return new LifeboatError(
    'locked',
    `[repo] repository at ${backend.location}: the ${name} lease is held by ${who}; wait for it to finish (a holder that is gone loses the lease when it expires)`,
    { retryable: true },
  );
}
