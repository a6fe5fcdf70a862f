/**
 * @module jobs/pitr-extract
 * `restore --source S --at TIME --table T --to postgres://... --data-only` for a physical
 * PostgreSQL source: the rows tables held at TIME, loaded into a live database without
 * recovering a whole server by hand. S is recovered to TIME in a scratch cluster
 * (jobs/pitr-scratch), the tables' rows are copied from it into the target in one transaction
 * (sources/postgres/postgres-table-copy: TRUNCATE + load, as `restore --table --data-only`),
 * and the scratch cluster is removed whatever happens.
 */
import { systemClock, type WaitingClock } from '../clock.js';
import type { Repository } from '../repo/repository.js';
import { parsePgUrl } from '../sources/postgres/postgres-connection.js';
import { checkCopyTarget, copyTableRows } from '../sources/postgres/postgres-table-copy.js';
import { recoverInScratch } from './pitr-scratch.js';

export interface ExtractRequest {
  /** The physical source. */
  source: string;
  /** As restore --at: a time, name:, lsn:, xid: or latest. */
  at: string;
  tables: string[];
  /** The target database: a postgres:// URL. */
  to: string;
  overwrite: boolean;
  /** The source's configured settings (its url names the database the tables are in). */
  configured?: Record<string, unknown>;
  /** argv that runs this Lifeboat with the same config (the scratch cluster's WAL fetches). */
  lifeboatArgv: string[];
  clock?: WaitingClock;
}

export interface ExtractOutcome {
  /** Base backup recovered from (snapshot id). */
  base: string;
  /** The recovery target, as restoreToPoint normalized it. */
  at: string;
  /** Time of the last transaction recovery replayed: the moment the data is from. */
  lastTransaction: string | null;
  /** The database the rows were read from, in the recovered cluster. */
  database: string;
  /** The target, without credentials. */
  target: string;
  /** Rows loaded per table. */
  rows: Record<string, number>;
  walFetched: number;
}

export async function extractAtPoint(repo: Repository, req: ExtractRequest): Promise<ExtractOutcome> {
  const to = parsePgUrl(req.to, '--to');
  // An unreachable target fails now, not after the recovery.
  await checkCopyTarget(to);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const recovered = await recoverInScratch(repo, {
      source: req.source,
      at: req.at,
      configured: req.configured,
      lifeboatArgv: req.lifeboatArgv,
      onCleanup: (c) => cleanups.push(c),
      clock: req.clock ?? systemClock,
      component: 'restore',
    });
    const { server, user, database, point } = recovered;
    const copied = await copyTableRows({
      from: { host: server.socketDir, port: server.port, user, database, params: {} },
      fromLabel: `${req.source} (database ${database}) at ${point.at}`,
      to: { ...to, database: to.database ?? database },
      tables: req.tables,
      overwrite: req.overwrite,
      binDir: server.binDir,
    });
    return {
      base: point.base.id,
      at: point.at,
      lastTransaction: recovered.lastTransaction,
      database,
      target: copied.target,
      rows: copied.rows,
      walFetched: recovered.fetched,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  }
}
