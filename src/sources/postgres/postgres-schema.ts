/**
 * @module sources/postgres/postgres-schema
 * The postgres config schema, kept apart from the engine so the config file loads without its drivers.
 */
import { z } from 'zod';
import { byteSizeSchema } from '../../byte-size-schema.js';

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
  exact_count_limit: byteSizeSchema.optional(),
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

/** What the backup and restore steps read of a source: its name and settings. */
export interface PostgresSourceRef {
  readonly name: string;
  readonly config: PostgresSourceConfig;
}
