/**
 * @module repo/snapshot
 * Snapshot manifests: the commit record of a backup. Written last, after the data and the
 * index that names it; a snapshot file that exists is a complete backup.
 */
import { isDamage, isLifeboatError, LifeboatError } from '../errors.js';

/** Statistics a snapshot records and a restore or drill checks. */
export interface SourceStats {
  files?: number;
  dirs?: number;
  bytes?: number;
  /** Rows per table (databases). */
  rows?: Record<string, number>;
  [key: string]: unknown;
}

/** A part of the source the backup could not read, left out of the snapshot: where, and why. */
export interface SkippedPath {
  /** As the source names it (for files: the absolute path on the backed-up machine). */
  path: string;
  /** Why, short: "permission denied", "vanished during the backup", "EIO: i/o error, read". */
  error: string;
}

/** What a snapshot records of the run that saved it (see `Snapshot.run`). */
export interface SnapshotRun {
  /** Shared by the snapshots of one run. */
  id: string;
  /** Every unit the run set out to save, in order. */
  units: string[];
}

/** 'drill': a restore drill's report (report.json, report.md), not a backup. */
export type SnapshotKind = 'files' | 'logical' | 'physical' | 'drill';

export interface Snapshot {
  version: 1;
  time: string;
  source: string;
  engine: string;
  kind: SnapshotKind;
  host: string;
  username: string;
  tags: string[];
  programVersion: string;
  /** Root tree id (hex). */
  root: string;
  /** Previous snapshot of the same source used for change detection. */
  parent?: string;
  stats: SourceStats;
  meta: Record<string, unknown>;
  /**
   * The source's settings without secrets or hooks, so a fresh machine without the config
   * file can restore (e.g. { type: 'files', path: '/srv/uploads' }).
   */
  sourceConfig: Record<string, unknown>;
  /**
   * Ids this snapshot had before it was re-encrypted under a new key epoch (a snapshot's id
   * is the hash of its stored bytes, so re-encryption renames it); lookups accept them.
   */
  previousIds?: string[];
  /**
   * Written by `lifeboat repair snapshots` in place of snapshot `from` (at `time`), with
   * `cut` entries marked `damaged` in its trees.
   */
  repaired?: { from: string; time: string; cut: number };
  /**
   * For a source saved as several units (one snapshot each): the run that saved this unit and
   * every unit it set out to save. The run is a whole backup once each unit has its snapshot.
   */
  run?: SnapshotRun;
  /** Set on the snapshots of an application's recovery point (`lifeboat backup --app`). */
  point?: SnapshotPoint;
  /**
   * The server job that saved it. A retried attempt of that job (its worker died after the
   * snapshot was written, before the catalog recorded it) takes this snapshot as its own
   * rather than saving a second one.
   */
  job?: string;
  /**
   * Parts of the source that could not be read (permission denied, vanished, I/O error) and
   * are not in this snapshot; absent when everything was read. At most the first
   * SKIPPED_LISTED are listed; `skippedCount` counts them all.
   */
  skipped?: SkippedPath[];
  skippedCount?: number;
  /** Bytes read from the source and bytes newly added to the repository by this backup. */
  backup?: { bytesRead: number; bytesAdded: number; durationMs: number };
  /**
   * Set when a write-only key wrote the snapshot, and kept when a full key re-seals it
   * (rekey, repair), so retention still tells it from a full-key backup (SnapshotEntry.writeOnly).
   */
  writeOnly?: true;
}

/**
 * An application's recovery point, as each of its snapshots records it: the point is whole
 * once every source in `sources` has its snapshot (and each source's run is whole), so the
 * repository alone tells complete points from broken ones.
 */
export interface SnapshotPoint {
  /** Shared by the snapshots of one point. */
  id: string;
  app: string;
  /** When the point started (before its hook ran). */
  time: string;
  /** Every source the point set out to save, in the app's order. */
  sources: string[];
}

export interface SnapshotEntry {
  id: string;
  snapshot: Snapshot;
  /**
   * Written with a write-only key: its file is a sealed box (which only a write-only key
   * writes), or the manifest says so. A write-only key cannot forge a full-key snapshot.
   */
  writeOnly?: boolean;
  /** When the storage stored the file, by its own clock, where the listing gives it. */
  stored?: Date;
}

/** Skipped paths a snapshot lists at most. */
export const SKIPPED_LISTED = 100;

export const SNAPSHOT_AAD = Buffer.from('lifeboat snapshot v1');
export const CONFIG_AAD = Buffer.from('lifeboat config v1');

/**
 * A snapshot file that does not read. `damaged`: its stored bytes are verifiably wrong
 * (they do not hash to the file's name, authentication fails, the JSON does not parse), so
 * the snapshot is lost for good. `unreadable`: the read itself failed (permissions, I/O,
 * the storage), which may pass: nothing can be said about what the snapshot references.
 */
export interface SnapshotProblem {
  id: string;
  kind: 'damaged' | 'unreadable';
  /** What went wrong, as the error said it. */
  message: string;
  error: unknown;
}

/** What `Repository.scanSnapshots` found: the snapshots that read, and the files that did not. */
export interface SnapshotScan {
  /** Oldest first. */
  snapshots: SnapshotEntry[];
  problems: SnapshotProblem[];
}

/** How a failed snapshot load counts; undefined when the file is gone (a concurrent forget). */
export function snapshotProblemKind(err: unknown): SnapshotProblem['kind'] | undefined {
  if (!isLifeboatError(err)) return 'unreadable';
  if (err.code === 'not_found') return undefined;
  if (err.code === 'forbidden') throw err; // write-only credentials: not a problem of the file
  return isDamage(err) ? 'damaged' : 'unreadable';
}

/** One error for snapshot files that do not read, naming them and what to do. */
export function snapshotProblemError(problems: readonly SnapshotProblem[]): LifeboatError {
  const damaged = problems.filter((p) => p.kind === 'damaged');
  const first = problems[0];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  if (damaged.length === problems.length) {
    return new LifeboatError(
      'repo_corrupt',
      `${first.message}${more}: the snapshot is lost (\`lifeboat forget ${first.id.slice(0, 8)}\` removes the file)`,
    );
  }
  const unreadable = problems.find((p) => p.kind === 'unreadable') as SnapshotProblem;
  if (isLifeboatError(unreadable.error)) return unreadable.error;
  return new LifeboatError(
    'storage_failed',
    `[snapshots] snapshot ${unreadable.id.slice(0, 8)}${more} cannot be read: ${unreadable.message} (try again; if it persists run \`lifeboat check\`)`,
    { cause: unreadable.error, retryable: true },
  );
}
