/**
 * @module sources/sqlite/sqlite-schema
 * The sqlite config schema, kept apart from the engine so the config file loads without its drivers.
 */
import { z } from 'zod';

export const sqliteSourceSchema = z.object({
  type: z.literal('sqlite'),
  /** Path of the database file. */
  path: z.string().min(1),
});

export type SqliteSourceConfig = z.infer<typeof sqliteSourceSchema>;
