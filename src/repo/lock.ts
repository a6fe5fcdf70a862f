/**
 * @module repo/lock
 * Repository locks: shared for backup (many may run), exclusive for prune (nothing else may).
 * A held lock is refreshed every few minutes; one that was not refreshed for STALE_AFTER_MS,
 * or whose process is provably gone (same host, pid not running), is stale.
 *
 * WAL pushes take shared locks of scope 'wal' (they store only name-addressed WAL objects),
 * which prune's exclusive lock lets through (`walAllowed`): PostgreSQL keeps archiving while
 * a prune runs, as it would with pgBackRest's expire. Key rotation's exclusive lock does not
 * (a push sealing with a key being retired would outlive it). Lock files without these
 * fields (older versions) conflict as before.
 *
 * A prune with a grace period (maintenance/prune.ts) deletes only what no backup can still
 * reference, so it takes a shared lock of scope 'prune': backups go on beside it, while it
 * conflicts with another such prune and with every exclusive lock. Older versions read it
 * as a plain shared lock (their backups proceed, their exclusive work waits).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../clock.js';
import { errnoCode, isLifeboatError, LifeboatError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import type { KeyRing } from './crypto.js';

/** Lock-folder names that are leases (repo/lease), not locks: listLocks skips them. */
export const LEASE_PREFIX = 'lease-';

export const REFRESH_EVERY_MS = 5 * 60 * 1000;
export const STALE_AFTER_MS = 30 * 60 * 1000;
const AAD = Buffer.from('lifeboat lock v1');

export interface LockInfo {
  /** Storage name of the lock file. */
  name: string;
  exclusive: boolean;
  operation: string;
  host: string;
  pid: number;
  /** When the lock was taken. */
  created: string;
  /** When it was last refreshed. */
  time: string;
  /** The file could not be read (damaged, or sealed with a retired key). */
  damaged?: boolean;
  /** 'wal': a shared holder that only stores WAL objects; 'prune': a prune with a grace period. */
  scope?: 'wal' | 'prune';
  /** An exclusive holder that lets 'wal' holders work alongside (prune). */
  walAllowed?: boolean;
}

export interface LockOptions {
  /** Shared locks: 'wal' when the holder only stores WAL objects; 'prune' for a prune with a grace. */
  scope?: 'wal' | 'prune';
  /** Exclusive locks: let 'wal' holders take and keep their locks. */
  walAllowed?: boolean;
  /**
   * While a conflicting lock is held, try again every LOCK_RETRY_MS for up to this long
   * before failing (default 0: fail at once). Wall-clock time.
   */
  waitMs?: number;
  /** Told once, with the lock error naming the holder, when a wait begins. */
  onWait?: (why: string) => void;
}

/** How often a lock wait tries again. */
export const LOCK_RETRY_MS = 2_000;

export type LockState = 'alive' | 'stale' | 'dead';

