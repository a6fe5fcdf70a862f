/**
 * @module jobs/restore
 * Restore one snapshot through its source engine, under a shared lock so prune cannot
 * remove data while it is read.
 */
import { LifeboatError } from '../errors.js';
import type { Progress } from '../progress.js';
import { silentProgress } from '../progress.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { createSource } from '../sources/registry.js';
import type { RestoreOptions, RestoreResult } from '../sources/source.js';
import { sourceOfUnit } from '../sources/source-units.js';
import { stripUrlPassword } from './backup.js';
import { type HooksConfig, withHooks } from './hooks.js';
import { findSnapshot } from './snapshot-select.js';

export interface RestoreRequest {
  snapshot: string;
  source?: string;
  /** Sources from the config file by name; a snapshot whose source is not there restores from what it recorded. */
  configured: Record<string, Record<string, unknown> | undefined>;
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
    // A unit ("app-db/sales") restores through its configured parent source ("app-db").
    const configured = req.configured[snapshot.source] ?? req.configured[sourceOfUnit(snapshot.source)];
    const config = configured ?? snapshot.sourceConfig;
    const source = await createSource(snapshot.source, config);
    if (req.options.dataOnly && !source.restoresDataOnly) {
      throw new LifeboatError(
        'usage',
        `[restore] --data-only applies to PostgreSQL database snapshots, not to ${snapshot.source} (${source.type}, ${source.kind})`,
      );
    }
    const hooks = req.options.dryRun ? undefined : (configured?.hooks as HooksConfig | undefined);
    return await withHooks(
      hooks,
      'restore',
      {
        source: snapshot.source,
        type: source.type,
        snapshot: id,
        target: req.options.to && stripUrlPassword(req.options.to),
      },
      async () => {
        await repo.loadIndex();
        const ctx = {
          store: new RepoContentStore(repo),
          progress: req.progress ?? silentProgress,
          root: snapshot.root,
          stats: snapshot.stats,
          meta: snapshot.meta,
        };
        const result = await source.restore(ctx, req.options);
        return { ...result, snapshotId: id, snapshot };
      },
    );
  } finally {
    await lock.release().catch(() => {});
  }
}
