/**
 * @module jobs/prune
 * `lifeboat prune`: the repository's prune (repo/maintenance/prune.ts), told which archived
 * WAL no kept base backup needs (jobs/wal-chain.ts), with the grace period its caller gives
 * or the config's `repository.prune_grace`.
 */
import type { LifeboatConfig } from '../config/config-schema.js';
import { parseDuration } from '../config/duration.js';
import type { Progress } from '../progress.js';
import { type PruneOutcome, pruneRepository } from '../repo/maintenance/prune.js';
import type { Repository } from '../repo/repository.js';
import { expiredWal, walBySource } from './wal-chain.js';

export type { PruneOutcome } from '../repo/maintenance/prune.js';

export function runPrune(
  repo: Repository,
  options: { dryRun?: boolean; progress?: Progress; graceMs?: number } = {},
): Promise<PruneOutcome> {
  return pruneRepository(repo, {
    ...options,
    expiredWal: async (snapshots) => (await walBySource(repo, snapshots)).sources.flatMap(expiredWal),
  });
}

/** A grace as written (`24h`, `0`, 0), or none. */
export type GraceText = string | number | undefined;

/**
 * A prune's grace in milliseconds: `given` (`--grace`, a job's params) wins over the config's
 * `repository.prune_grace`; 0 (delete at once, under the exclusive lock) when neither is set.
 */
export function pruneGraceMs(given: GraceText, config?: Pick<LifeboatConfig, 'repository'>): number {
  const grace = given ?? config?.repository?.prune_grace;
  if (grace === undefined || grace === 0 || grace === '0') return 0;
  return parseDuration(String(grace));
}
