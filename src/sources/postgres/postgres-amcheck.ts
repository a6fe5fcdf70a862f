/**
 * @module sources/postgres/postgres-amcheck
 * pg_amcheck on a drill's restored database (or a whole recovered cluster): heap pages and
 * B-tree indexes, the amcheck extension installed into the scratch database on the way.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findPostgresBinDir } from '../../scratch/postgres.js';
import { lastLines, onPath, runProgram, skippedCheck, timedCheck } from '../drill-checks.js';
import type { DrillCheckResult } from '../source.js';

export const PG_AMCHECK = 'pg_amcheck';

/** The pg_amcheck of the installed PostgreSQL, or one on PATH. */
export function findPgAmcheck(): string | null {
  const bin = findPostgresBinDir();
  if (bin && existsSync(join(bin, 'pg_amcheck'))) return join(bin, 'pg_amcheck');
  return onPath('pg_amcheck');
}

/**
 * pg_amcheck against the database of `url` (or, with allDatabases, every database of its
 * cluster). `--install-missing` creates the amcheck extension (PostgreSQL's contrib) in the
 * scratch database first. The password goes by PGPASSWORD, not on the command line.
 */
export async function pgAmcheck(
  url: string,
  opts: { allDatabases: boolean; now?: () => number },
): Promise<DrillCheckResult> {
  return timedCheck(PG_AMCHECK, opts.now ?? Date.now, async () => {
    const tool = findPgAmcheck();
    if (!tool)
      return skippedCheck('pg_amcheck not found (it comes with the postgresql package, PostgreSQL 14+)');
    const u = new URL(url);
    const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres';
    // A unix socket folder comes percent-encoded in the host part.
    const host = decodeURIComponent(u.hostname);
    const args = ['--install-missing', '--no-password', '-h', host, '-p', u.port || '5432'];
    if (u.username) args.push('-U', decodeURIComponent(u.username));
    if (opts.allDatabases) args.push('--all', '--maintenance-db', database);
    else args.push(database);
    const env: Record<string, string> = { PGCONNECT_TIMEOUT: '10' };
    if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
    const sslmode = u.searchParams.get('sslmode');
    if (sslmode) env.PGSSLMODE = sslmode;
    const r = await runProgram(tool, args, env);
    const out = r.output.trim();
    if (r.code === 0)
      return {
        ok: true,
        detail: opts.allDatabases
          ? 'every database: no corruption found'
          : `${database}: no corruption found`,
      };
    if (/could not open extension control file|extension "amcheck" is not available/i.test(out)) {
      return skippedCheck(`the amcheck extension is not installed on the scratch server: ${lastLines(out)}`);
    }
    return { ok: false, detail: `exit ${r.code}: ${lastLines(out)}` };
  });
}
