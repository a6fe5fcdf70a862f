/**
 * @module sources/files/files-schema
 * The files config schema, kept apart from the engine so the config file loads without its drivers.
 */
import { isAbsolute } from 'node:path';
import { z } from 'zod';

/**
 * Config of a files source. Only `path` and `exclude` are checked here; the keys every source
 * shares (schedule, retention, max_age, hooks, protected) pass through for the config module.
 */
export const filesSourceSchema = z.looseObject({
  type: z.literal('files'),
  path: z
    .string()
    .min(1)
    .refine((p) => isAbsolute(p), { message: 'must be an absolute path to a folder or a file' }),
  exclude: z.array(z.string().min(1)).optional(),
});

export type FilesSourceConfig = z.infer<typeof filesSourceSchema>;
