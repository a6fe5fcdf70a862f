/**
 * @module sources/postgres/postgres-source
 * The PostgreSQL engine: one snapshot per database, each a `pg_dump -Fc` archive streamed
 * into the repository (see postgres-backup), restored with pg_restore into the original or
 * another database (see postgres-restore); with `globals: true`, roles and tablespaces from
 * `pg_dumpall --globals-only` as one more unit, "<source>/globals" (see postgres-globals).
 */
import { z } from 'zod';
import { LifeboatError } from '../../errors.js';
import type {
  BackupContext,
  BackupResult,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  SourceUnit,
} from '../source.js';
import { backupDatabase } from './postgres-backup.js';
import { connect, listDatabases } from './postgres-catalog.js';
import { parsePgUrl, withDatabase } from './postgres-connection.js';
import { backupGlobals, GLOBALS_UNIT, restoreGlobals } from './postgres-globals.js';
import { PostgresPhysicalSource } from './postgres-physical.js';
import { restoreDatabase } from './postgres-restore.js';

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?\s*$/;

export const postgresSourceSchema = z.object({
  type: z.literal('postgres'),
  /** postgres://user:password@host:port/database (the password is never recorded). */
  url: z
    .string()
    .min(1)
    .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
  /** Databases to back up, one snapshot each; "all" = every database but the templates. Default: the url's. */
  databases: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]).optional(),
  /** Also back up roles and tablespaces (pg_dumpall --globals-only) as the unit "<source>/globals". */
  globals: z.boolean().optional(),
  /** Tables up to this size (pg_relation_size) get an exact count(*); bigger ones the planner's estimate. Default 1GB. */
  exact_count_limit: z.string().regex(SIZE, 'expected a size such as 512MB or 1GB').optional(),
  /** Restore with `pg_restore -j N` from a temporary copy of the archive; default 1 (streamed, one transaction). */
  jobs: z.number().int().min(1).max(64).optional(),
  /** Folder of pg_dump, pg_restore, pg_dumpall and psql; default: the server's version in /usr/lib/postgresql, else PATH. */
  bin_dir: z.string().min(1).optional(),
  /** pg_dump compression level (-Z); default 0, since the repository compresses and deduplicates. */
  compression: z.number().int().min(0).max(9).optional(),
  /** logical (default): pg_dump per database; physical: pg_basebackup of the cluster plus archived WAL (point-in-time recovery). */
  method: z.enum(['logical', 'physical']).optional(),
});

export type PostgresSourceConfig = z.infer<typeof postgresSourceSchema>;

/** A unit: one database, or the cluster's globals. */
export type PostgresUnit = { database: string } | { globals: true };

export function createPostgresSource(name: string, config: PostgresSourceConfig): Source {
  if (config.method === 'physical') return new PostgresPhysicalSource(name, config);
  return new PostgresSource(name, config);
}

/** Parses "512MB", "1GB", "1 GiB", "1048576" (PostgreSQL's units: kB, MB, GB, TB are powers of 1024). */
export function parseSize(text: string): number {
  const m = SIZE.exec(text);
  if (!m)
    throw new LifeboatError('config_invalid', `[source:postgres] "${text}" is not a size (e.g. 512MB, 1GB)`);
  const unit = (m[2] ?? 'B').toUpperCase().replace('IB', 'B');
  const pow = { B: 0, KB: 1, MB: 2, GB: 3, TB: 4 }[unit] ?? 0;
  return Math.round(Number(m[1]) * 1024 ** pow);
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
