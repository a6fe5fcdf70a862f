/**
 * @module catalog/pg-migrations
 * The PostgreSQL catalog's schema, as a numbered list of steps. Each open applies the missing
 * ones in one transaction under an advisory lock, so two instances starting at once never
 * race; a catalog whose version is above the last step here was written by a newer Lifeboat
 * and is refused. Steps are only ever appended: a released step never changes.
 *
 * The tables mirror the SQLite catalog (catalog/catalog), with `pos` on jobs for the
 * insertion order SQLite gets from rowid, and the audit details kept as the exact canonical
 * JSON text that was hashed (jsonb would reorder and renormalise it).
 */
import type pg from 'pg';
import { LifeboatError } from '../errors.js';

/** SQL of one step; `S` is the quoted schema name. */
type Step = (S: string) => string;

export const PG_MIGRATIONS: readonly Step[] = [
  // 1: the first PostgreSQL catalog (same content as SQLite catalog version 1).
  (S) => `
CREATE TABLE ${S}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ${S}.jobs (
  pos BIGSERIAL UNIQUE,
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  source TEXT,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  bytes_read BIGINT,
  bytes_stored BIGINT,
  snapshots JSONB NOT NULL DEFAULT '[]',
  error TEXT,
  requested_by TEXT,
  approved_by TEXT,
  params JSONB NOT NULL DEFAULT '{}',
  result JSONB,
  rebuilt BOOLEAN NOT NULL DEFAULT false,
  retry_of TEXT,
  owner TEXT
);
CREATE INDEX jobs_created ON ${S}.jobs (created_at, pos);
CREATE INDEX jobs_source_created ON ${S}.jobs (source, created_at);
CREATE INDEX jobs_status ON ${S}.jobs (status);
CREATE TABLE ${S}.job_snapshots (snapshot TEXT PRIMARY KEY, job TEXT NOT NULL);
CREATE TABLE ${S}.tokens (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  last_used_at TEXT
);
CREATE TABLE ${S}.audit (
  seq BIGINT PRIMARY KEY,
  time TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE FUNCTION ${S}.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON ${S}.audit
  FOR EACH ROW EXECUTE FUNCTION ${S}.audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON ${S}.audit
  FOR EACH STATEMENT EXECUTE FUNCTION ${S}.audit_append_only();
CREATE TABLE ${S}.alerts (
  key TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  source TEXT,
  state TEXT NOT NULL,
  summary TEXT NOT NULL,
  details JSONB NOT NULL DEFAULT '{}',
  first_at TEXT NOT NULL,
  last_sent_at TEXT,
  resolved_at TEXT,
  sends INTEGER NOT NULL DEFAULT 0
);
`,
  // 2: a source's newest finished jobs (the overview asks for each source's last backup and
  // last failure) read from an index in that order instead of scanning the history.
  (S) => `
CREATE INDEX jobs_kind_source_ended ON ${S}.jobs (kind, source, (COALESCE(started_at, created_at)) DESC, pos DESC);
`,
  // 4: a running job's latest progress, stored by the process running it so every instance
  // can show it.
  (S) => `
ALTER TABLE ${S}.jobs ADD COLUMN progress JSONB;
`,
];

/** The version this Lifeboat writes. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/**
 * Brings the schema up to PG_SCHEMA_VERSION. Returns true when this call created it.
 * `where` names the catalog in messages (no password).
 */
export async function migrate(client: pg.PoolClient, schema: string, where: string): Promise<boolean> {
  const S = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    // One migrator at a time per schema; the lock goes with the transaction.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`lifeboat-catalog:${schema}:migrate`]);
    // CREATE SCHEMA needs CREATE on the database even with IF NOT EXISTS: only when missing,
    // so a user given an existing schema (and no more) can open it.
    const hasSchema = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (!hasSchema.rowCount) await client.query(`CREATE SCHEMA ${S}`);
    const hasMeta = await client.query(
      `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'meta'`,
      [schema],
    );
    let version = 0;
    if (hasMeta.rowCount) {
      const row = await client.query<{ value: string }>(
        `SELECT value FROM ${S}.meta WHERE key = 'schema_version'`,
      );
      version = Number(row.rows[0]?.value ?? 0);
    }
    if (version > PG_SCHEMA_VERSION) {
      throw new LifeboatError(
        'config_invalid',
        `[catalog] ${where} was written by a newer lifeboat (catalog version ${version}); upgrade lifeboat`,
      );
    }
    for (let v = version; v < PG_SCHEMA_VERSION; v++) await client.query(PG_MIGRATIONS[v](S));
    if (version < PG_SCHEMA_VERSION) {
      await client.query(
        `INSERT INTO ${S}.meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(PG_SCHEMA_VERSION)],
      );
    }
    await client.query('COMMIT');
    return version === 0;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** A schema name as an SQL identifier; only plain lowercase names are accepted. */
export function quoteIdent(schema: string): string {
  if (!SCHEMA_NAME_PATTERN.test(schema)) {
    throw new LifeboatError(
      'config_invalid',
      `[catalog] "${schema}" is not a valid schema name for the catalog (use lowercase letters, digits and "_")`,
    );
  }
  return `"${schema}"`;
}
