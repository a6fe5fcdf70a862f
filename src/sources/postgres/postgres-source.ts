/**
 * @module sources/postgres/postgres-source
 * The PostgreSQL engine: one snapshot per database, each a `pg_dump -Fc` archive streamed
 * into the repository (see postgres-backup), restored with pg_restore into the original or
 * another database (see postgres-restore); with `globals: true`, roles and tablespaces from
 * `pg_dumpall --globals-only` as one more unit, "<source>/globals" (see postgres-globals).
 */
import { LifeboatError } from '../../errors.js';
import type {
  BackupContext,
  BackupResult,
  RecordedSnapshot,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  SourceUnit,
  TargetContents,
} from '../source.js';
import { backupDatabase } from './postgres-backup.js';
import { connect, listDatabases } from './postgres-catalog.js';
import { parsePgUrl, withDatabase } from './postgres-connection.js';
import { backupGlobals, GLOBALS_UNIT, restoreGlobals } from './postgres-globals.js';
import { PostgresPhysicalSource } from './postgres-physical.js';
import { restoreDatabase } from './postgres-restore.js';
import type { PostgresSourceConfig } from './postgres-schema.js';
import { inspectPostgresTarget } from './postgres-target.js';

/** A unit: one database, or the cluster's globals. */
export type PostgresUnit = { database: string } | { globals: true };

export function createPostgresSource(name: string, config: PostgresSourceConfig): Source {
  if (config.method === 'physical') return new PostgresPhysicalSource(name, config);
  return new PostgresSource(name, config);
}

export class PostgresSource implements Source {
  readonly type = 'postgres';
  readonly kind = 'logical';

  constructor(
    readonly name: string,
    readonly config: PostgresSourceConfig,
    private readonly unit?: PostgresUnit,
  ) {}

  async expand(): Promise<SourceUnit[]> {
    const conn = parsePgUrl(this.config.url);
    let databases: string[];
    if (this.config.databases === 'all') {
      const client = await connect(withDatabase(conn, conn.database ?? 'postgres'), this.name);
      try {
        databases = await listDatabases(client);
      } finally {
        await client.end().catch(() => {});
      }
    } else {
      databases = this.config.databases ?? (conn.database ? [conn.database] : []);
    }
    if (databases.length === 0 && !this.config.globals) {
      throw new LifeboatError(
        'config_invalid',
        `[source:postgres] source "${this.name}": no database to back up (name one in the url, postgres://host/DB, or set databases)`,
      );
    }
    if (this.config.globals && databases.includes(GLOBALS_UNIT)) {
      throw new LifeboatError(
        'config_invalid',
        `[source:postgres] source "${this.name}": a database named "${GLOBALS_UNIT}" clashes with the unit "${this.name}/${GLOBALS_UNIT}" of globals: true (back up the globals in a second source without that database)`,
      );
    }
    const units: SourceUnit[] = databases.map((database) => ({
      source: new PostgresSource(`${this.name}/${database}`, this.config, { database }),
      config: { ...this.config, databases: [database] },
    }));
    if (this.config.globals) {
      units.push({
        source: new PostgresSource(`${this.name}/${GLOBALS_UNIT}`, this.config, { globals: true }),
        config: { ...this.config },
      });
    }
    return units;
  }

  backup(ctx: BackupContext): Promise<BackupResult> {
    const unit = this.unit ?? this.onlyUnit();
    if ('globals' in unit) return backupGlobals(this, ctx);
    return backupDatabase(this, unit.database, ctx);
  }

  inspectTarget(to: string | undefined, { meta }: RecordedSnapshot): Promise<TargetContents> {
    if (meta.part === GLOBALS_UNIT) {
      return Promise.resolve({
        target: to ?? 'the source server',
        exists: true,
        summary: 'roles (created when missing)',
      });
    }
    return inspectPostgresTarget(this, to, meta);
  }

  restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
    if (ctx.meta.part === GLOBALS_UNIT) return restoreGlobals(this, ctx, options);
    return restoreDatabase(this, ctx, options);
  }

  /** Backing up the source itself rather than its units: only when it names one database. */
  private onlyUnit(): PostgresUnit {
    const conn = parsePgUrl(this.config.url);
    const dbs = this.config.databases;
    if (Array.isArray(dbs) && dbs.length === 1 && !this.config.globals) return { database: dbs[0] };
    if (dbs === undefined && conn.database && !this.config.globals) return { database: conn.database };
    throw new LifeboatError(
      'internal',
      `[source:postgres] source "${this.name}" has several units; back up each of expand()`,
    );
  }
}
