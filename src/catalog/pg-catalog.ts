/**
 * @module catalog/pg-catalog
 * The catalog in PostgreSQL (`server.catalog: postgres://...`), for several `serve`
 * instances and workers sharing one job history, token list, audit chain and alert state.
 * Same contract and same semantics as the SQLite file (catalog/catalog), method by method;
 * what differs is how concurrent writers from other processes are kept apart: the audit
 * chain's head is taken under an advisory transaction lock, token names and snapshot links
 * are primary keys, and every multi-row write is one transaction. Its tables live in their
 * own schema (default `lifeboat`), so the database can be shared with pg-boss's.
 */
import pg from 'pg';
import type { Clock } from '../clock.js';
import { describe, errnoCode, isLifeboatError, LifeboatError } from '../errors.js';
import {
  type AuditEntry,
  type AuditVerification,
  canonicalJson,
  entryHash,
  GENESIS_HASH,
  type NewAuditEntry,
  toEntry,
  verifyChain,
} from './audit-log.js';
import { outcomesBySource } from './backup-outcomes.js';
import type {
  AlertRecord,
  JobFilter,
  JobKind,
  JobProgressState,
  JobRecord,
  JobStatus,
  JobTrigger,
  JobUpdate,
  NewJob,
} from './catalog.js';
import type { AuditStore, BackupOutcomes, CatalogStore, TokenStoreApi } from './catalog-store.js';
import { migrate, quoteIdent } from './pg-migrations.js';
import { withoutPasswords, withoutPasswordsInText } from './secret-free.js';
import {
  checkNewToken,
  hashToken,
  looksLikeToken,
  newJobId,
  newTokenSecret,
  parseLabels,
  type Role,
  type TokenCaller,
  type TokenInfo,
  type TokenLabels,
  tokenDetails,
} from './tokens.js';

/** A whole catalog as rows, for `catalog migrate` (catalog/catalog-migrate). */
export interface CatalogRows {
  meta: { key: string; value: string }[];
  /** In the order they were created. */
  jobs: Omit<JobRecord, 'snapshot'>[];
  jobSnapshots: { snapshot: string; job: string }[];
  /** `labels` as SQLite keeps it (JSON text) or parsed. */
  tokens: (Omit<TokenInfo, 'labels'> & { hash: string; labels?: string | TokenLabels | null })[];
  /** As stored: `details` is the canonical JSON text that was hashed. */
  audit: (Omit<AuditEntry, 'details'> & { details: string })[];
  alerts: AlertRecord[];
}

const JOB_COLUMNS = [
  'id',
  'kind',
  'source',
  'trigger',
  'status',
  'created_at',
  'started_at',
  'finished_at',
  'bytes_read',
  'bytes_stored',
  'snapshots',
  'error',
  'requested_by',
  'approved_by',
  'params',
  'result',
  'rebuilt',
  'retry_of',
  'owner',
];

const ALERT_COLUMNS = [
  'key',
  'kind',
  'source',
  'state',
  'summary',
  'details',
  'first_at',
  'last_sent_at',
  'resolved_at',
  'sends',
];

export interface PgCatalogOptions {
  /** The schema holding the catalog's tables (default `lifeboat`). */
  schema?: string;
  /** Connections kept by this process (default 5). */
  poolSize?: number;
}

/** What both a pool and a client in a transaction can do. */
interface Queryable {
  // biome-ignore lint/suspicious/noExplicitAny: rows are typed per query
  query<R extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** As catalog/tokens: the prefix that tells a Lifeboat token from anything else. */
/** The columns JobUpdate may set (its keys, nothing else reaches the SQL). */
const UPDATABLE = [
  'status',
  'started_at',
  'finished_at',
  'bytes_read',
  'bytes_stored',
  'snapshots',
  'error',
  'approved_by',
  'result',
  'owner',
  'progress',
] as const;

export class PgCatalog implements CatalogStore {
  readonly kind = 'postgres' as const;
  readonly audit: PgAuditLog;
  readonly tokens: PgTokenStore;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    /** The quoted schema name, to prefix table names. */
    private readonly S: string,
    readonly schema: string,
    readonly location: string,
    readonly created: boolean,
    readonly clock: Clock,
  ) {
    this.audit = new PgAuditLog(pool, S, schema, clock);
    this.tokens = new PgTokenStore(this, S, clock, this.audit);
  }

