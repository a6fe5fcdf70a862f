/**
 * @module sources/engine-schemas
 * Each engine's config schema by `type`, as its folder defines it (`<engine>-schema.ts`): what
 * the config file's schema (config/config-schema, and from it docs/lifeboat.schema.json), a
 * source given on the command line (sources/source-from-cli) and a source built from a
 * snapshot's recorded settings (registry.createSource) are checked against. Kept apart from
 * the registry's engines: only what validates settings imports it, so the commands that read
 * none (--version, snapshots, ls, ...) start without zod. The registry test checks that the
 * two list the same types.
 */
import type { z } from 'zod';
import { commandSourceSchema } from './command/command-schema.js';
import { filesSourceSchema } from './files/files-schema.js';
import { lmdbSourceSchema } from './lmdb/lmdb-schema.js';
import { mongodbSourceSchema } from './mongodb/mongodb-schema.js';
import { mariadbSourceSchema, mysqlSourceSchema } from './mysql/mysql-schema.js';
import { postgresSourceSchema } from './postgres/postgres-schema.js';
import { redisSourceSchema } from './redis/redis-schema.js';
import { sqliteSourceSchema } from './sqlite/sqlite-schema.js';

/** Engine config schemas by type; each has a literal `type` key. */
export const sourceSchemas: Record<string, z.ZodObject> = {
  files: filesSourceSchema,
  sqlite: sqliteSourceSchema,
  mysql: mysqlSourceSchema,
  mariadb: mariadbSourceSchema,
  postgres: postgresSourceSchema,
  redis: redisSourceSchema,
  lmdb: lmdbSourceSchema,
  mongodb: mongodbSourceSchema,
  command: commandSourceSchema,
};

/** The schema of `type`; undefined for an unknown type (and for `toString` and the like). */
export function sourceSchema(type: string): z.ZodObject | undefined {
  return Object.hasOwn(sourceSchemas, type) ? sourceSchemas[type] : undefined;
}
