/**
 * @module catalog/catalog
 * The embedded home of the catalog (catalog/catalog-store): the server's state in one SQLite
 * file: job history, API tokens, the audit log and alert state. Useful, never needed to restore: the repository is the source of truth, and a
 * lost catalog is rebuilt for snapshots from it (catalog/catalog-rebuild). Several processes
 * (the daemon, `lifeboat jobs retry`, `lifeboat token create`) may write it at once: WAL mode
 * and a busy timeout make that safe.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../clock.js';
import { describe, errnoCode, LifeboatError } from '../errors.js';
import type { ProgressFigures } from '../progress.js';
import { AuditLog } from './audit-log.js';
import { type Outcomes, outcomesBySource } from './backup-outcomes.js';
import type { JobKind, JobStatus, JobTrigger } from './job-states.js';
import { withoutPasswords, withoutPasswordsInText } from './secret-free.js';
import { newJobId, TokenStore } from './tokens.js';

// The constants live apart, free of Node.js, for the schemas that the dashboard's types come from.
export {
  FINAL_STATUSES,
  JOB_KINDS,
  JOB_STATUSES,
  JOB_TRIGGERS,
  type JobKind,
  type JobStatus,
  type JobTrigger,
} from './job-states.js';

export interface JobRecord {
  id: string;
  kind: JobKind;
  /** The configured source; null for repository-wide jobs (prune, check). */
  source: string | null;
  trigger: JobTrigger;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  bytes_read: number | null;
  bytes_stored: number | null;
  /** The first snapshot written (a source with several units writes one per unit). */
  snapshot: string | null;
  snapshots: string[];
  error: string | null;
  /** Token name (API), `cli:<user>` or `scheduler`. */
  requested_by: string | null;
  approved_by: string | null;
  /** What to run: tags, restore target, check percentage. Never secrets. */
  params: Record<string, unknown>;
  /** What came out: removed snapshots, check counts, restore target and stats. */
  result: Record<string, unknown> | null;
  /** Synthesized from a snapshot in the repository, not recorded when it ran. */
  rebuilt: boolean;
  retry_of: string | null;
  /** `host:pid:nonce` of the process running it, so a crashed one's jobs can be told apart. */
  owner: string | null;
  /**
   * The latest progress the process running it stored (about every 2 s), so every instance
   * can show it; absent when none is stored (not running, or nothing to tell yet).
   */
  progress?: JobProgressState;
}

/** A running job's progress: its current phase's figures (files and bytes of the total, percent, ETA). */
export interface JobProgressState extends ProgressFigures {
  /** The phase the core named ("backup app-db", "restore"). */
  phase: string;
  /** Phases finished so far (a source with several units has one per unit). */
  phases_done: number;
  updated_at: string;
}

export interface NewJob {
  /** A given id (a schedule slot's, so a slot records one job however often it is claimed); else a new one. */
  id?: string;
  kind: JobKind;
  source: string | null;
  trigger: JobTrigger;
  status: 'queued' | 'awaiting_approval' | 'skipped';
  requested_by?: string | null;
  params?: Record<string, unknown>;
  error?: string | null;
  retry_of?: string | null;
  owner?: string | null;
}

export interface JobFilter {
  source?: string;
  status?: JobStatus;
  kind?: JobKind;
  /** Created at or after this ISO time. */
  since?: string;
  /** Created before this ISO time. */
  before?: string;
  limit?: number;
}

export interface JobUpdate {
  status?: JobStatus;
  started_at?: string | null;
  finished_at?: string | null;
  bytes_read?: number | null;
  bytes_stored?: number | null;
  snapshots?: string[];
  error?: string | null;
  approved_by?: string | null;
  result?: Record<string, unknown> | null;
  owner?: string | null;
  /** null clears it. */
  progress?: JobProgressState | null;
}

export interface AlertRecord {
  key: string;
  kind: string;
  source: string | null;
  state: 'firing' | 'resolved';
  summary: string;
  details: Record<string, unknown>;
  first_at: string;
  last_sent_at: string | null;
  resolved_at: string | null;
  sends: number;
}

/** The catalog file layout this Lifeboat writes; a newer one is refused. */
export const SQLITE_CATALOG_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  source TEXT,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  bytes_read INTEGER,
  bytes_stored INTEGER,
  snapshots TEXT NOT NULL DEFAULT '[]',
  error TEXT,
  requested_by TEXT,
  approved_by TEXT,
  params TEXT NOT NULL DEFAULT '{}',
  result TEXT,
  rebuilt INTEGER NOT NULL DEFAULT 0,
  retry_of TEXT,
  owner TEXT,
  progress TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