  /** Connects to the database at `url`, brings the catalog's schema up to date, and returns it. */
  static async open(url: string, clock: Clock, options: PgCatalogOptions = {}): Promise<PgCatalog> {
    const schema = options.schema ?? 'lifeboat';
    const S = quoteIdent(schema);
    const location = withoutPasswordsInText(url);
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 5 });
    // An idle connection the server drops must not crash the process; the next query reports it.
    pool.on('error', () => {});
    let created: boolean;
    try {
      const client = await pool.connect();
      try {
        created = await migrate(client, schema, location);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => {});
      throw openError(err, url, location);
    }
    return new PgCatalog(pool, S, schema, location, created, clock);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Runs `fn` in one transaction on one connection. */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => {
        broken = e;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** For the catalog's own helpers (tokens) and `catalog migrate`. */
  get db(): Queryable {
    return this.pool;
  }

  async getMeta(key: string): Promise<string | undefined> {
    const r = await this.pool.query<{ value: string }>(`SELECT value FROM ${this.S}.meta WHERE key = $1`, [
      key,
    ]);
    return r.rows[0]?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.S}.meta (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [key, value],
    );
  }

  // ---- jobs --------------------------------------------------------------------------

  async createJob(job: NewJob): Promise<JobRecord> {
    const id = job.id ?? newJobId();
    const now = this.clock.now().toISOString();
    const final = job.status === 'skipped';
    const r = await this.pool.query<JobRow>(
      `INSERT INTO ${this.S}.jobs (id, kind, source, trigger, status, created_at, started_at, finished_at, error,
         requested_by, params, retry_of, owner)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13) RETURNING *`,
      [
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
      ],
    );
    return toJob(r.rows[0]);
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const r = await this.pool.query<JobRow>(`SELECT * FROM ${this.S}.jobs WHERE id = $1`, [id]);
    return r.rows[0] ? toJob(r.rows[0]) : undefined;
  }

  async findJob(ref: string): Promise<JobRecord | undefined> {
    const exact = await this.getJob(ref);
    if (exact) return exact;
    if (!/^[0-9a-f]{4,}$/.test(ref)) return undefined;
    const r = await this.pool.query<JobRow>(`SELECT * FROM ${this.S}.jobs WHERE id LIKE $1 LIMIT 2`, [
      `${ref}%`,
    ]);
    if (r.rows.length > 1) {
      throw new LifeboatError('usage', `[jobs] "${ref}" matches several jobs; give more characters`);
    }
    return r.rows[0] ? toJob(r.rows[0]) : undefined;
  }

  async updateJob(id: string, update: JobUpdate): Promise<JobRecord> {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const k of UPDATABLE) {
      const v = update[k];
      if (v === undefined) continue;
      // Results and errors may name a restore target: kept without its password.
      const kept = k === 'result' || k === 'error' ? withoutPasswords(v) : v;
      const json = k === 'snapshots' || k === 'result' || k === 'progress';
      values.push(json ? (kept === null ? null : JSON.stringify(kept)) : kept);
      sets.push(`${k} = $${values.length}${json ? '::jsonb' : ''}`);
    }
    const row = await this.transaction(async (c) => {
      values.push(id);
      const r =
        sets.length > 0
          ? await c.query<JobRow>(
              `UPDATE ${this.S}.jobs SET ${sets.join(', ')} WHERE id = $${values.length} RETURNING *`,
              values,
            )
          : await c.query<JobRow>(`SELECT * FROM ${this.S}.jobs WHERE id = $1`, [id]);
      if (!r.rows[0]) throw new LifeboatError('not_found', `[jobs] no job ${id} in the catalog`);
      await linkSnapshots(c, this.S, id, update.snapshots ?? []);
      return r.rows[0];
    });
    return toJob(row);
  }

  async listJobs(filter: JobFilter = {}): Promise<JobRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      values.push(value);
      where.push(sql.replace('?', `$${values.length}`));
    };
    if (filter.source) add('source = ?', filter.source);
    if (filter.status) add('status = ?', filter.status);
    if (filter.kind) add('kind = ?', filter.kind);
    if (filter.since) add('created_at >= ?', filter.since);
    if (filter.before) add('created_at < ?', filter.before);
    values.push(filter.limit ?? 100);
    const r = await this.pool.query<JobRow>(
      `SELECT * FROM ${this.S}.jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, pos DESC LIMIT $${values.length}`,
      values,
    );
    return r.rows.map(toJob);
  }

  async activeJobs(): Promise<JobRecord[]> {
    const r = await this.pool.query<JobRow>(
      `SELECT * FROM ${this.S}.jobs WHERE status IN ('queued', 'running') ORDER BY created_at, pos`,
    );
    return r.rows.map(toJob);
  }

  async recentBackups(source: string, limit: number): Promise<JobRecord[]> {
    const r = await this.pool.query<JobRow>(
      `SELECT * FROM ${this.S}.jobs WHERE kind = 'backup' AND source = $1 AND status IN ('succeeded', 'failed')
       ORDER BY COALESCE(started_at, created_at) DESC, pos DESC LIMIT $2`,
      [source, limit],
    );
    return r.rows.map(toJob);
  }

  async lastFinished(kind: JobKind, source: string | null): Promise<JobRecord | undefined> {
    // `source = $2` (or IS NULL), not IS NOT DISTINCT FROM: only those use the index.
    const r = await this.pool.query<JobRow>(
      `SELECT * FROM ${this.S}.jobs
       WHERE kind = $1 AND ${source === null ? 'source IS NULL' : 'source = $2'} AND status IN ('succeeded', 'failed')
       ORDER BY COALESCE(started_at, created_at) DESC, pos DESC LIMIT 1`,
      source === null ? [kind] : [kind, source],
    );
    return r.rows[0] ? toJob(r.rows[0]) : undefined;
  }

  async lastFailure(source: string): Promise<JobRecord | undefined> {
    const r = await this.pool.query<JobRow>(
      `SELECT * FROM ${this.S}.jobs WHERE kind = 'backup' AND source = $1 AND status = 'failed'
       ORDER BY COALESCE(started_at, created_at) DESC, pos DESC LIMIT 1`,
      [source],
    );
    return r.rows[0] ? toJob(r.rows[0]) : undefined;
  }

  async lastBackupOutcomes(sources: readonly string[]): Promise<Map<string, BackupOutcomes>> {
    // Per source, two reads of jobs_kind_source_ended from its newest end (LIMIT 1 each).
    const newest = (status: string) =>
      `(SELECT j.*, '${status === 'failed' ? 'failure' : 'finished'}' AS outcome FROM ${this.S}.jobs j
        WHERE j.kind = 'backup' AND j.source = s.name AND j.status IN (${status === 'failed' ? "'failed'" : "'succeeded', 'failed'"})
        ORDER BY COALESCE(j.started_at, j.created_at) DESC, j.pos DESC LIMIT 1)`;
    const r = await this.pool.query<JobRow & { outcome: 'finished' | 'failure' }>(
      `SELECT o.* FROM unnest($1::text[]) AS s(name)
       CROSS JOIN LATERAL (${newest('finished')} UNION ALL ${newest('failed')}) AS o`,
      [sources],
    );
    return outcomesBySource(r.rows.map((row) => [row.outcome, toJob(row)]));
  }

  async knownSnapshots(): Promise<Set<string>> {
    const r = await this.pool.query<{ snapshot: string }>(`SELECT snapshot FROM ${this.S}.job_snapshots`);
    return new Set(r.rows.map((row) => row.snapshot));
  }

  async insertFinishedJobs(jobs: Omit<JobRecord, 'id' | 'snapshot'>[]): Promise<number> {
    return this.transaction(async (c) => {
      // One rebuild at a time: the second sees what the first added and adds nothing twice.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `lifeboat-catalog:${this.schema}:rebuild`,
      ]);
      // Which snapshots jobs name already, asked once; then the jobs in a few multi-row inserts.
      const named = new Set<string>();
      const all = jobs.flatMap((j) => j.snapshots);
      for (let i = 0; i < all.length; i += BATCH) {
        const r = await c.query<{ snapshot: string }>(
          `SELECT snapshot FROM ${this.S}.job_snapshots WHERE snapshot = ANY($1::text[])`,
          [all.slice(i, i + BATCH)],
        );
        for (const row of r.rows) named.add(row.snapshot);
      }
      const rows: Omit<JobRecord, 'snapshot'>[] = [];
      for (const j of jobs) {
        if (j.snapshots.some((s) => named.has(s))) continue;
        for (const s of j.snapshots) named.add(s);
        rows.push({ ...j, id: newJobId() });
      }
      await insertRows(c, this.S, 'jobs', JOB_COLUMNS, rows);
      await insertRows(
        c,
        this.S,
        'job_snapshots',
        ['snapshot', 'job'],
        rows.flatMap((j) => j.snapshots.map((snapshot) => ({ snapshot, job: j.id }))),
      );
      return rows.length;
    });
  }

  // ---- moving a catalog in ------------------------------------------------------------

  /**
   * Copies a whole catalog (`catalog migrate`) into this one, which must be empty, in one
   * transaction: rows as they are (ids, audit seq, times and hashes exactly), in their order.
   * The copied chain is verified before the commit; when it does not hold, nothing is kept.
   * `from` names the source in messages.
   */
  async importRows(rows: CatalogRows, from: string): Promise<void> {
    return this.transaction(async (c) => {
      // Nobody writes while the copy runs; the emptiness check holds until the commit.
      await c.query(
        ['meta', 'jobs', 'job_snapshots', 'tokens', 'audit', 'alerts']
          .map((t) => `LOCK TABLE ${this.S}.${t} IN EXCLUSIVE MODE;`)
          .join(' '),
      );
      const held = await c.query<{ what: string; n: string }>(
        `SELECT 'job' AS what, count(*) AS n FROM ${this.S}.jobs
         UNION ALL SELECT 'token', count(*) FROM ${this.S}.tokens
         UNION ALL SELECT 'audit entry', count(*) FROM ${this.S}.audit
         UNION ALL SELECT 'alert', count(*) FROM ${this.S}.alerts
         UNION ALL SELECT 'setting', count(*) FROM ${this.S}.meta WHERE key <> 'schema_version'`,
      );
      const nonEmpty = held.rows.filter((r) => Number(r.n) > 0);
      if (nonEmpty.length > 0) {
        throw new LifeboatError(
          'target_not_empty',
          `[catalog] ${this.location} (schema ${this.schema}) already holds a catalog (${nonEmpty
            .map((r) => `${r.n} ${r.n === '1' ? r.what : r.what.replace(/y$/, 'ie').concat('s')}`)
            .join(
              ', ',
            )}); migrate into an empty database or schema, or drop the schema "${this.schema}" there first`,
        );
      }
      const copy = (table: string, columns: string[], items: unknown[]) =>
        insertRows(c, this.S, table, columns, items);
      await copy(
        'meta',
        ['key', 'value'],
        rows.meta.filter((m) => m.key !== 'schema_version'),
      );
      await copy('jobs', JOB_COLUMNS, rows.jobs);
      await copy('job_snapshots', ['snapshot', 'job'], rows.jobSnapshots);
      await copy(
        'tokens',
        ['name', 'role', 'hash', 'created_at', 'created_by', 'last_used_at', 'labels'],
        rows.tokens.map((t) => ({ ...t, labels: parseLabels(t.labels ?? null) })),
      );
      await copy(
        'audit',
        ['seq', 'time', 'actor', 'action', 'target', 'details', 'prev_hash', 'hash'],
        rows.audit,
      );
      await copy('alerts', ALERT_COLUMNS, rows.alerts);
      const chain = await this.audit.verifyIn(c);
      if (!chain.ok) {
        throw new LifeboatError(
          'integrity',
          `[catalog] the audit log of ${from} does not verify (${chain.firstBad?.reason}); nothing was copied (see \`lifeboat audit verify\` on the old catalog)`,
        );
      }
    });
  }

  // ---- alerts ------------------------------------------------------------------------

  async getAlert(key: string): Promise<AlertRecord | undefined> {
    const r = await this.pool.query<AlertRecord>(`SELECT * FROM ${this.S}.alerts WHERE key = $1`, [key]);
    return r.rows[0];
  }

  async listAlerts(state?: 'firing' | 'resolved'): Promise<AlertRecord[]> {
    const r = state
      ? await this.pool.query<AlertRecord>(
          `SELECT * FROM ${this.S}.alerts WHERE state = $1 ORDER BY first_at, key`,
          [state],
        )
      : await this.pool.query<AlertRecord>(`SELECT * FROM ${this.S}.alerts ORDER BY first_at, key`);
    return r.rows;
  }

  async saveAlert(alert: AlertRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.S}.alerts (key, kind, source, state, summary, details, first_at, last_sent_at, resolved_at, sends)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)
       ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, source = excluded.source, state = excluded.state,
         summary = excluded.summary, details = excluded.details, first_at = excluded.first_at,
         last_sent_at = excluded.last_sent_at, resolved_at = excluded.resolved_at, sends = excluded.sends`,
      [
        alert.key,
        alert.kind,
        alert.source,
        alert.state,
        alert.summary,
        JSON.stringify(alert.details),
        alert.first_at,
        alert.last_sent_at,
        alert.resolved_at,
        alert.sends,
      ],
    );
  }
}

/** The hash-chained audit log (see catalog/audit-log for the chain itself). */
export class PgAuditLog implements AuditStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly S: string,
    private readonly schema: string,
    private readonly clock: Clock,
  ) {}

  async append(entry: NewAuditEntry): Promise<AuditEntry> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await this.appendIn(client, entry);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => {
        broken = e;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Appends inside the caller's transaction (a token change and its entry commit together).
   * The advisory lock is held to the end of that transaction: another process appending at
   * once waits, then reads the new head, so the chain never forks.
   */
  async appendIn(c: Queryable, entry: NewAuditEntry): Promise<AuditEntry> {
    await this.lockHead(c);
    const last = await c.query<{ seq: string; hash: string }>(
      `SELECT seq, hash FROM ${this.S}.audit ORDER BY seq DESC LIMIT 1`,
    );
    const base = {
      seq: Number(last.rows[0]?.seq ?? 0) + 1,
      time: this.clock.now().toISOString(),
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      details: JSON.parse(JSON.stringify(entry.details ?? {})) as Record<string, unknown>,
    };
    const prev = last.rows[0]?.hash ?? GENESIS_HASH;
    const full: AuditEntry = { ...base, prev_hash: prev, hash: entryHash(prev, base) };
    await c.query(
      `INSERT INTO ${this.S}.audit (seq, time, actor, action, target, details, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        full.seq,
        full.time,
        full.actor,
        full.action,
        full.target,
        canonicalJson(full.details),
        prev,
        full.hash,
      ],
    );
    await c.query(
      `INSERT INTO ${this.S}.meta (key, value) VALUES ('audit_head', $1)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [`${full.seq}:${full.hash}`],
    );
    return full;
  }

  /** Takes the chain's head for the current transaction (re-entrant within it). */
  async lockHead(c: Queryable): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`lifeboat-catalog:${this.schema}:audit`]);
  }

  async list(filter: { since?: string; action?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.since) {
      values.push(filter.since);
      where.push(`time >= $${values.length}`);
    }
    if (filter.action) {
      values.push(filter.action, `${filter.action}.%`);
      where.push(`(action = $${values.length - 1} OR action LIKE $${values.length})`);
    }
    values.push(filter.limit ?? 100);
    const r = await this.pool.query<AuditRow>(
      `SELECT * FROM ${this.S}.audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq DESC LIMIT $${values.length}`,
      values,
    );
    return r.rows.map(toEntry);
  }

  /**
   * Walks the chain from the first entry; stops at the first one that does not hold. Reads
   * one snapshot of the database, so appends from other processes meanwhile are not a mismatch.
   */
  async verify(): Promise<AuditVerification> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        return await this.verifyIn(client);
      } finally {
        await client.query('COMMIT').catch(() => {});
      }
    } finally {
      client.release();
    }
  }

  /** verify() on a given connection (inside its transaction). */
  async verifyIn(c: Queryable): Promise<AuditVerification> {
    const head = await c.query<{ value: string }>(
      `SELECT value FROM ${this.S}.meta WHERE key = 'audit_head'`,
    );
    const S = this.S;
    // Pages of 1,000: a long chain is never held whole.
    async function* rows(): AsyncIterable<AuditRow> {
      for (let after = 0; ; ) {
        const page = await c.query<AuditRow>(
          `SELECT * FROM ${S}.audit WHERE seq > $1 ORDER BY seq LIMIT 1000`,
          [after],
        );
        if (page.rows.length === 0) return;
        yield* page.rows;
        after = Number(page.rows[page.rows.length - 1].seq);
      }
    }
    return verifyChain(rows(), head.rows[0]?.value);
  }
}

/** API tokens (see catalog/tokens): only their SHA-256 is stored. */
export class PgTokenStore implements TokenStoreApi {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly catalog: PgCatalog,
    private readonly S: string,
    private readonly clock: Clock,
    private readonly audit: PgAuditLog,
  ) {}

  async create(
    name: string,
    role: Role,
    actor: string,
    labels?: TokenLabels | null,
  ): Promise<{ token: string; info: TokenInfo }> {
    const scope = checkNewToken(name, role, labels);
    const token = newTokenSecret();
    const now = this.clock.now().toISOString();
    const exists = () =>
      new LifeboatError(
        'usage',
        `[token] a token named "${name}" exists; revoke it first (lifeboat token revoke ${name}) or pick another name`,
      );
    try {
      await this.catalog.transaction(async (c) => {
        // The audit head first, always: every writer takes the same lock in the same order.
        await this.audit.lockHead(c);
        const r = await c.query(
          `INSERT INTO ${this.S}.tokens (name, role, hash, created_at, created_by, labels) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (name) DO NOTHING`,
          [name, role, hashToken(token), now, actor, scope ? JSON.stringify(scope) : null],
        );
        if (r.rowCount === 0) throw exists();
        await this.audit.appendIn(c, {
          actor,
          action: 'token.create',
          target: name,
          details: tokenDetails(role, scope),
        });
      });
    } catch (err) {
      if (errnoCode(err) === '23505') throw exists();
      throw err;
    }
    return {
      token,
      info: { name, role, created_at: now, created_by: actor, last_used_at: null, labels: scope },
    };
  }

  async list(): Promise<TokenInfo[]> {
    const r = await this.catalog.db.query<TokenInfo>(
      `SELECT name, role, created_at, created_by, last_used_at, labels FROM ${this.S}.tokens ORDER BY name COLLATE "C"`,
    );
    return r.rows;
  }

  async revoke(name: string, actor: string): Promise<void> {
    await this.catalog.transaction(async (c) => {
      await this.audit.lockHead(c);
      const r = await c.query<{ role: string }>(
        `DELETE FROM ${this.S}.tokens WHERE name = $1 RETURNING role`,
        [name],
      );
      if (!r.rows[0]) {
        throw new LifeboatError(
          'not_found',
          `[token] no token named "${name}" (list them with \`lifeboat token list\`)`,
        );
      }
      await this.audit.appendIn(c, {
        actor,
        action: 'token.revoke',
        target: name,
        details: { role: r.rows[0].role },
      });
    });
  }

  async authenticate(token: string): Promise<TokenCaller | undefined> {
    if (!looksLikeToken(token)) return undefined;
    const r = await this.catalog.db.query<TokenCaller>(
      `SELECT name, role, labels FROM ${this.S}.tokens WHERE hash = $1`,
      [hashToken(token)],
    );
    return r.rows[0];
  }

  /** Records use, at most once a minute per token per process. */
  async touch(name: string): Promise<void> {
    const now = this.clock.now();
    const last = this.touched.get(name);
    if (last !== undefined && now.getTime() - last < 60_000 && now.getTime() >= last) return;
    this.touched.set(name, now.getTime());
    const cutoff = new Date(now.getTime() - 60_000).toISOString();
    await this.catalog.db.query(
      `UPDATE ${this.S}.tokens SET last_used_at = $1
       WHERE name = $2 AND (last_used_at IS NULL OR last_used_at < $3)`,
      [now.toISOString(), name, cutoff],
    );
  }
}

