/**
 * @module sources/mysql/mysql-engine
 * The mysql and mariadb engines as the registry holds them (one implementation, two config
 * types): tables as restore scope; a drill restores into a throwaway mariadbd.
 */
import { needScratch } from '../drill-checks.js';
import { RESTORE_SCOPES } from '../restore-scopes.js';
import type { Engine, EngineDeclaration } from '../source.js';

const declaration: EngineDeclaration = {
  restore: { scopes: [RESTORE_SCOPES.tables] },
  stats: [
    { name: 'rows', help: 'rows per table', drill: 'equal' },
    { name: 'tables', help: 'tables', drill: 'none' },
    { name: 'views', help: 'views', drill: 'none' },
    { name: 'bytes', help: 'bytes of the dump', drill: 'none' },
  ],
  drill: {
    scratch: async (snapshot) => {
      const { startMariadb, mariadbUnavailable } = await import('../../scratch/mariadb.js');
      needScratch('MariaDB', mariadbUnavailable());
      const server = await startMariadb();
      const database = typeof snapshot.meta.database === 'string' ? snapshot.meta.database : 'drill';
      return { to: server.urlFor(database), kind: 'throwaway mariadbd', cleanup: () => server.stop() };
    },
  },
};

const load = async () => (await import('./mysql-source.js')).createMysqlSource;

export const mysqlEngine: Engine = { ...declaration, load };
export const mariadbEngine: Engine = { ...declaration, load };
