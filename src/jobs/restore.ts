/**
 * @module jobs/restore
 * Restore one snapshot through its source engine, under a shared lock so prune cannot
 * remove data while it is read.
 */
import { describe, LifeboatError } from '../errors.js';
import type { Progress } from '../progress.js';
import { silentProgress } from '../progress.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot, SnapshotProblem } from '../repo/snapshot.js';
import { createSource, engineDeclaration } from '../sources/registry.js';
import type { DamagedItem, RestoreOptions, RestoreResult, TargetContents } from '../sources/source.js';
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
  /**
   * A restore that met damaged data writes everything else, then throws a 'partial' error
   * naming what it could not restore; with `returnPartial` it returns instead, `damaged` set,
   * for a caller that lists every item itself (the CLI). Callers that know nothing of
   * partial results (a drill) so never take one for a success.
   */
  returnPartial?: boolean;
  /** Told which snapshot restores, before anything is written (for what an interruption says). */
  onSnapshot?: (id: string, snapshot: Snapshot) => void;
}

export interface RestoreOutcome extends RestoreResult {
  snapshotId: string;
  snapshot: Snapshot;
  /** `latest` was chosen among the snapshots that read; these files did not. */
  skipped: SnapshotProblem[];
  /** Snapshots `latest` passed over as they claim a time from the future, one line each. */
  future: string[];
  /** A dry run: what the target holds now, that a real restore would replace or add to. */
  targetHolds?: TargetContents;
}

/** The error of a restore that left out what damaged data kept it from writing. */
export function partialRestoreError(damaged: readonly DamagedItem[], target: string): LifeboatError {
  const shown = damaged.slice(0, 10).map(describeDamaged);
  const more = damaged.length > shown.length ? `; and ${damaged.length - shown.length} more` : '';
  return new LifeboatError(
    'partial',
    `[restore] ${damaged.length} item${damaged.length === 1 ? '' : 's'} could not be restored to ${target}, the repository's copy is damaged: ${shown.join('; ')}${more}; the first: ${damaged[0].reason} (everything else was restored; restore these from another snapshot)`,
  );
}

/** One damaged item in a line: its path, and for dumps the byte ranges and tables. */
export function describeDamaged(d: DamagedItem): string {
  const ranges = d.ranges?.map((r) => `${r.start}-${r.end}`).join(', ');
  const where = [ranges && `bytes ${ranges}`, d.tables?.length && `tables ${d.tables.join(', ')}`]
    .filter(Boolean)
    .join(', ');
  return where ? `${d.path} (${where})` : d.path;
}

export async function runRestore(repo: Repository, req: RestoreRequest): Promise<RestoreOutcome> {
  const lock = await repo.lock(false, 'restore');
  try {
    const { id, snapshot, skipped, future } = await findSnapshot(repo, req.snapshot, req.source);
    if (snapshot.kind === 'drill') {
      throw new LifeboatError(
        'usage',
        `[restore] snapshot ${id.slice(0, 8)} is a restore drill's report for ${String(snapshot.meta.drilledSource ?? snapshot.source)}, not a backup: read it with \`lifeboat drill --show ${id.slice(0, 8)}\``,
      );
    }
    req.onSnapshot?.(id, snapshot);
    // A unit ("app-db/sales") restores through its configured parent source ("app-db").
    const configured = req.configured[snapshot.source] ?? req.configured[sourceOfUnit(snapshot.source)];
    const config = configured ?? snapshot.sourceConfig;
    const source = await createSource(snapshot.source, config);
    if (req.options.dataOnly && !engineDeclaration(source.type)?.restore.dataOnly) {
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
        // What a write-only host wrote is restored without privileges (docs/keys.md).
        const fromWriteOnly = await repo.sealedByWriteOnlyKey(id);
        const options = fromWriteOnly ? { ...req.options, noPrivileges: true } : req.options;
        // A dry run says what the target holds now, whatever the engine (the plan a person approves).
        const targetHolds =
          options.dryRun && source.inspectTarget
            ? await source.inspectTarget(options.to, { meta: snapshot.meta, stats: snapshot.stats }).catch(
                (err): TargetContents => ({
                  target: options.to ?? snapshot.source,
                  exists: true,
                  summary: `could not be inspected: ${describe(err)}`,
                }),
              )
            : undefined;
        const result = await source.restore(ctx, options);
        if (result.damaged?.length && !req.returnPartial)
          throw partialRestoreError(result.damaged, result.target);
        return {
          ...result,
          snapshotId: id,
          snapshot,
          skipped,
          future,
          ...(targetHolds ? { targetHolds } : {}),
        };
      },
    );
  } finally {
    await lock.release().catch(() => {});
  }
}
