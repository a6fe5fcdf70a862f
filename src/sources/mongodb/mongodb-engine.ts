/**
 * @module sources/mongodb/mongodb-engine
 * The mongodb engine as the registry holds it: collections as restore scope; Lifeboat makes
 * no scratch server for its drills (drill.scratch_url names one).
 */
import { RESTORE_SCOPES } from '../restore-scopes.js';
import type { Engine } from '../source.js';

export const mongodbEngine: Engine = {
  load: async () => (await import('./mongodb-source.js')).createMongodbSource,
  restore: { scopes: [RESTORE_SCOPES.collections] },
  stats: [
    { name: 'documents', help: 'documents per collection ("db.coll")', drill: 'none' },
    { name: 'documentsTotal', help: 'documents in all', drill: 'equal' },
    { name: 'collections', help: 'collections', drill: 'none' },
    { name: 'bytes', help: 'bytes of the archive', drill: 'none' },
  ],
  drill: { scratch: async () => undefined },
};
