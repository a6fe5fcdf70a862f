/**
 * @module sources/source
 * The contract every source engine (files, sqlite, postgres, ...) implements. A source turns
 * live data into content and trees through a ContentStore, and back. It knows nothing of
 * packs, indexes or encryption.
 */
import type { Progress } from '../progress.js';

/** Reference to stored content: an ordered list of chunk blob ids (hex) and the total size. */
export interface ContentRef {
  chunks: string[];
  size: number;
  /** SHA-256 (hex) of the whole stream, recorded for dumps so `dump` can be checked end to end. */
  sha256?: string;
}

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

/**
 * One entry of a directory tree, as stored (JSON) in a tree blob. Names and link targets that
 * are not valid UTF-8 are kept as base64 in `nameRaw` / `targetRaw` instead.
 */
export interface TreeNode {
  name: string;
  nameRaw?: string;
  type: NodeType;
  mode?: number;
  /** Modification time, nanoseconds since the epoch, as a decimal string. */
  mtimeNs?: string;
  atimeNs?: string;
  uid?: number;
  gid?: number;
  size?: number;
  inode?: number;
  dev?: number;
  nlink?: number;
  /** rdev for device nodes. */
  rdev?: number;
  /** Regular files: their content. */
  content?: string[];
  /** SHA-256 of a file's whole content, when recorded. */
  sha256?: string;
  /** Directories: id of the tree blob holding their entries. */
  subtree?: string;
  /** Symlinks: their target. */
  target?: string;
  targetRaw?: string;
  /**
   * Hard links: path (relative to the snapshot root, '/'-separated, names as in the tree)
   * of the first entry of the same inode; that entry carries the content.
   */
  hardlinkTo?: string;
  /**
   * Set by `lifeboat repair snapshots` on an entry that lost data: a file keeps the blobs
   * still stored (`content` and `size` without what was cut; `lostBytes` cut), a folder
   * whose listing was lost is empty (`listingLost`).
   */
  damaged?: { lostBytes?: number; listingLost?: boolean };
}

export interface Tree {
  nodes: TreeNode[];
}

/** What a source may do with the repository while backing up. */
export interface ContentStore {
  /**
   * Chunks, deduplicates, compresses, encrypts and stores a stream. Each piece is consumed
   * (copied) before the next is pulled, so a source may reuse one buffer for every piece.
   */
  saveContent(stream: AsyncIterable<Uint8Array>, options?: { sha256?: boolean }): Promise<ContentRef>;
  /** Stores one directory's entries; returns the tree id. Nodes MUST be sorted by name bytes. */
  saveTree(tree: Tree): Promise<string>;
  loadTree(id: string): Promise<Tree>;
  /** True when every chunk is present in the repository (so unchanged content can be reused). */
  hasContent(chunks: string[]): boolean;
  /**
   * Reads stored content back, chunk by chunk, verified. A chunk whose stored bytes are
   * damaged throws (an 'integrity' or 'repo_corrupt' LifeboatError), unless `onDamaged` is
   * given: then it is reported there and read as zeros of its length, so the stream keeps its
   * length and the reader can say which of its bytes are lost (a chunk of unknown length,
   * missing from the index, still throws).
   */
  readContent(chunks: string[], options?: { onDamaged?: (d: DamagedRange) => void }): AsyncIterable<Buffer>;
  /**
   * readContent whose chunks are lent: the store reuses the memory of each chunk given back
   * with `release`, so a long read allocates almost nothing. The reader gives back every
   * chunk once nothing refers to it any more. Optional: without it, readContent serves.
   */
  lendContent?(chunks: string[]): LentContent;
}

/** Bytes of a stream whose chunk is damaged, end exclusive. */
export interface DamagedRange {
  start: number;
  end: number;
  /** What the repository said (names the blob and its pack). */
  reason: string;
}

/** Chunks lent by ContentStore.lendContent. */
export interface LentContent extends AsyncIterable<Buffer> {
  /** Gives a chunk (or a view starting where it starts) back; other buffers are ignored. */
  release(chunk: Uint8Array): void;
}

/** Statistics a snapshot records and a restore or drill checks. */
export interface SourceStats {
  files?: number;
  dirs?: number;
  bytes?: number;
  /** Rows per table (databases). */
  rows?: Record<string, number>;
  [key: string]: unknown;
}

export interface BackupContext {
  store: ContentStore;
  progress: Progress;
  /** Root tree of the previous snapshot of the same source, for change detection. */
  parentRoot?: string;
  signal?: AbortSignal;
}

/** A part of the source the backup could not read, left out of the snapshot: where, and why. */
export interface SkippedPath {
  /** As the source names it (for files: the absolute path on the backed-up machine). */
  path: string;
  /** Why, short: "permission denied", "vanished during the backup", "EIO: i/o error, read". */
  error: string;
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
   * What a restore to `to` (as RestoreOptions.to; the original location when unset) would
   * replace, read without changing anything: an application restore shows it in its plan.
   * `recorded` is the snapshot's (its meta names a unit's database, its stats what it holds).
   * Optional: a plan says when an engine has none.
   */
  inspectTarget?(to: string | undefined, recorded: RecordedSnapshot): Promise<TargetContents>;
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

/** What inspectTarget is told of the snapshot to restore. */
export interface RecordedSnapshot {
  meta: Record<string, unknown>;
  stats: SourceStats;
}

/** What a restore target holds now (see Source.inspectTarget). */
export interface TargetContents {
  /** Where, without credentials. */
  target: string;
  /** False when there is nothing there yet (a new database, folder or data directory). */
  exists: boolean;
  /** One line: "3 tables, 1200 rows", "412 keys in db 0", "25 files, 1.2 MiB". */
  summary: string;
  /** What is there by name, where that is short (tables, databases, keys per db). */
  items?: string[];
}

export interface SourceUnit {
  source: Source;
  config: Record<string, unknown>;
}
