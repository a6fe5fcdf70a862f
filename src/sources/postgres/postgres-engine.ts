/**
 * @module sources/postgres/postgres-engine
 * The postgres engine as the registry holds it: tables and schemas as restore scopes (rows
 * alone with data only); a logical drill restores into a throwaway cluster, the source's
 * globals unit first (so the roles its objects name exist, the rest created NOLOGIN), then
 * pg_amcheck; a physical one recovers base backup and WAL (jobs/drill-pitr).
 */
import { needScratch } from '../drill-checks.js';
import { RESTORE_SCOPES } from '../restore-scopes.js';
import type { DrillCheckResult, Engine, PreludeLoaded, SourceStats } from '../source.js';

/** The "roles" check: where the roles came from, and which had to be made up. */
function rolesCheck(globals: PreludeLoaded, restored: SourceStats): DrillCheckResult {
  const created = restored.rolesCreated;
  const made = Array.isArray(created) ? (created as string[]) : [];
  const parts: string[] = [];
  if (globals.from && !globals.failed && !globals.skipped) {
    const roles = typeof globals.stats?.roles === 'number' ? globals.stats.roles : 'the';
    parts.push(`${roles} roles loaded from the globals ${globals.from}`);
  } else if (globals.failed) parts.push(`loading the globals ${globals.from} failed: ${globals.failed}`);
  else if (globals.skipped) parts.push(globals.skipped);
  parts.push(made.length > 0 ? `created NOLOGIN: ${made.join(', ')}` : 'none had to be created');
  return { name: 'roles', ok: !globals.failed, detail: parts.join('; '), ms: 0 };
}

export const postgresEngine: Engine = {
  load: async () => (await import('./postgres-source.js')).createPostgresSource,
  restore: { scopes: [RESTORE_SCOPES.tables, RESTORE_SCOPES.schemas], dataOnly: true },
  archivesLog: (config) => config.method === 'physical',
  stats: [
    { name: 'rows', help: 'rows per table ("schema.table")', drill: 'equal' },
    { name: 'rowsEstimated', help: 'tables whose count is the planner estimate', drill: 'none' },
    { name: 'tables', help: 'tables', drill: 'none' },
    { name: 'largeObjects', help: 'large objects', drill: 'none' },
    { name: 'schemaDigest', help: 'digest of the schema, checked by a restore', drill: 'none' },
    { name: 'roles', help: 'roles (the globals unit)', drill: 'none' },
    { name: 'tablespaces', help: 'tablespaces (the globals unit)', drill: 'none' },
    { name: 'bytes', help: 'bytes of the archive or base backup', drill: 'none' },
  ],
  drill: {
    recoversFromLog: (snapshot) => snapshot.kind === 'physical',
    scratch: async (snapshot) => {
      if (snapshot.kind !== 'logical') return undefined;
      const { startPostgres, postgresUnavailable } = await import('../../scratch/postgres.js');
      needScratch('PostgreSQL', postgresUnavailable());
      const server = await startPostgres();
      // The globals unit (roles, tablespaces) names no database: it restores through "postgres".
      const database = typeof snapshot.meta.database === 'string' ? snapshot.meta.database : 'postgres';
      return {
        to: server.urlFor(database),
        kind: 'throwaway postgres cluster',
        preludeTo: server.urlFor('postgres'),
        cleanup: () => server.stop(),
      };
    },
    integrity: async ({ target, now }) => {
      const { pgAmcheck } = await import('./postgres-amcheck.js');
      return [await pgAmcheck(target.to, { allDatabases: false, now })];
    },
    query: async (target, sql) => {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: target.to });
      client.on('error', () => {});
      await client.connect();
      try {
        const r = await client.query({ text: sql, rowMode: 'array' });
        const row = (r.rows as unknown[][])[0];
        return row === undefined ? '' : String(row[0]);
      } finally {
        await client.end().catch(() => {});
      }
    },
    prelude: {
      name: 'globals',
      wanted: (snapshot) => typeof snapshot.meta.database === 'string',
      is: (c) => c.kind === 'logical' && c.engine === 'postgres' && c.meta.part === 'globals',
      noneSaved: 'no globals saved (globals: true)',
      options: { createRoles: true },
      check: rolesCheck,
    },
  },
};
