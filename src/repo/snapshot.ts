/**
 * @module repo/snapshot
 * Snapshot manifests: the commit record of a backup. Written last, after the data and the
 * index that names it; a snapshot file that exists is a complete backup.
 */
import type { SkippedPath, SourceStats } from '../sources/source.js';
import type { SnapshotRun } from '../sources/source-units.js';

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
  /**
   * Parts of the source that could not be read (permission denied, vanished, I/O error) and
   * are not in this snapshot; absent when everything was read. At most the first
   * SKIPPED_LISTED are listed; `skippedCount` counts them all.
   */
  skipped?: SkippedPath[];
  skippedCount?: number;
  /** Bytes read from the source and bytes newly added to the repository by this backup. */
  backup?: { bytesRead: number; bytesAdded: number; durationMs: number };
}

export interface SnapshotEntry {
  id: string;
  snapshot: Snapshot;
}

/** Skipped paths a snapshot lists at most. */
export const SKIPPED_LISTED = 100;

export const SNAPSHOT_AAD = Buffer.from('lifeboat snapshot v1');
export const CONFIG_AAD = Buffer.from('lifeboat config v1');
