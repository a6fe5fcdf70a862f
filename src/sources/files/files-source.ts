/**
 * @module sources/files/files-source
 * The `files` source: backs up a directory tree (or one file) with its metadata, and restores
 * it, whole or in part. Config: `{ type: files, path, exclude? }`.
 */
import * as nodePath from 'node:path';
import { z } from 'zod';
import type {
  BackupContext,
  BackupResult,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
} from '../source.js';
import { restoreFiles } from './files-restore.js';
import { backupFiles } from './files-walk.js';

/**
 * Config of a files source. Only `path` and `exclude` are checked here; the keys every source
 * shares (schedule, retention, max_age, hooks, protected) pass through for the config module.
 */
export const filesSourceSchema = z.looseObject({
  type: z.literal('files'),
  path: z
    .string()
    .min(1)
    .refine((p) => nodePath.isAbsolute(p), { message: 'must be an absolute path to a folder or a file' }),
  exclude: z.array(z.string().min(1)).optional(),
});

export type FilesSourceConfig = z.infer<typeof filesSourceSchema>;

/** A files source named `name`. */
export function createFilesSource(name: string, config: FilesSourceConfig): Source {
  const settings = { path: nodePath.resolve(config.path), exclude: config.exclude };
  return {
    name,
    type: 'files',
    kind: 'files',
    backup(ctx: BackupContext): Promise<BackupResult> {
      return backupFiles(settings, ctx);
    },
    restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
      return restoreFiles(settings, ctx, options);
    },
  };
}
