/**
 * @module jobs/drill-integrity
 * The engine's own integrity checks on what a drill restored, each a named check in the
 * report. The checks are the engines' (their `drill.integrity`: `PRAGMA integrity_check`,
 * pg_amcheck, redis-check-rdb, ...); this module gives them the repository to read from, under
 * a lock. A check whose tool is not installed is reported as skipped, with why: never as passed.
 */
import type { Clock } from '../clock.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { engineDeclaration } from '../sources/registry.js';
import type { ContentStore, DrillCheckResult, DrillTarget } from '../sources/source.js';

export { runProgram } from '../sources/drill-checks.js';
export { findPgAmcheck, pgAmcheck } from '../sources/postgres/postgres-amcheck.js';
export type { DrillCheckResult } from '../sources/source.js';

/** A check that failed the drill (a skipped one did not). */
export function checkFailed(c: DrillCheckResult): boolean {
  return !c.ok && !c.skipped;
}

export interface IntegrityTarget {
  repo: Repository;
  snapshot: Snapshot;
  target: DrillTarget;
  clock: Clock;
}

/** The engine's integrity checks of a restored snapshot; none for engines without one. */
export async function integrityChecks(t: IntegrityTarget): Promise<DrillCheckResult[]> {
  const integrity = engineDeclaration(t.snapshot.engine)?.drill.integrity;
  if (!integrity) return [];
  return integrity({
    snapshot: t.snapshot,
    target: t.target,
    now: () => t.clock.now().getTime(),
    withStore: (read) => withStore(t.repo, read),
  });
}

/** Reads the repository's content with a shared lock held, so prune removes nothing meanwhile. */
async function withStore<T>(repo: Repository, read: (store: ContentStore) => Promise<T>): Promise<T> {
  const lock = await repo.lock(false, 'drill: integrity check');
  try {
    await repo.loadIndex();
    return await read(new RepoContentStore(repo));
  } finally {
    await lock.release().catch(() => {});
  }
}
