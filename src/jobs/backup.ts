/**
 * @module jobs/backup
 * One backup of one source: the source starts while the repository is opened, locked (shared)
 * and its index loaded, its writes waiting for them; then flush packs and index, then write
 * the snapshot, which is the commit. A source of several units goes on past a unit that
 * fails, and reports what was saved and what was not.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { systemClock } from '../clock.js';
import { describe, isLifeboatError, LifeboatError } from '../errors.js';
import type { Progress } from '../progress.js';
import { silentProgress } from '../progress.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { LockOptions, RepositoryLock } from '../repo/lock.js';
import type { Repository } from '../repo/repository.js';
import { SKIPPED_LISTED, type Snapshot, type SnapshotEntry, type SnapshotPoint } from '../repo/snapshot.js';
import { createSource } from '../sources/registry.js';
import type { Source } from '../sources/source.js';
import type { SnapshotRun } from '../sources/source-units.js';
import { VERSION } from '../version.js';
import { type HookContext, type HooksConfig, withHooks } from './hooks.js';
import { latestOf } from './snapshot-select.js';
import { WaitingStore } from './waiting-store.js';

export interface BackupRequest {
  source: Source;
  /** The source's settings, recorded without secrets so a restore needs no config file. */
  sourceConfig: Record<string, unknown>;
  tags?: string[];
  progress?: Progress;
  /** The run this snapshot is a unit of, for a source saved as several units. */
  run?: SnapshotRun;
  /** The application recovery point this snapshot belongs to. */
  point?: SnapshotPoint;
  /** The server job saving it (recorded in the snapshot; a retried attempt adopts it). */
  job?: string;
  /** How long to wait for the repository lock while other work holds it (default: fail at once). */
  lockWait?: Pick<LockOptions, 'waitMs' | 'onWait'>;
}

export interface BackupOutcome {
  id: string;
  snapshot: Snapshot;
  /** Bytes counted without being read (files unchanged since the previous snapshot). */
  bytesReused?: number;
}

/**
 * The renderer's progress, with the previous snapshot's size as the total of each phase the
 * engine starts without one (a dump's size is unknown until it ends), and the bytes it did
 * not read again counted for the summary. The source starts before the previous snapshot is
 * known: `estimate` gives its size to the phase already running, once read.
 */
function countingProgress(inner: Progress) {
  let reused = 0;
  let estimate: number | undefined;
  // The phase's size is known (given at its start, or counted by the engine): no estimate.
  let sized = false;
  const progress: Progress = {
    start: (label, totalBytes) => {
      sized = totalBytes !== undefined;
      if (totalBytes !== undefined || estimate === undefined) inner.start(label, totalBytes);
      else if (inner.total) {
        inner.start(label);
        inner.total({ bytes: estimate, final: false });
      } else inner.start(label, estimate);
    },
    advance: (bytes, detail) => {
      if (detail?.reused) reused += bytes;
      inner.advance(bytes, detail);
    },
    done: () => inner.done(),
  };
  const total = inner.total?.bind(inner);
  if (total) {
    progress.total = (totals) => {
      sized = true;
      total(totals);
    };
  }
  return {
    progress,
    reused: () => reused,
    estimate: (bytes: number | undefined) => {
      estimate = bytes;
      if (bytes !== undefined && !sized) total?.({ bytes, final: false });
    },
  };
}

/** The repository a backup writes to, open or still opening. */
export type RepositoryRef = Repository | Promise<Repository>;

/** What the source's writes wait for: the repository locked, its index and the parent read. */
interface Ready {
  repo: Repository;
  lock: RepositoryLock;
  parent?: SnapshotEntry;
}

/** Opens, locks and reads the repository for a backup of `source`; no lock is left on failure. */
async function readyForBackup(ref: RepositoryRef, source: string, lockWait?: LockOptions): Promise<Ready> {
  const repo = await ref;
  // The seal worker starts while the lock and the index are awaited.
  repo.contentPool()?.warm();
  const lock = await repo.lock(false, `backup of ${source}`, lockWait);
  try {
    await repo.loadIndex({ adoptOrphans: true });
    // Write-only credentials cannot read snapshots: every file is read again (and deduplicated).
    const parent = repo.writeOnly ? undefined : await latestOf(repo, source);
    return { repo, lock, parent };
  } catch (err) {
    await lock.release().catch(() => {});
    throw err;
  }
}

/** A source's backup under way, its writes waiting in a WaitingStore until `open`. */
interface StartedSource {
  backup: Promise<Awaited<ReturnType<Source['backup']>>>;
  /** The repository is ready: the source's writes go on into `store`. */
  open(store: RepoContentStore, parentRoot: string | undefined): void;
  /**
   * Gives the backup up: its waiting writes fail with `reason`, its signal aborts. Settles
   * once it has stopped; a second call is the first one's.
   */
  stop(reason: unknown): Promise<void>;
}

