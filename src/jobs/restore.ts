/**
 * @module jobs/restore
 * Restore one snapshot through its source engine, under a shared lock so prune cannot
 * remove data while it is read.
 */
import type { Progress } from '../progress.js';
import { silentProgress } from '../progress.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import type { RestoreOptions, RestoreResult, Source } from '../sources/source.js';
import { findSnapshot } from './snapshot-select.js';

export interface RestoreRequest {
  snapshot: string;
  source?: string;
  /** Builds the engine for a snapshot: from the config file, or from the snapshot itself. */
  sourceFor(snapshot: Snapshot): Source;
  options: RestoreOptions;
  progress?: Progress;
}

export interface RestoreOutcome extends RestoreResult {
  snapshotId: string;
  snapshot: Snapshot;
}

export async function runRestore(repo: Repository, req: RestoreRequest): Promise<RestoreOutcome> {
  const lock = await repo.lock(false, 'restore');
  try {
    const { id, snapshot } = await findSnapshot(repo, req.snapshot, req.source);
    await repo.loadIndex();
    const source = req.sourceFor(snapshot);
    const result = await source.restore(
      {
        store: new RepoContentStore(repo),
        progress: req.progress ?? silentProgress,
        root: snapshot.root,
        stats: snapshot.stats,
        meta: snapshot.meta,
      },
      req.options,
    );
    return { ...result, snapshotId: id, snapshot };
  } finally {
    await lock.release().catch(() => {});
  }
}