// ---- rows --------------------------------------------------------------------------------

interface JobRow {
  id: string;
  kind: string;
  source: string | null;
  trigger: string;
  status: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** BIGINT: the driver gives a string. */
  bytes_read: string | null;
  bytes_stored: string | null;
  snapshots: string[];
  error: string | null;
  requested_by: string | null;
  approved_by: string | null;
  params: Record<string, unknown>;
  result: Record<string, unknown> | null;
  rebuilt: boolean;
  retry_of: string | null;
  owner: string | null;
  progress: JobProgressState | null;
}

interface AuditRow {
  seq: string;
  time: string;
  actor: string;
  action: string;
  target: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

function toJob(row: JobRow): JobRecord {
  return {
    id: row.id,
    kind: row.kind as JobKind,
    source: row.source,
    trigger: row.trigger as JobTrigger,
    status: row.status as JobStatus,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    bytes_read: row.bytes_read === null ? null : Number(row.bytes_read),
    bytes_stored: row.bytes_stored === null ? null : Number(row.bytes_stored),
    snapshot: row.snapshots[0] ?? null,
    snapshots: row.snapshots,
    error: row.error,
    requested_by: row.requested_by,
    approved_by: row.approved_by,
    params: row.params,
    result: row.result,
    rebuilt: row.rebuilt,
    retry_of: row.retry_of,
    owner: row.owner,
    ...(row.progress ? { progress: row.progress } : {}),
  };
}

/** Rows per multi-row statement. */
const BATCH = 1000;

/** Rows (objects keyed by column) into `table`, in their order, BATCH rows per statement. */
async function insertRows(
  c: Queryable,
  S: string,
  table: string,
  columns: string[],
  items: unknown[],
): Promise<void> {
  const list = columns.join(', ');
  for (let i = 0; i < items.length; i += BATCH) {
    await c.query(
      `INSERT INTO ${S}.${table} (${list})
       SELECT ${list} FROM jsonb_populate_recordset(NULL::${S}.${table}, $1::jsonb) WITH ORDINALITY
       ORDER BY ordinality`,
      [JSON.stringify(items.slice(i, i + BATCH))],
    );
  }
}

async function linkSnapshots(c: Queryable, S: string, job: string, snapshots: string[]): Promise<void> {
  if (snapshots.length === 0) return;
  await c.query(
    `INSERT INTO ${S}.job_snapshots (snapshot, job) SELECT s, $2 FROM unnest($1::text[]) AS s
     ON CONFLICT (snapshot) DO NOTHING`,
    [snapshots, job],
  );
}

/** Why the catalog could not be opened, naming it without its password and what to check. */
function openError(err: unknown, url: string, location: string): LifeboatError {
  if (isLifeboatError(err)) return err;
  const code = errnoCode(err);
  let why = hidePassword(describe(err), url);
  let next = 'check server.catalog or LIFEBOAT_CATALOG';
  let errorCode: 'unavailable' | 'config_invalid' | 'internal' = 'internal';
  if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || /timeout/i.test(why)) {
    why = code === 'ECONNREFUSED' ? 'connection refused' : why;
    next = 'check that the server is running and the host and port in the URL';
    errorCode = 'unavailable';
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    next = 'check the host in the URL';
    errorCode = 'config_invalid';
  } else if (code === '28P01' || code === '28000') {
    next = 'check the user and password (in the URL or PGPASSWORD)';
    errorCode = 'config_invalid';
  } else if (code === '3D000') {
    next = 'create the database first, or check its name in the URL';
    errorCode = 'config_invalid';
  } else if (code === '42501') {
    next = 'the user needs CREATE on the database, or create the schema for it';
    errorCode = 'config_invalid';
  } else if (/password must be a string/.test(why)) {
    why = 'the server asks for a password and none was given';
    next = 'put it in the URL or set PGPASSWORD';
    errorCode = 'config_invalid';
  }
  return new LifeboatError(errorCode, `[catalog] cannot open ${location}: ${why} (${next})`, {
    cause: err,
    retryable: errorCode === 'unavailable',
  });
}

/** `text` without the URL's password, in URLs and on its own (a driver may quote it). */
export function hidePassword(text: string, url: string): string {
  let out = withoutPasswordsInText(text);
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    // not a URL: nothing more to hide than URLs in the text
  }
  if (password) out = out.split(password).join('***');
  return out;
}
