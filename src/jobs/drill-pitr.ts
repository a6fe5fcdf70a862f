/**
 * @module jobs/drill-pitr
 * Drills of physical PostgreSQL sources (point-in-time recovery): the newest base backup is
 * recovered with every archived WAL file in a scratch cluster (jobs/pitr-scratch, at
 * "latest"), and the drill records what it recovered: the time of the last transaction
 * replayed and so the data-loss window (RPO) achieved.
 */
import { systemClock, type WaitingClock } from '../clock.js';
import { LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { type DrillCheckResult, pgAmcheck } from './drill-integrity.js';
import { recoveryWindow } from './pitr.js';
import { recoverInScratch } from './pitr-scratch.js';

/** What a physical drill recovered, for the report. */
export interface DrillRecovery {
  /** Time of the last transaction replayed (pg_last_xact_replay_timestamp), else null. */
  lastTransaction: string | null;
  /** The point the data is known to be recovered to: lastTransaction, else the base backup's end. */
  recoveredTo: string;
  /** Data-loss window achieved: drill start minus recoveredTo, in milliseconds (an upper bound). */
  rpoMs: number;
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
  if (newest && newest.id !== req.snapshotId) {
    throw new LifeboatError(
      'usage',
      `[drill] ${source} is a physical source: a drill restores its newest base backup (${newest.id.slice(0, 8)}) and replays every archived WAL file; snapshot ${req.snapshotId.slice(0, 8)} is an older base backup`,
    );
  }

  const t0 = now();
  const state = await recoverInScratch(repo, {
    source,
    at: 'latest',
    configured: req.configured,
    lifeboatArgv: req.lifeboatArgv,
    onCleanup: req.onCleanup,
    clock,
    component: 'drill',
  });
  const { url } = state;
  const restoreMs = now() - t0;

  const baseEnd = String(window.bases.at(-1)?.snapshot.meta.endTime ?? snapshot.time);
  const recoveredTo = state.lastTransaction ?? baseEnd;
  const recovery: DrillRecovery = {
    lastTransaction: state.lastTransaction,
    recoveredTo,
    rpoMs: Math.max(0, req.started.getTime() - Date.parse(recoveredTo)),
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
    await pgAmcheck(url, { allDatabases: true }),
  ];
  return { url, restoreMs, recovery, checks };
}
