/**
 * @module sources/lmdb/lmdb-schema
 * The lmdb config schema, kept apart from the engine so the config file loads without its drivers.
 */
import { z } from 'zod';

export const lmdbSourceSchema = z.object({
  type: z.literal('lmdb'),
  /** The folder of the environment (holding data.mdb and lock.mdb). */
  path: z.string().min(1),
});

export type LmdbSourceConfig = z.infer<typeof lmdbSourceSchema>;
