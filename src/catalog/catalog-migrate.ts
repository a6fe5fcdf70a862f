/**
 * @module catalog/catalog-migrate
 * `lifeboat catalog migrate`: an existing SQLite catalog moved into an empty PostgreSQL one,
 * everything as it is (job ids, token hashes, the audit chain's seq, times and hashes), so
 * tokens keep working and `audit verify` passes on the new home. The SQLite file is opened
 * read-only and left as it was.
 */
import Database from 'better-sqlite3';
import type { Clock } from '../clock.js';
import { describe, LifeboatError } from '../errors.js';
import type { AuditVerification } from './audit-log.js';
import { type JobRow, SQLITE_CATALOG_VERSION, toJob } from './catalog.js';
import { type CatalogRows, hidePassword, PgCatalog } from './pg-catalog.js';

export interface CatalogMigration {
  from: string;
  /** The target without its password. */
  to: string;
  schema: string;
  copied: {
    meta: number;
    jobs: number;
    job_snapshots: number;
    tokens: number;
    audit: number;
    alerts: number;
  };
  /** `audit verify` on the target after the copy. */
  audit: AuditVerification;
}

/** Copies the SQLite catalog at `sqlitePath` into the empty PostgreSQL catalog at `url`. */
export async function migrateSqliteToPostgres(
  sqlitePath: string,
  url: string,
  clock: Clock,
  options: { schema?: string } = {},
): Promise<CatalogMigration> {
  const rows = readSqliteCatalog(sqlitePath);
  const target = await PgCatalog.open(url, clock, options);
  try {
    try {
      await target.importRows(rows, sqlitePath);
    } catch (err) {
      if ((err as { name?: string }).name === 'LifeboatError') throw err;
      throw new LifeboatError(
        'internal',
        `[catalog] copying into ${target.location} failed: ${hidePassword(describe(err), url)}; nothing was kept`,
        { cause: err },
      );
    }
    const audit = await target.audit.verify();
    if (!audit.ok) {
      // Verified inside the copy's transaction: only a writer meddling since could do this.
      throw new LifeboatError(
        'integrity',
        `[catalog] the audit log copied to ${target.location} does not verify (${audit.firstBad?.reason}); check what else writes to that database`,
      );
    }
    return {
      from: sqlitePath,
      to: target.location,
      schema: target.schema,
      copied: {
        meta: rows.meta.filter((m) => m.key !== 'schema_version').length,
        jobs: rows.jobs.length,
        job_snapshots: rows.jobSnapshots.length,
        tokens: rows.tokens.length,
        audit: rows.audit.length,
        alerts: rows.alerts.length,
      },
      audit,
    };
  } finally {
    await target.close();
  }
}

/** Every row of the SQLite catalog, read in one read transaction. */
export function readSqliteCatalog(path: string): CatalogRows {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new LifeboatError(
      'not_found',
      `[catalog] cannot open ${path} as a catalog: ${describe(err)} (give the SQLite catalog as sqlite:PATH)`,
      { cause: err },
    );
  }
  try {
    return db.transaction(() => readAll(db, path))();
  } catch (err) {
    if ((err as { name?: string }).name === 'LifeboatError') throw err;
    throw new LifeboatError(
      'not_found',
      `[catalog] ${path} is not a Lifeboat catalog: ${describe(err)} (give the SQLite catalog as sqlite:PATH)`,
      { cause: err },
    );
  } finally {
    db.close();
  }
}

function readAll(db: Database.Database, path: string): CatalogRows {
  const meta = db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
  const version = Number(meta.find((m) => m.key === 'schema_version')?.value ?? 0);
  if (version > SQLITE_CATALOG_VERSION) {
    throw new LifeboatError(
      'config_invalid',
      `[catalog] ${path} was written by a newer lifeboat (catalog version ${version}); upgrade lifeboat`,
    );
  }
  const jobs = (db.prepare('SELECT * FROM jobs ORDER BY rowid').all() as JobRow[]).map((r) => {
    const { snapshot: _first, ...job } = toJob(r);
    return job;
  });
  const alerts = (
    db.prepare('SELECT * FROM alerts ORDER BY rowid').all() as (CatalogRows['alerts'][number] & {
      details: string;
    })[]
  ).map((a) => ({ ...a, details: JSON.parse(a.details) as Record<string, unknown> }));
  return {
    meta,
    jobs,
    jobSnapshots: db.prepare('SELECT snapshot, job FROM job_snapshots ORDER BY rowid').all() as {
      snapshot: string;
      job: string;
    }[],
    tokens: db.prepare('SELECT * FROM tokens ORDER BY rowid').all() as CatalogRows['tokens'],
    audit: db.prepare('SELECT * FROM audit ORDER BY seq').all() as CatalogRows['audit'],
    alerts: alerts as CatalogRows['alerts'],
  };
}
