/**
 * @module jobs/backup
 * One backup of one source: lock (shared), load the index, let the source store its data,
 * flush packs and index, then write the snapshot, which is the commit.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { describe, isLifeboatError, LifeboatError } from '../errors.js';
import type { Progress } from '../progress.js';
import { silentProgress } from '../progress.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { createSource } from '../sources/registry.js';
import type { Source } from '../sources/source.js';
import type { SnapshotRun } from '../sources/source-units.js';
import { VERSION } from '../version.js';
import { type HooksConfig, withHooks } from './hooks.js';
import { latestOf } from './snapshot-select.js';

export interface BackupRequest {
  source: Source;
  /** The source's settings, recorded without secrets so a restore needs no config file. */
  sourceConfig: Record<string, unknown>;
  tags?: string[];
  progress?: Progress;
  /** The run this snapshot is a unit of, for a source saved as several units. */
  run?: SnapshotRun;
}

export interface BackupOutcome {
  id: string;
  snapshot: Snapshot;
}

export async function runBackup(repo: Repository, req: BackupRequest): Promise<BackupOutcome> {
  const started = repo.clock.now();
  const addedBefore = repo.bytesAdded;
  const lock = await repo.lock(false, `backup of ${req.source.name}`);
  try {
    await repo.loadIndex({ adoptOrphans: true });
    // Write-only credentials cannot read snapshots: every file is read again (and deduplicated).
    const parent = repo.writeOnly ? undefined : await latestOf(repo, req.source.name);
    const usableParent = parent && parent.snapshot.engine === req.source.type ? parent : undefined;
    const store = new RepoContentStore(repo);
    const progress = req.progress ?? silentProgress;
    // The previous backup's size is the best estimate of this one's, for the ETA.
    const estimate = usableParent?.snapshot.stats.bytes;
    progress.start(`backup ${req.source.name}`, typeof estimate === 'number' ? estimate : undefined);
    let result: Awaited<ReturnType<Source['backup']>>;
    try {
      result = await req.source.backup({ store, progress, parentRoot: usableParent?.snapshot.root });
      progress.done();
    } catch (err) {
      progress.done();
      // Keep what was uploaded indexed, so the next run reuses it; the failure stands.
      await repo.flush().catch(() => {});
      throw isLifeboatError(err)
        ? err
        : new LifeboatError('source_failed', `[backup] ${req.source.name}: ${describe(err)}`, { cause: err });
    }
    await repo.flush();
    const finished = repo.clock.now();
    const snapshot: Snapshot = {
      version: 1,
      time: started.toISOString(),
      source: req.source.name,
      engine: req.source.type,
      kind: req.source.kind,
      host: repo.hostname(),
      username: safeUser(),
      tags: req.tags ?? [],
      programVersion: VERSION,
      root: result.root,
      parent: usableParent?.id,
      stats: result.stats,
      meta: result.meta ?? {},
      sourceConfig: publicSourceConfig(req.sourceConfig),
      ...(req.run ? { run: req.run } : {}),
      backup: {
        bytesRead: typeof result.stats.bytes === 'number' ? result.stats.bytes : 0,
        bytesAdded: repo.bytesAdded - addedBefore,
        durationMs: finished.getTime() - started.getTime(),
      },
    };
    const id = await repo.saveSnapshot(snapshot);
    return { id, snapshot };
  } finally {
    await lock.release().catch(() => {});
  }
}

const SECRET_KEYS = /pass(word)?|secret|token|key$/i;

/** Settings minus hooks and secrets; passwords inside URLs are removed. */
export function publicSourceConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (k === 'hooks' || SECRET_KEYS.test(k)) continue;
    out[k] = typeof v === 'string' ? stripUrlPassword(v) : v;
  }
  return out;
}

export function stripUrlPassword(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1@');
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

export interface SourceBackupRequest {
  name: string;
  /** The source's settings as configured (validated by the registry again). */
  config: Record<string, unknown>;
  tags?: string[];
  /** A progress renderer per snapshot taken. */
  progress?: () => Progress;
}

/**
 * Backs up one configured source: its hooks around the whole job, and one snapshot per
 * unit (a postgres source with several databases takes one per database).
 */
export async function backupSource(repo: Repository, req: SourceBackupRequest): Promise<BackupOutcome[]> {
  const top = await createSource(req.name, req.config);
  const hooks = req.config.hooks as HooksConfig | undefined;
  return withHooks(
    hooks,
    'backup',
    { source: req.name, type: top.type },
    async () => {
      const units = top.expand ? await top.expand() : undefined;
      // Each unit's snapshot names the run and all its units: a run missing one is not a whole backup.
      const run = units && { id: randomBytes(8).toString('hex'), units: units.map((u) => u.source.name) };
      const outcomes: BackupOutcome[] = [];
      for (const unit of units ?? [{ source: top, config: req.config }]) {
        outcomes.push(
          await runBackup(repo, {
            source: unit.source,
            sourceConfig: unit.config,
            tags: req.tags,
            progress: req.progress?.(),
            run,
          }),
        );
      }
      return outcomes;
    },
    (outcomes) => ({ snapshot: outcomes.map((o) => o.id).join(' ') }),
  );
}
