/**
 * @module sources/source
 * The contract every source engine (files, sqlite, postgres, ...) implements. A source turns
 * live data into content and trees through a ContentStore, and back. It knows nothing of
 * packs, indexes or encryption. Besides the Source, each engine declares as data (`Engine`):
 * its restore scopes, the statistics it records and how a drill checks them, how a drill
 * gets a scratch target and runs a check query; shells and jobs read that, never an engine
 * name. testing/source-contract is the suite every engine passes.
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
  /**
   * Root tree of the previous snapshot of the same source, for change detection. A backup
   * starts its source while the repository is still being read: the job then gives a promise
   * of it, which resolves once `store` is ready too.
   */
  parentRoot?: string | Promise<string | undefined>;
  /** Aborted when the backup is given up (the repository could not be used): stop reading. */
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

// ---- what an engine declares, as data --------------------------------------------------------
//
// The registry holds one `Engine` per type. The CLI's restore flags, the HTTP API's restore
// request and the dashboard's restore wizard are all built from `restore.scopes`, and a drill
// does what `drill` says, so no shell or job names an engine.

// ScopeField and RestoreScope live with the scope catalogue (node-free: the dashboard's
// type check reads it through the API's schemas).
import type { RestoreScope, ScopeField } from './restore-scopes.js';

export type { RestoreScope, ScopeField };

/** A statistic an engine records in its snapshots. */
export interface StatDeclaration {
  /** Its key in SourceStats. */
  name: string;
  help: string;
  /**
   * 'equal': a drill compares what the snapshot recorded with what the restore produced (a
   * number, or per-name numbers); 'none': recorded only.
   */
  drill: 'equal' | 'none';
}

/** The outcome of one check of a drill, as its report keeps it. */
export interface DrillCheckResult {
  name: string;
  /** True when the check ran and held. */
  ok: boolean;
  /** The check could not run here (its tool is missing): neither passed nor failed. */
  skipped?: boolean;
  detail: string;
  ms: number;
}

/** What a drill knows of the snapshot it restores (a repository snapshot's public fields). */
export interface DrillSnapshot {
  source: string;
  engine: string;
  kind: string;
  time: string;
  root: string;
  stats: SourceStats;
  meta: Record<string, unknown>;
}

/** Somewhere a drill can restore to and throw away. */
export interface ScratchTarget {
  /** Where the restore goes: a path or a database URL. */
  to: string;
  /** What kind of target, for the report, never its credentials ("throwaway redis-server"). */
  kind: string;
  /** Where a prelude restores (PostgreSQL: the scratch cluster's maintenance database). */
  preludeTo?: string;
  /** Removes it; MUST be safe to call after a failed restore. */
  cleanup(): Promise<void>;
}

/** What a restored drill target is, as the engine's checks need it. */
export interface DrillTarget {
  /** Where the drill told the restore to go (ScratchTarget.to, or the configured scratch_url). */
  to: string;
  /** What the restore reported it wrote (RestoreResult.target). */
  restored: string;
}

export interface IntegrityContext {
  snapshot: DrillSnapshot;
  target: DrillTarget;
  /** Reads the snapshot's stored content, with the repository locked and its index loaded. */
  withStore<T>(read: (store: ContentStore) => Promise<T>): Promise<T>;
  /** Milliseconds now, for the checks' timings (the drill's injected clock). */
  now(): number;
}

/** What restoring a prelude gave: where it came from, or why it was not restored. */
export interface PreludeLoaded {
  /** "app-db/globals 3fa2c1e9" */
  from?: string;
  /** The prelude's restore statistics. */
  stats?: SourceStats;
  /** Why it was not restored (none saved, a configured scratch_url). */
  skipped?: string;
  failed?: string;
}

/**
 * Another snapshot of the same source a drill restores first, into the same scratch target
 * (PostgreSQL: the globals unit, so the database's roles exist).
 */
export interface DrillPrelude {
  /** Whether the drilled snapshot wants one. */
  wanted(snapshot: DrillSnapshot): boolean;
  /** Whether `candidate`, a snapshot of the same source, is one (the nearest in time is used). */
  is(candidate: DrillSnapshot): boolean;
  /** Why none is restored when the repository holds none. */
  noneSaved: string;
  /** What it is called in the report ("globals"). */
  name: string;
  /** Options of the drilled snapshot's restore when a prelude is wanted. */
  options: Partial<RestoreOptions>;
  /** The report's check of it, from what it loaded and what the main restore said. */
  check(loaded: PreludeLoaded, restored: SourceStats): DrillCheckResult;
}

/** How an engine's snapshots are drilled. */
export interface DrillDeclaration {
  /**
   * A throwaway target for `snapshot` (a temporary folder, a scratch server), or undefined
   * when the engine makes none for it (the user then sets drill.scratch_url). A server that
   * cannot run here MUST throw a 'usage' LifeboatError saying what is missing.
   */
  scratch(snapshot: DrillSnapshot): Promise<ScratchTarget | undefined>;
  /**
   * True when the snapshot is drilled by recovering a base backup and its log rather than by
   * a restore (PostgreSQL physical): the drill job's point-in-time path.
   */
  recoversFromLog?(snapshot: DrillSnapshot): boolean;
  /** The engine's own integrity checks of the restored target; a missing tool is `skipped`. */
  integrity?(ctx: IntegrityContext): Promise<DrillCheckResult[]>;
  /**
   * Runs a user's check query on the restored target: the first column of the first row, as
   * text ('' for no row). Engines without it refuse `sql` checks.
   */
  query?(target: DrillTarget, sql: string): Promise<string>;
  prelude?: DrillPrelude;
}

/** Everything an engine declares about itself, besides its config schema and its factory. */
export interface EngineDeclaration {
  restore: {
    /** The scopes it honours, in the order the CLI lists them. */
    scopes: RestoreScope[];
    /** Restore honours `dataOnly` (with tables or schemas); the restore job refuses it for other engines. */
    dataOnly?: boolean;
    /** Restore honours `noPrivileges` and `devices`. */
    privileges?: boolean;
  };
  /** The statistics its snapshots record. */
  stats: StatDeclaration[];
  drill: DrillDeclaration;
  /**
   * Whether a source with these settings archives a write-ahead log through `wal-push` and
   * `wal-fetch` (point-in-time recovery). Absent: never.
   */
  archivesLog?(config: Record<string, unknown>): boolean;
}

/**
 * A registry entry: the declaration and the factory, imported only when a source is built so
 * that loading the config does not load every engine's drivers. Each engine folder exports one
 * (`<engine>-engine.ts`). Its config schema (`<engine>-schema.ts`) is not part of it: only
 * what validates settings loads the schemas (sources/engine-schemas), so a command that reads
 * none starts without the validation library.
 */
export interface Engine extends EngineDeclaration {
  /** Imports the engine and hands back its factory. */
  load(): Promise<(name: string, config: never) => Source>;
}