function startSource(source: Source, progress: Progress): StartedSource {
  const abort = new AbortController();
  let open!: StartedSource['open'];
  let fail!: (err: unknown) => void;
  const stored = new Promise<{ store: RepoContentStore; parentRoot?: string }>((resolve, reject) => {
    open = (store, parentRoot) => resolve({ store, parentRoot });
    fail = reject;
  });
  const parentRoot = stored.then((s) => s.parentRoot);
  parentRoot.catch(() => {}); // awaited by the engines that use it
  progress.start(`backup ${source.name}`);
  const backup = (async () =>
    source.backup({
      store: new WaitingStore(stored.then((s) => s.store)),
      progress,
      parentRoot,
      signal: abort.signal,
    }))();
  backup.catch(() => {}); // awaited by the job
  let stopping: Promise<void> | undefined;
  return {
    backup,
    open,
    stop: (reason) => {
      stopping ??= (async () => {
        fail(reason);
        abort.abort(reason);
        await backup.catch(() => {});
        progress.done();
      })();
      return stopping;
    },
  };
}

/**
 * One backup. The source starts at once, while the repository is opened, locked and read:
 * the server's own work (a snapshot, a dump tool's catalog reads) overlaps Lifeboat's, and
 * the source's writes wait in a WaitingStore, its pipe or socket holding it back. When the
 * repository cannot be used, the source is stopped (its tool killed, its connection closed)
 * before the repository's error is thrown.
 */
export async function runBackup(ref: RepositoryRef, req: BackupRequest): Promise<BackupOutcome> {
  // A repository still opening is the CLI's, on the system clock.
  const started = (ref instanceof Promise ? systemClock : ref.clock).now();
  const counted = countingProgress(req.progress ?? silentProgress);
  const progress = counted.progress;
  let source = startSource(req.source, progress);
  // The source does not wait on other work: when the lock has to wait, the source is stopped,
  // and started again once the lock is held.
  let restart: Promise<void> | undefined;
  const lockWait = req.lockWait && {
    ...req.lockWait,
    onWait: (why: string) => {
      req.lockWait?.onWait?.(why);
      restart = source.stop(new LifeboatError('locked', why));
    },
  };
  let ready: Ready;
  try {
    ready = await readyForBackup(ref, req.source.name, lockWait);
  } catch (err) {
    await source.stop(err);
    throw err;
  }
  if (restart) {
    await restart;
    source = startSource(req.source, progress);
  }
  const { repo, lock, parent } = ready;
  try {
    // An earlier attempt of this job saved this unit and died before the catalog heard of it:
    // that snapshot is the job's, and a second one would be a duplicate.
    if (req.job && parent?.snapshot.job === req.job) {
      await source.stop(
        new LifeboatError('interrupted', `[backup] ${req.source.name}: saved by this job already`),
      );
      return { id: parent.id, snapshot: parent.snapshot };
    }
    const usableParent = parent && parent.snapshot.engine === req.source.type ? parent : undefined;
    // The previous backup's size is the best estimate of this one's, for the ETA.
    const previous = usableParent?.snapshot.stats.bytes;
    counted.estimate(typeof previous === 'number' ? previous : undefined);
    const addedBefore = repo.bytesAdded;
    source.open(new RepoContentStore(repo), usableParent?.snapshot.root);
    let result: Awaited<ReturnType<Source['backup']>>;
    try {
      result = await source.backup;
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
      ...(req.point ? { point: req.point } : {}),
      ...(req.job ? { job: req.job } : {}),
      ...skippedFields(result),
      backup: {
        bytesRead: typeof result.stats.bytes === 'number' ? result.stats.bytes : 0,
        bytesAdded: repo.bytesAdded - addedBefore,
        durationMs: finished.getTime() - started.getTime(),
      },
    };
    const id = await repo.saveSnapshot(snapshot);
    return { id, snapshot, bytesReused: counted.reused() };
  } finally {
    await lock.release().catch(() => {});
  }
}

/** The snapshot's record of what could not be read, capped (the count stays whole). */
function skippedFields(result: Awaited<ReturnType<Source['backup']>>): Partial<Snapshot> {
  const listed = result.skipped ?? [];
  const count = Math.max(result.skippedCount ?? 0, listed.length);
  if (count === 0) return {};
  return { skipped: listed.slice(0, SKIPPED_LISTED), skippedCount: count };
}

const SECRET_KEYS = /pass(word)?|secret|token|key$/i;

/**
 * Settings a snapshot records, written by whoever holds a key (a write-only one too), so
 * nothing in them is ever run: not the hooks, not a restore_command. `env` values are secrets.
 */
const UNRECORDED_KEYS = new Set(['hooks', 'restore_command', 'env']);

/** Settings minus hooks, commands to run and secrets; passwords inside URLs are removed. */
export function publicSourceConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (UNRECORDED_KEYS.has(k) || SECRET_KEYS.test(k)) continue;
    out[k] = typeof v === 'string' ? stripUrlPassword(v) : v;
  }
  return out;
}

