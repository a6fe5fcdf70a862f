/**
 * @module sources/files/files-source
 * The `files` source: backs up a directory tree (or one file) with its metadata, and restores
 * it, whole or in part. Config: `{ type: files, path, exclude? }`.
 */
import * as nodePath from 'node:path';
import { inspectFolderTarget } from '../folder-target.js';
import type {
  BackupContext,
  BackupResult,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
} from '../source.js';
import { restoreFiles } from './files-restore.js';
import type { FilesSourceConfig } from './files-schema.js';
import { backupFiles } from './files-walk.js';

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
    inspectTarget: (to) => inspectFolderTarget(nodePath.resolve(to ?? settings.path)),
  };
}