CREATE INDEX IF NOT EXISTS jobs_source_created ON jobs (source, created_at);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_kind_source_ended ON jobs (kind, source, COALESCE(started_at, created_at) DESC);
CREATE TABLE IF NOT EXISTS job_snapshots (snapshot TEXT PRIMARY KEY, job TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  last_used_at TEXT,
  labels TEXT
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  time TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS alerts (
  key TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  source TEXT,
  state TEXT NOT NULL,
  summary TEXT NOT NULL,
  details TEXT NOT NULL DEFAULT '{}',
  first_at TEXT NOT NULL,
  last_sent_at TEXT,
  resolved_at TEXT,
  sends INTEGER NOT NULL DEFAULT 0
);
`;

/** A jobs row as SQLite stores it (JSON columns as text). */
export interface JobRow {
  id: string;
  kind: string;
  source: string | null;
  trigger: string;
  status: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  bytes_read: number | null;
  bytes_stored: number | null;
  snapshots: string;
  error: string | null;
  requested_by: string | null;
  approved_by: string | null;
  params: string;
  result: string | null;
  rebuilt: number;
  retry_of: string | null;
  owner: string | null;
  progress: string | null;
}

export { PROCESS_OWNER } from './process-owner.js';

/**
 * The catalog in one SQLite file, a CatalogStore (catalog/catalog-store; checked where
 * catalog/open-catalog hands it out: the contract imports this module's types, and an
 * `implements` here would close an import cycle). Its methods return promises to meet the
 * contract; the work inside is synchronous (better-sqlite3), so each call runs to its end
 * before another starts.
 */
export class SqliteCatalog {
  readonly kind = 'sqlite' as const;
  readonly audit: AuditLog;
  readonly tokens: TokenStore;
  /** True when the file did not exist and was created by this open. */
  readonly created: boolean;

  private constructor(
    private readonly db: Database.Database,
    /** The file path. */
    readonly location: string,
    readonly clock: Clock,
    created: boolean,
  ) {
    this.created = created;
    this.audit = new AuditLog(db, clock);
    this.tokens = new TokenStore(db, clock, this.audit);
  }

  /** Opens (creating when missing) the catalog file at `path`. */
  static open(path: string, clock: Clock): SqliteCatalog {
    const created = path === ':memory:' || !existsSync(path);
    let db: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      // Token hashes and restore targets: readable by the service account only.
      if (created && path !== ':memory:') chmodSync(path, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      // A file from before jobs had a progress column, or tokens labels, gets them (older
      // readers ignore them).
      addMissingColumn(db, 'jobs', 'progress');
      addMissingColumn(db, 'tokens', 'labels');
      const version = db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as
        | { value: string }
        | undefined;
      if (!version) {
        db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(
          'schema_version',
          String(SQLITE_CATALOG_VERSION),
        );
      } else if (Number(version.value) > SQLITE_CATALOG_VERSION) {
        throw new LifeboatError(
          'config_invalid',
          `[catalog] ${path} was written by a newer lifeboat (catalog version ${version.value}); upgrade lifeboat`,
        );
      }
    } catch (err) {
      if ((err as { name?: string }).name === 'LifeboatError') throw err;
      const reason = errnoCode(err) === 'SQLITE_NOTADB' ? 'not a catalog (SQLite) file' : describe(err);
      throw new LifeboatError(
        'internal',
        `[catalog] cannot open ${path}: ${reason} (check server.catalog in the config, or move the file away to rebuild it from the repository)`,
        { cause: err },
      );
    }
    return new SqliteCatalog(db, path, clock, created);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** Rejects when the database does not answer. */
  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)
      ?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  // ---- jobs --------------------------------------------------------------------------

  async createJob(job: NewJob): Promise<JobRecord> {
    const id = job.id ?? newJobId();
    const now = this.clock.now().toISOString();
    const final = job.status === 'skipped';
    this.db
      .prepare(
        `INSERT INTO jobs (id, kind, source, trigger, status, created_at, started_at, finished_at, error,
           requested_by, params, retry_of, owner)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        job.kind,
        job.source,
        job.trigger,
        job.status,
        now,
        final ? now : null,
        final ? now : null,
        job.error === undefined || job.error === null ? null : withoutPasswordsInText(job.error),
        job.requested_by ?? null,
        JSON.stringify(withoutPasswords(job.params ?? {})),
        job.retry_of ?? null,
        job.owner ?? null,
      );
    return this.jobById(id)!;
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    return this.jobById(id);
  }

  private jobById(id: string): JobRecord | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? toJob(row) : undefined;
  }

  /** A job by id or unique prefix (the CLI shows 8 characters). */
  async findJob(ref: string): Promise<JobRecord | undefined> {
    const exact = this.jobById(ref);
    if (exact) return exact;
    if (!/^[0-9a-f]{4,}$/.test(ref)) return undefined;
    const rows = this.db.prepare('SELECT * FROM jobs WHERE id LIKE ? LIMIT 2').all(`${ref}%`) as JobRow[];
    if (rows.length > 1) {
      throw new LifeboatError('usage', `[jobs] "${ref}" matches several jobs; give more characters`);
    }
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  async updateJob(id: string, update: JobUpdate): Promise<JobRecord> {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [k, v] of Object.entries(update)) {
      if (v === undefined) continue;
      sets.push(`${k} = ?`);
      // Results and errors may name a restore target: kept without its password.
      const kept = k === 'result' || k === 'error' ? withoutPasswords(v) : v;
      const json = k === 'snapshots' || k === 'result' || k === 'progress';
      values.push(json ? (kept === null ? null : JSON.stringify(kept)) : kept);
    }
    const write = this.db.transaction(() => {
      if (sets.length > 0)
        this.db.prepare(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
      const insert = this.db.prepare('INSERT OR IGNORE INTO job_snapshots (snapshot, job) VALUES (?, ?)');
      for (const s of update.snapshots ?? []) insert.run(s, id);
    });
    write.immediate();
    return this.jobById(id)!;
  }

  /** Newest first. */
  async listJobs(filter: JobFilter = {}): Promise<JobRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.source) {
      where.push('source = ?');
      values.push(filter.source);
    }
    if (filter.status) {
      where.push('status = ?');
      values.push(filter.status);
    }
    if (filter.kind) {
      where.push('kind = ?');
      values.push(filter.kind);
    }
    if (filter.since) {
      where.push('created_at >= ?');
      values.push(filter.since);
    }
    if (filter.before) {
      where.push('created_at < ?');
      values.push(filter.before);
    }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, rowid DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...values, filter.limit ?? 100) as JobRow[]).map(toJob);
  }

  /** Jobs queued or running, in any process. */
  async activeJobs(): Promise<JobRecord[]> {
    return (
      this.db
        .prepare("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at")
        .all() as JobRow[]
    ).map(toJob);
  }

  /** The newest finished backup jobs of a source (succeeded or failed), newest first. */
  async recentBackups(source: string, limit: number): Promise<JobRecord[]> {
    return (
      this.db
        .prepare(
          `SELECT * FROM jobs WHERE kind = 'backup' AND source = ? AND status IN ('succeeded', 'failed')
           ORDER BY COALESCE(started_at, created_at) DESC, rowid DESC LIMIT ?`,
        )
        .all(source, limit) as JobRow[]
    ).map(toJob);
  }

  /** The newest finished job of a kind (and source), ignoring skipped and interrupted ones. */
  async lastFinished(kind: JobKind, source: string | null): Promise<JobRecord | undefined> {
    const row = this.db
      .prepare(
        `SELECT * FROM jobs WHERE kind = ? AND source IS ? AND status IN ('succeeded', 'failed')
         ORDER BY COALESCE(started_at, created_at) DESC, rowid DESC LIMIT 1`,
      )
      .get(kind, source) as JobRow | undefined;
    return row ? toJob(row) : undefined;
  }

  /** The newest failed backup of a source. */
  async lastFailure(source: string): Promise<JobRecord | undefined> {
    const row = this.db
      .prepare(
        `SELECT * FROM jobs WHERE kind = 'backup' AND source = ? AND status = 'failed'
         ORDER BY COALESCE(started_at, created_at) DESC, rowid DESC LIMIT 1`,
      )
      .get(source) as JobRow | undefined;
    return row ? toJob(row) : undefined;
  }

  /** Each source's newest finished and newest failed backup, in one query. */
  async lastBackupOutcomes(sources: readonly string[]): Promise<Map<string, Outcomes<JobRecord>>> {
    const newest = (status: string) =>
      `SELECT (SELECT rowid FROM jobs WHERE kind = 'backup' AND source = s.value AND status IN (${status})
         ORDER BY COALESCE(started_at, created_at) DESC, rowid DESC LIMIT 1) FROM json_each(?) AS s`;
    const rows = this.db
      .prepare(
        `SELECT *, 'finished' AS outcome FROM jobs WHERE rowid IN (${newest("'succeeded', 'failed'")})
         UNION ALL SELECT *, 'failure' AS outcome FROM jobs WHERE rowid IN (${newest("'failed'")})`,
      )
      .all(JSON.stringify(sources), JSON.stringify(sources)) as (JobRow & {
      outcome: 'finished' | 'failure';
    })[];
    return outcomesBySource(rows.map((r) => [r.outcome, toJob(r)]));
  }

  /** Snapshot ids some job already names. */
  async knownSnapshots(): Promise<Set<string>> {
    const rows = this.db.prepare('SELECT snapshot FROM job_snapshots').all() as { snapshot: string }[];
    return new Set(rows.map((r) => r.snapshot));
  }

  /**
   * Inserts finished jobs as they are (for rebuilding from the repository), except one that
   * names a snapshot some job already names: two rebuilds at once add each job once.
   */
  async insertFinishedJobs(jobs: Omit<JobRecord, 'id' | 'snapshot'>[]): Promise<number> {
    const insert = this.db.prepare(
      `INSERT INTO jobs (id, kind, source, trigger, status, created_at, started_at, finished_at, bytes_read,
         bytes_stored, snapshots, error, requested_by, approved_by, params, result, rebuilt, retry_of, owner)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const link = this.db.prepare('INSERT OR IGNORE INTO job_snapshots (snapshot, job) VALUES (?, ?)');
    const named = this.db.prepare('SELECT 1 FROM job_snapshots WHERE snapshot = ?');
    let added = 0;
    const run = this.db.transaction(() => {
      for (const j of jobs) {
        if (j.snapshots.some((s) => named.get(s))) continue;
        added++;
        const id = newJobId();
        insert.run(
          id,
          j.kind,
          j.source,
          j.trigger,
          j.status,
          j.created_at,
          j.started_at,
          j.finished_at,
          j.bytes_read,
          j.bytes_stored,
          JSON.stringify(j.snapshots),
          j.error,
          j.requested_by,
          j.approved_by,
          JSON.stringify(j.params),
          j.result === null ? null : JSON.stringify(j.result),
          j.rebuilt ? 1 : 0,
          j.retry_of,
          j.owner,
        );
        for (const s of j.snapshots) link.run(s, id);
      }
    });
    run.immediate();
    return added;
  }

  // ---- alerts ------------------------------------------------------------------------

  async getAlert(key: string): Promise<AlertRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM alerts WHERE key = ?').get(key) as
      | (Omit<AlertRecord, 'details'> & { details: string })
      | undefined;
    return row ? { ...row, details: JSON.parse(row.details) } : undefined;
  }

  async listAlerts(state?: 'firing' | 'resolved'): Promise<AlertRecord[]> {
    const rows = (
      state
        ? this.db.prepare('SELECT * FROM alerts WHERE state = ? ORDER BY first_at').all(state)
        : this.db.prepare('SELECT * FROM alerts ORDER BY first_at').all()
    ) as (Omit<AlertRecord, 'details'> & { details: string })[];
    return rows.map((r) => ({ ...r, details: JSON.parse(r.details) }));
  }

  async saveAlert(alert: AlertRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO alerts (key, kind, source, state, summary, details, first_at, last_sent_at, resolved_at, sends)
         VALUES (@key, @kind, @source, @state, @summary, @details, @first_at, @last_sent_at, @resolved_at, @sends)
         ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, source = excluded.source, state = excluded.state,
           summary = excluded.summary, details = excluded.details, first_at = excluded.first_at,
           last_sent_at = excluded.last_sent_at, resolved_at = excluded.resolved_at, sends = excluded.sends`,
      )
      .run({ ...alert, details: JSON.stringify(alert.details) });
  }
}

export function toJob(row: JobRow): JobRecord {
  const snapshots = JSON.parse(row.snapshots) as string[];
  return {
    id: row.id,
    kind: row.kind as JobKind,
    source: row.source,
    trigger: row.trigger as JobTrigger,
    status: row.status as JobStatus,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    bytes_read: row.bytes_read,
    bytes_stored: row.bytes_stored,
    snapshot: snapshots[0] ?? null,
    snapshots,
    error: row.error,
    requested_by: row.requested_by,
    approved_by: row.approved_by,
    params: JSON.parse(row.params),
    result: row.result === null ? null : JSON.parse(row.result),
    rebuilt: row.rebuilt === 1,
    retry_of: row.retry_of,
    owner: row.owner,
    ...(row.progress ? { progress: JSON.parse(row.progress) } : {}),
  };
}

/** Adds a TEXT column a file from an earlier release lacks. */
function addMissingColumn(db: Database.Database, table: string, column: string): void {
  const columns = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
  if (!columns.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} TEXT`);
}
