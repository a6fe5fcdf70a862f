/**
 * @module sources/source
 * The contract every source engine (files, sqlite, postgres, ...) implements. A source turns
 * live data into content and trees through a ContentStore, and back. It knows nothing of
 * packs, indexes or encryption.
 */
import type { Progress } from '../progress.js';
import type { SkippedPath, SourceStats } from '../repo/snapshot.js';
import type { ContentStore } from '../repo/tree.js';

export type { SkippedPath, SourceStats } from '../repo/snapshot.js';
export type {
  ContentRef,
  ContentStore,
  DamagedRange,
  LentContent,
  NodeType,
  Tree,
  TreeNode,
} from '../repo/tree.js';

export interface BackupContext {
  store: ContentStore;
  progress: Progress;
  /** Root tree of the previous snapshot of the same source, for change detection. */
  parentRoot?: string;
  signal?: AbortSignal;
}

export interface BackupResult {
  root: string;
  stats: SourceStats;
  /** Engine facts worth keeping (server version, artifact names); never secrets. */
  meta?: Record<string, unknown>;
  /**
   * What could not be read and is missing from the snapshot, the rest being saved. A source
   * MAY list only the first ones (a whole unreadable tree must not bloat the snapshot);
   * `skippedCount` then counts them all.
   */
  skipped?: SkippedPath[];
  skippedCount?: number;
}

export interface RestoreOptions {
  /** Where to restore: a path or URL; undefined means the original location. */
  to?: string;
  /** Paths (files) to restore; empty = all. */
  include?: string[];
  /** Tables (databases) to restore; empty = all. */
  tables?: string[];
  /** Schemas (PostgreSQL) to restore; empty = all. */
  schemas?: string[];
  /** Redis: only this database number. */
  db?: number;
  /** Redis: only keys matching this glob (KEYS pattern syntax). */
  pattern?: string;
  /** MongoDB: collections to restore ("coll" or "db.coll"); empty = all. */
  collections?: string[];
  /**
   * PostgreSQL, with tables or schemas: replace only the rows of the tables, in one
   * transaction; their definitions and what depends on them stay as they are.
   */
  dataOnly?: boolean;
  /**
   * PostgreSQL: create first, NOLOGIN, the roles the snapshot's objects name (owners,
   * grantees) that the target lacks. For drills into a scratch cluster without the globals.
   */
  createRoles?: boolean;
  /**
   * Files: drop setuid/setgid bits and refuse device nodes (unless `devices`). Always on for
   * a snapshot a write-only key wrote: its host could have put anything in it.
   */
  noPrivileges?: boolean;
  /** Files, with `noPrivileges`: create device nodes all the same. */
  devices?: boolean;
  overwrite: boolean;
  dryRun: boolean;
}

export interface RestoreContext {
  store: ContentStore;
  progress: Progress;
  /** The snapshot's root tree, stats and meta. */
  root: string;
  stats: SourceStats;
  meta: Record<string, unknown>;
}

export interface RestoreResult {
  /** Where the data went. */
  target: string;
  /** What was (or, for a dry run, would be) restored, one line each. */
  items: string[];
  stats: SourceStats;
  /**
   * What the restore could not give back because the repository's copy is damaged; all
   * else was restored. Nothing damaged is left under its real name at the target.
   */
  damaged?: DamagedItem[];
}

/** Something a restore left out because stored data is damaged (a blob fails to open). */
export interface DamagedItem {
  /** Its path in the snapshot (a folder ends in "/"); for a dump, the artifact's name. */
  path: string;
  /** Dumps: the damaged bytes of the artifact, end exclusive. */
  ranges?: { start: number; end: number }[];
  /** Dumps: the tables (or key ranges) those bytes belong to, where the engine can tell. */
  tables?: string[];
  /** What the repository said (names the blob and its pack). */
  reason: string;
}

/** A configured source: what `type: files` plus its settings becomes. */
export interface Source {
  readonly name: string;
  readonly type: string;
  /** 'files' for trees, 'logical' for dumps, 'physical' for base backups. */
  readonly kind: 'files' | 'logical' | 'physical';
  /** True when restore honours `dataOnly`; the restore job refuses it for other sources. */
  readonly restoresDataOnly?: boolean;
  backup(ctx: BackupContext): Promise<BackupResult>;
  restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult>;
  /**
   * Sources that back up as several snapshots (postgres with several databases: one snapshot
   * each) return one unit per snapshot. A unit's name is "<source>/<unit>" (e.g.
   * "app-db/sales"), and its `config` is what the snapshot records (secrets are stripped by
   * the job). Restoring a unit's snapshot builds the source from the configured parent
   * source (found by the part before "/"), or from the recorded config on a machine without
   * one; the engine finds the unit in `RestoreContext.meta`.
   */
  expand?(): Promise<SourceUnit[]>;
}

export interface SourceUnit {
  source: Source;
  config: Record<string, unknown>;
}