/** `value` with the password of every URL in it removed (a setting, or a message naming one). */
export function stripUrlPassword(value: string): string {
  // No user left (`redis://:PW@host`): no `@` either.
  return value.replace(
    /\b([a-z][a-z0-9+.-]*:\/\/)([^:/@\s]*):[^@/\s]*@/gi,
    (_m, scheme: string, user: string) => (user ? `${scheme}${user}@` : scheme),
  );
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
  /** The application recovery point the snapshots belong to. */
  point?: SnapshotPoint;
  /** The server job saving them (see BackupRequest.job). */
  job?: string;
  /** See BackupRequest.lockWait. */
  lockWait?: BackupRequest['lockWait'];
}

/**
 * ok: everything saved. partial: snapshots saved, but a unit or a hook failed, or some data
 * could not be read (listed in the snapshots). failed: nothing saved.
 */
export type SourceStatus = 'ok' | 'partial' | 'failed';

/** What failed: a unit ("app-db/sales"), or the source as a whole (its hook, its server). */
export interface BackupFailure {
  name: string;
  error: LifeboatError;
}

/** What one source's backup came to. */
export interface SourceBackupReport {
  source: string;
  status: SourceStatus;
  /** One snapshot per unit saved. */
  saved: BackupOutcome[];
  failures: BackupFailure[];
  /** An error no other source can get past (the repository's, the storage's): stop the run. */
  stop?: LifeboatError;
}

/**
 * Errors of the repository or of the run rather than of a source: every later source would
 * meet them too, so a run of several sources stops at them.
 */
const RUN_STOPPERS = new Set<string>([
  'wrong_password',
  'repo_not_found',
  'locked',
  'storage_failed',
  'no_space',
  'forbidden',
  'interrupted',
]);

/** Any error of a source's backup as a LifeboatError naming the source. */
function asBackupError(err: unknown, name: string): LifeboatError {
  return isLifeboatError(err)
    ? err
    : new LifeboatError('source_failed', `[backup] ${name}: ${describe(err)}`, { cause: err });
}

/**
 * Backs up one configured source: its hooks around the whole job, and one snapshot per unit
 * (a postgres source with several databases takes one per database). A unit that fails does
 * not stop the others; failures are reported, not thrown.
 */
export async function backupSource(
  repo: RepositoryRef,
  req: SourceBackupRequest,
): Promise<SourceBackupReport> {
  const saved: BackupOutcome[] = [];
  const failures: BackupFailure[] = [];
  let stop: LifeboatError | undefined;
  const failed = (name: string, err: unknown) => {
    const error = asBackupError(err, name);
    failures.push({ name, error });
    if (RUN_STOPPERS.has(error.code)) stop ??= error;
  };
  try {
    const top = await createSource(req.name, req.config);
    const hooks = req.config.hooks as HooksConfig | undefined;
    // Hooks run once the repository has opened (a repository that does not open runs none),
    // and the source starts after the before hook, which may write what it reads.
    if (hooks) await repo;
    await withHooks(
      hooks,
      'backup',
      { source: req.name, type: top.type },
      async () => {
        const units = top.expand ? await top.expand() : undefined;
        // Each unit's snapshot names the run and all its units: a run missing one is not a whole backup.
        const run = units && { id: randomBytes(8).toString('hex'), units: units.map((u) => u.source.name) };
        for (const unit of units ?? [{ source: top, config: req.config }]) {
          if (stop) {
            failed(unit.source.name, notAttempted(unit.source.name, stop));
            continue;
          }
          try {
            saved.push(
              await runBackup(repo, {
                source: unit.source,
                sourceConfig: unit.config,
                tags: req.tags,
                progress: req.progress?.(),
                run,
                point: req.point,
                job: req.job,
                lockWait: req.lockWait,
              }),
            );
          } catch (err) {
            failed(unit.source.name, err);
          }
        }
      },
      () => afterHookContext(saved, failures),
    );
  } catch (err) {
    // createSource, expand, or a hook: the before hook stops the job, the after hook does not
    // unsave what was saved.
    failed(req.name, err);
  }
  const status: SourceStatus =
    saved.length === 0 && failures.length > 0
      ? 'failed'
      : failures.length > 0 || saved.some((o) => o.snapshot.skippedCount)
        ? 'partial'
        : 'ok';
  return { source: req.name, status, saved, failures, ...(stop ? { stop } : {}) };
}

/** After hooks learn the snapshots saved and, when a unit failed, that the job did. */
function afterHookContext(saved: BackupOutcome[], failures: BackupFailure[]): Partial<HookContext> {
  const snapshot = saved.map((o) => o.id).join(' ');
  if (failures.length === 0) return { snapshot };
  return {
    snapshot,
    status: 'failure',
    error: failures.map((f) => `${f.name}: ${f.error.message}`).join('; '),
  };
}

/** The failure recorded for what a run did not reach after an error that stops it. */
export function notAttempted(name: string, stop: LifeboatError): LifeboatError {
  return new LifeboatError(
    stop.code,
    `[backup] ${name} not backed up: the run stopped at an earlier error (${stop.message})`,
  );
}
