/**
 * @module jobs/prune
 * `lifeboat prune`: the repository's prune (repo/maintenance/prune.ts), told which archived
 * WAL no kept base backup needs (jobs/wal-chain.ts).
 */
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
