/**
 * @module catalog/audit-log
 * The audit log: who did what, append-only and hash-chained. Each entry stores
 * `hash = sha256(prev_hash || canonical JSON of {seq, time, actor, action, target, details})`,
 * and the catalog keeps the head (last seq and hash) beside it, so an edited entry, a deleted
 * one (even the last) or a reordering is detected by `verify()`. Triggers refuse UPDATE and
 * DELETE; someone with write access to the file can drop them, which is what the chain is for.
 * The chain cannot stop that person from rewriting every hash after an edit: ship the head
 * (`lifeboat audit verify --json` prints it) somewhere else to anchor it.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Clock } from '../clock.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntry {
  seq: number;
  time: string;
  /** Token name, `cli:<user>`, or `server`. */
  actor: string;
  /** Dotted verb: backup.request, restore.request, restore.approve, token.create, ... */
  action: string;
  /** What it acted on: a source, a job id, a token name. */
  target: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export interface NewAuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  head: { seq: number; hash: string } | null;
  /** The first entry that does not hold, with why. */
  firstBad?: { seq: number; reason: string };
}

interface AuditRow {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value as Record<string, unknown>)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

export function entryHash(prevHash: string, entry: Omit<AuditEntry, 'prev_hash' | 'hash'>): string {
  const body = canonicalJson({
    seq: entry.seq,
    time: entry.time,
    actor: entry.actor,
    action: entry.action,
    target: entry.target,
    details: entry.details,
  });
  return createHash('sha256').update(prevHash).update(body).digest('hex');
}

/** The audit chain in the SQLite catalog: the catalog's AuditStore. */
export class AuditLog {
  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
  ) {}

  async append(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.appendNow(entry);
  }

  /**
   * Appends at once, in the caller's transaction when there is one (a token change and its
   * entry commit together).
   */
  appendNow(entry: NewAuditEntry): AuditEntry {
    const write = this.db.transaction((): AuditEntry => {
      const last = this.db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as
        | { seq: number; hash: string }
        | undefined;
      const base = {
        seq: (last?.seq ?? 0) + 1,
        time: this.clock.now().toISOString(),
        actor: entry.actor,
        action: entry.action,
        target: entry.target ?? null,
        details: JSON.parse(JSON.stringify(entry.details ?? {})) as Record<string, unknown>,
      };
      const prev = last?.hash ?? GENESIS_HASH;
      const full: AuditEntry = { ...base, prev_hash: prev, hash: entryHash(prev, base) };
      this.db
        .prepare(
          `INSERT INTO audit (seq, time, actor, action, target, details, prev_hash, hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          full.seq,
          full.time,
          full.actor,
          full.action,
          full.target,
          canonicalJson(full.details),
          prev,
          full.hash,
        );
      this.db
        .prepare(
          `INSERT INTO meta (key, value) VALUES ('audit_head', ?)
           ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
        )
        .run(`${full.seq}:${full.hash}`);
      return full;
    });
    // IMMEDIATE: two processes appending at once must not both read the same last entry.
    return write.immediate();
  }

  /** Newest first. */
  async list(filter: { since?: string; action?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.since) {
      where.push('time >= ?');
      values.push(filter.since);
    }
    if (filter.action) {
      where.push('(action = ? OR action LIKE ?)');
      values.push(filter.action, `${filter.action}.%`);
    }
    const rows = this.db
      .prepare(
        `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`,
      )
      .all(...values, filter.limit ?? 100) as AuditRow[];
    return rows.map(toEntry);
  }

  /** Walks the chain from the first entry; stops at the first one that does not hold. */
  async verify(): Promise<AuditVerification> {
    const head = this.db.prepare("SELECT value FROM meta WHERE key = 'audit_head'").get() as
      | { value: string }
      | undefined;
    const rows = this.db.prepare('SELECT * FROM audit ORDER BY seq').iterate() as IterableIterator<AuditRow>;
    return verifyChain(rows, head?.value);
  }
}

/** An audit row as stored: `details` is the canonical JSON text that was hashed. */
export interface StoredAuditRow {
  seq: number | string;
  time: string;
  actor: string;
  action: string;
  target: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

/**
 * Walks a chain's rows in `seq` order from the first, against the recorded head
 * (`seq:hash`): stops at the first entry that does not hold and says why. Both catalogs
 * (SQLite and PostgreSQL) verify through this one walk.
 */
export async function verifyChain(
  rows: Iterable<StoredAuditRow> | AsyncIterable<StoredAuditRow>,
  recordedHead: string | undefined,
): Promise<AuditVerification> {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  let last: { seq: number; hash: string } | null = null;
  const fail = (seq: number, reason: string): AuditVerification => ({
    ok: false,
    entries: count,
    head: last,
    firstBad: { seq, reason },
  });
  for await (const row of rows) {
    const seq = Number(row.seq);
    if (seq !== expectedSeq) {
      return fail(
        expectedSeq,
        seq > expectedSeq
          ? `entry ${expectedSeq} is missing (the log goes from ${expectedSeq - 1} to ${seq}): deleted`
          : `entry ${seq} is out of order`,
      );
    }
    if (row.prev_hash !== prev) {
      return fail(
        seq,
        `entry ${seq} does not chain to entry ${seq - 1} (prev_hash differs): an entry before it was replaced`,
      );
    }
    let entry: AuditEntry;
    try {
      entry = toEntry(row);
    } catch {
      return fail(seq, `entry ${seq} has details that are not JSON: edited`);
    }
    if (entryHash(prev, entry) !== row.hash) {
      return fail(seq, `entry ${seq} does not match its hash: edited`);
    }
    prev = row.hash;
    last = { seq, hash: row.hash };
    count++;
    expectedSeq++;
  }
  const actual = last ? `${last.seq}:${last.hash}` : undefined;
  if (recordedHead !== actual) {
    const headSeq = Number((recordedHead ?? '0:').split(':')[0]);
    if (headSeq > (last?.seq ?? 0)) {
      return fail(
        (last?.seq ?? 0) + 1,
        `entries ${(last?.seq ?? 0) + 1} to ${headSeq} are missing from the end of the log: deleted`,
      );
    }
    return fail(last?.seq ?? 0, 'the recorded head of the log does not match its last entry: edited');
  }
  return { ok: true, entries: count, head: last };
}

/** A stored row as an entry (throws when its details are not JSON). */
export function toEntry(row: StoredAuditRow): AuditEntry {
  return {
    seq: Number(row.seq),
    time: row.time,
    actor: row.actor,
    action: row.action,
    target: row.target,
    details: JSON.parse(row.details),
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}
