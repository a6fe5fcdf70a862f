/**
 * @module sources/mongodb/mongodb-schema
 * The mongodb config schema, kept apart from the engine so the config file loads without its drivers.
 */
import { z } from 'zod';

export const mongodbSourceSchema = z.object({
  type: z.literal('mongodb'),
  /** mongodb://[user:password@]host[:port][/?options] or mongodb+srv://... */
  url: z.string().regex(/^mongodb(\+srv)?:\/\//, 'expected mongodb://... or mongodb+srv://...'),
  /** Databases to back up; default: all but admin, local and config. */
  databases: z.array(z.string().min(1)).optional(),
});

export type MongodbSourceConfig = z.infer<typeof mongodbSourceSchema>;
