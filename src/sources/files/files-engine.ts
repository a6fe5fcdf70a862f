/**
 * @module sources/files/files-engine
 * The files engine as the registry holds it: restore scopes, statistics, drills.
 */
import { scratchFolder } from '../../scratch/scratch-folder.js';
import { RESTORE_SCOPES } from '../restore-scopes.js';
import type { Engine } from '../source.js';

export const filesEngine: Engine = {
  load: async () => (await import('./files-source.js')).createFilesSource,
  restore: { scopes: [RESTORE_SCOPES.include], privileges: true },
  stats: [
    { name: 'files', help: 'regular files', drill: 'equal' },
    { name: 'dirs', help: 'folders', drill: 'equal' },
    { name: 'symlinks', help: 'symbolic links', drill: 'none' },
    { name: 'bytes', help: 'bytes of file content', drill: 'equal' },
  ],
  drill: { scratch: () => scratchFolder('temporary folder') },
};
