/**
 * @module sources/lmdb/lmdb-engine
 * The lmdb engine as the registry holds it: restored whole (no scopes); a drill opens the
 * restored environment read-only and counts its entries.
 */
import { scratchFolder } from '../../scratch/scratch-folder.js';
import { timedCheck } from '../drill-checks.js';
import type { Engine } from '../source.js';

export const lmdbEngine: Engine = {
  load: async () => (await import('./lmdb-source.js')).createLmdbSource,
  restore: { scopes: [] },
  stats: [
    { name: 'entries', help: 'entries per named database', drill: 'equal' },
    { name: 'entriesTotal', help: 'entries in all', drill: 'equal' },
    { name: 'databases', help: 'named databases', drill: 'none' },
    { name: 'bytes', help: 'bytes of the compacted copy', drill: 'none' },
  ],
  drill: {
    scratch: () => scratchFolder('temporary folder'),
    integrity: async ({ target, now }) => [
      await timedCheck('lmdb open read-only', now, async () => {
        const { countEntries, detectFormat } = await import('./lmdb-env.js');
        const format = await detectFormat(target.restored);
        const counts = await countEntries(target.restored, format);
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        return {
          ok: true,
          detail: `format ${format}: ${Object.keys(counts).length} database(s), ${total} entries readable`,
        };
      }),
    ],
  },
};