/** dead: same host and the process is gone; stale: not refreshed for too long; else alive. */
export function lockState(lock: LockInfo, now: Date): LockState {
  if (lock.damaged) return 'stale';
  if (lock.host === hostname() && !processAlive(lock.pid)) return 'dead';
  if (now.getTime() - new Date(lock.time).getTime() > STALE_AFTER_MS) return 'stale';
  return 'alive';
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

export async function listLocks(backend: Backend, key: KeyRing): Promise<LockInfo[]> {
  const locks: LockInfo[] = [];
  for await (const f of backend.list('lock')) {
    if (f.name.startsWith(LEASE_PREFIX)) continue; // a lease (lease.ts), not a lock
    let raw: Buffer;
    try {
      raw = await backend.load({ type: 'lock', name: f.name });
    } catch (err) {
      if ((err as { code?: string }).code === 'not_found') continue; // released meanwhile
      throw err;
    }
    try {
      const info = JSON.parse(key.open(raw, AAD, `lock ${f.name.slice(0, 8)}`).toString('utf8'));
      locks.push({ ...info, name: f.name });
    } catch {
      // Unreadable: its holder is unknown. A live holder rewrites it within minutes.
      const epoch = new Date(0).toISOString();
      locks.push({
        name: f.name,
        damaged: true,
        exclusive: false,
        operation: 'unknown',
        host: '?',
        pid: 0,
        created: epoch,
        time: epoch,
      });
    }
  }
  return locks;
}

/** Who holds a lock: "backup of app pid 4711 on host db1 since 10:02 UTC (12 min)". */
export function describeHolder(lock: LockInfo, now: Date): string {
  if (lock.damaged) return `damaged lock file ${lock.name.slice(0, 8)}`;
  const since = new Date(lock.created);
  const minutes = Math.max(0, Math.round((now.getTime() - since.getTime()) / 60000));
  const hhmm = since.toISOString().slice(11, 16);
  return `${lock.operation} pid ${lock.pid} on host ${lock.host} since ${hhmm} UTC (${minutes} min)`;
}

export function describeLock(lock: LockInfo, location: string, now: Date): string {
  if (lock.damaged) return `repository at ${location} has a damaged lock file ${lock.name.slice(0, 8)}`;
  return `repository at ${location} is locked by ${describeHolder(lock, now)}`;
}

export class RepositoryLock {
  /** Locks this process holds, so an interrupted command can release them on its way out. */
  static readonly held = new Set<RepositoryLock>();
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  private writing: Promise<void> | undefined;

  private constructor(
    private readonly backend: Backend,
    private readonly key: KeyRing,
    private readonly clock: Clock,
    readonly info: LockInfo,
  ) {}

  /**
   * Takes a lock. Fails with code 'locked' when a conflicting lock is held (see conflicts()),
   * at once or after options.waitMs.
   * Dead locks are removed on the way.
   */
  static async acquire(
    backend: Backend,
    key: KeyRing,
    clock: Clock,
    exclusive: boolean,
    operation: string,
    options: LockOptions = {},
  ): Promise<RepositoryLock> {
    const now = clock.now().toISOString();
    const info: LockInfo = {
      name: randomBytes(32).toString('hex'),
      exclusive,
      operation,
      host: hostname(),
      pid: process.pid,
      created: now,
      time: now,
    };
    if (!exclusive && options.scope) info.scope = options.scope;
    if (exclusive && options.walAllowed) info.walAllowed = true;
    await waitForConflicts(backend, key, clock, info, options);
    const lock = new RepositoryLock(backend, key, clock, info);
    // Held from before the write, so an interrupt during it still releases the lock.
    RepositoryLock.held.add(lock);
    await lock.write();
    try {
      // Two processes may have written at the same moment: re-check with ours in place.
      await checkConflicts(backend, key, clock, info, info.name);
    } catch (err) {
      await lock.release();
      throw err;
    }
    lock.timer = setInterval(() => {
      lock.refresh().catch(() => {});
    }, REFRESH_EVERY_MS);
    lock.timer.unref();
    return lock;
  }

  async refresh(): Promise<void> {
    if (this.released) return;
    this.info.time = this.clock.now().toISOString();
    await this.write();
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.released = true;
    RepositoryLock.held.delete(this);
    // A write still in flight would put the file back after the removal: let it land first.
    await this.writing?.catch(() => {});
    await this.backend.remove({ type: 'lock', name: this.info.name });
  }

  private async write(): Promise<void> {
    const { name: _name, ...body } = this.info;
    const sealed = this.key.sealIndex(Buffer.from(JSON.stringify(body)), AAD);
    this.writing = this.backend.save({ type: 'lock', name: this.info.name }, sealed);
    try {
      await this.writing;
    } finally {
      this.writing = undefined;
    }
  }
}

/** checkConflicts, tried again every LOCK_RETRY_MS while a conflicting lock is held, up to options.waitMs. */
async function waitForConflicts(
  backend: Backend,
  key: KeyRing,
  clock: Clock,
  info: LockInfo,
  options: LockOptions,
): Promise<void> {
  const waitMs = options.waitMs ?? 0;
  const began = Date.now();
  for (let told = false; ; told = true) {
    try {
      return await checkConflicts(backend, key, clock, info, undefined);
    } catch (err) {
      if (!isLifeboatError(err) || err.code !== 'locked') throw err;
      const waited = Date.now() - began;
      if (waited >= waitMs) {
        if (waitMs === 0) throw err;
        throw new LifeboatError('locked', `${err.message} (waited ${Math.round(waited / 1000)} s for it)`, {
          cause: err,
          retryable: true,
        });
      }
      if (!told) options.onWait?.(err.message);
      await sleep(Math.min(LOCK_RETRY_MS, waitMs - waited));
    }
  }
}

/**
 * True when `held` keeps `wanted` from being taken: two shared locks never conflict, except
 * two of scope 'prune'; a 'wal' shared lock and an exclusive one that allows WAL holders do
 * not; anything else with an exclusive lock does. A damaged lock cannot show who holds it: only exclusive work waits
 * for it.
 */
export function conflicts(wanted: Omit<LockInfo, 'name'>, held: LockInfo): boolean {
  if (held.damaged) return wanted.exclusive || wanted.scope === 'prune';
  // Two prunes must not both judge and delete: the second waits.
  if (!wanted.exclusive && !held.exclusive) return wanted.scope === 'prune' && held.scope === 'prune';
  const [excl, other] = wanted.exclusive ? [wanted, held] : [held, wanted];
  if (!other.exclusive && other.scope === 'wal' && excl.walAllowed === true) return false;
  return true;
}

async function checkConflicts(
  backend: Backend,
  key: KeyRing,
  clock: Clock,
  wanted: LockInfo,
  own: string | undefined,
): Promise<void> {
  const now = clock.now();
  for (const lock of await listLocks(backend, key)) {
    if (lock.name === own) continue;
    if (!conflicts(wanted, lock)) continue;
    const state = lockState(lock, now);
    if (state === 'dead') {
      await backend.remove({ type: 'lock', name: lock.name });
      continue;
    }
    const hint = lock.damaged
      ? 'if no lifeboat command is running on this repository, run `lifeboat unlock` to remove it'
      : state === 'stale'
        ? 'it has not been refreshed for over 30 min; if that process is gone, run `lifeboat unlock`'
        : 'wait for it to finish; if that process is gone, run `lifeboat unlock`';
    throw new LifeboatError('locked', `[repo] ${describeLock(lock, backend.location, now)}; ${hint}`, {
      retryable: true,
    });
  }
}

/** Releases every lock this process holds (on SIGINT/SIGTERM). */
export async function releaseAllLocks(): Promise<void> {
  await Promise.all([...RepositoryLock.held].map((l) => l.release().catch(() => {})));
}
