/**
 * @module sources/sqlite/sqlite-engine
 * The sqlite engine as the registry holds it: restore scopes, statistics, drills (a temporary
 * file, `PRAGMA integrity_check`, check queries through better-sqlite3).
 */
import { scratchFolder } from '../../scratch/scratch-folder.js';
import { timedCheck } from '../drill-checks.js';
import { RESTORE_SCOPES } from '../restore-scopes.js';
import type { Engine } from '../source.js';

async function openReadOnly(path: string) {
  const { default: Database } = await import('better-sqlite3');
  return new Database(path, { readonly: true, fileMustExist: true });
}

export const sqliteEngine: Engine = {
  load: async () => (await import('./sqlite-source.js')).createSqliteSource,
  restore: { scopes: [RESTORE_SCOPES.tables] },
  stats: [
    { name: 'rows', help: 'rows per table', drill: 'equal' },
    { name: 'tables', help: 'tables', drill: 'none' },
    { name: 'bytes', help: 'bytes of the database file', drill: 'none' },
  ],
  drill: {
    scratch: () => scratchFolder('temporary file', 'drill.sqlite'),
    integrity: async ({ target, now }) => [
      await timedCheck('sqlite integrity_check', now, async () => {
        const db = await openReadOnly(target.restored);
        try {
          const rows = db.pragma('integrity_check') as { integrity_check: string }[];
          const text = rows.map((r) => r.integrity_check).join('; ');
          return { ok: text === 'ok', detail: text };
        } finally {
          db.close();
        }
      }),
    ],
    query: async (target, sql) => {
      const db = await openReadOnly(target.restored);
      try {
        const row = db.prepare(sql).raw().get() as unknown[] | undefined;
        return row === undefined ? '' : String(row[0]);
      } finally {
        db.close();
      }
    },
  },
};
