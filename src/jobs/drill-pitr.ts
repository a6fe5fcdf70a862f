/**
 * @module jobs/drill-pitr
 * Drills of physical PostgreSQL sources (point-in-time recovery): the newest base backup is
 * recovered with every archived WAL file in a scratch cluster (jobs/pitr-scratch, at
 * "latest"), and the drill records what it recovered: the time of the last transaction
 * replayed and so the data-loss window (RPO) achieved. An older base backup (an app's old
 * recovery point) is recovered to its own moment, the end of the backup, not to the latest.
 */
import { systemClock, type WaitingClock } from '../clock.js';
import { LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { type DrillCheckResult, pgAmcheck } from './drill-integrity.js';
import { recoveryWindow } from './pitr.js';
import { recoverInScratch } from './pitr-scratch.js';
import { countRows, rowsCheck, targetCheck } from './pitr-verify.js';

/** What a physical drill recovered, for the report. */
export interface DrillRecovery {
  /** Time of the last transaction replayed (pg_last_xact_replay_timestamp), else null. */
  lastTransaction: string | null;
  /** The point the data is known to be recovered to: lastTransaction, else the base backup's end. */
  recoveredTo: string;
  /**
   * Data-loss window achieved: drill start minus recoveredTo, in milliseconds (an upper
   * bound); for an older base backup, its moment minus recoveredTo.
   */
  rpoMs: number;
  /** The recovery target: "latest", or an older base backup's end time. */
  target?: string;
  /** Time the newest archived WAL file was stored (the archive's recoverable window end). */
  archiveEnd: string | null;
  /** WAL files the scratch server fetched from the repository. */
  walFetched: number;
  /** Base backup restored (snapshot id). */
  base: string;
  /** WAL position replay reached. */
  replayLsn: string | null;
}

export interface PhysicalDrillRequest {
  repo: Repository;
  snapshotId: string;
  snapshot: Snapshot;
  /** The source's configured settings (for the user and database to connect as). */
  configured?: Record<string, unknown>;
  /** argv that runs this Lifeboat with the same config: [node, bin, --config FILE]. */
  lifeboatArgv: string[];
  /** When the drill started (the RPO is measured from it). */
  started: Date;
  /** Registers the cleanup of what was made, even when a later step fails. */
  onCleanup(cleanup: () => Promise<void>): void;
  /** Measures the restore and paces the wait for promotion (the system clock by default). */
  clock?: WaitingClock;
}

export interface PhysicalDrillResult {
  /** The scratch database URL (unix socket) checks run against. */
  url: string;
  restoreMs: number;
  recovery: DrillRecovery;
  checks: DrillCheckResult[];
}

export async function physicalDrill(req: PhysicalDrillRequest): Promise<PhysicalDrillResult> {
  const { repo, snapshot } = req;
  const clock = req.clock ?? systemClock;
  const now = () => clock.now().getTime();
  const source = snapshot.source;
  const window = await recoveryWindow(repo, (await repo.scanSnapshots()).snapshots, source);
  const newest = window.bases.at(-1);
  // The newest base backup replays every archived WAL file; an older one stops at its own end.
  const moment = String(snapshot.meta.endTime ?? snapshot.time);
  const at = newest && newest.id !== req.snapshotId ? new Date(Date.parse(moment)).toISOString() : 'latest';

  const t0 = now();
  const state = await recoverInScratch(repo, {
    source,
    at,
    configured: req.configured,
    lifeboatArgv: req.lifeboatArgv,
    onCleanup: req.onCleanup,
    clock,
    component: 'drill',
  });
  const { url } = state;
  const restoreMs = now() - t0;
  if (state.point.base.id !== req.snapshotId) {
    throw new LifeboatError(
      'integrity',
      `[drill] recovering ${source} to ${at} chose base backup ${state.point.base.id.slice(0, 8)}, not ${req.snapshotId.slice(0, 8)} (two base backups ended at the same time?)`,
    );
  }

  const recoveredTo = state.lastTransaction ?? moment;
  const until = at === 'latest' ? req.started.getTime() : Date.parse(moment);
  const recovery: DrillRecovery = {
    lastTransaction: state.lastTransaction,
    recoveredTo,
    target: at,
    rpoMs: Math.max(0, until - Date.parse(recoveredTo)),
    archiveEnd: window.to ?? null,
    walFetched: state.fetched,
    base: req.snapshotId,
    replayLsn: state.lsn,
  };
  const checks: DrillCheckResult[] = [
    {
      name: 'recovery finished',
      ok: true,
      detail: `promoted after replaying ${state.fetched} WAL file(s) to ${state.lsn ?? '?'}; last transaction ${state.lastTransaction ?? 'none after the base backup'}`,
      ms: restoreMs,
    },
  ];
  if (at !== 'latest') checks.push(targetCheck(at, state.lastTransaction, ''));
  checks.push(await pgAmcheck(url, { allDatabases: true }));
  const { rows } = await countRows(state.server, state.user, url);
  checks.push(rowsCheck(rows));
  return { url, restoreMs, recovery, checks };
}
