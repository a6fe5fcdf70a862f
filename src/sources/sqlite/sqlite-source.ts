/**
 * @module sources/sqlite/sqlite-source
 * The SQLite engine: backup is a consistent copy through the online backup API, stored as
 * one artifact (the database file itself); restore writes the file back, checked, or
 * replaces chosen tables in a target database.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { describe, errnoCode, isLifeboatError, LifeboatError, writeFailed } from '../../errors.js';
import { makeDir } from '../../make-dir.js';
import { artifactTarget, countBytes, pickArtifact, saveArtifacts, writeArtifactToFile } from '../artifact.js';
import { inspectFolderTarget } from '../folder-target.js';
import type {
  BackupContext,
  BackupResult,
  DamagedRange,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  TargetContents,
  TreeNode,
} from '../source.js';
import {
  countRows,
  integrityProblems,
  onlineCopy,
  openExisting,
  openFile,
  quoteIdent,
  rowCountDifferences,
  rowsPerTable,
  type SqliteDb,
} from './sqlite-database.js';
import { ownersOfRanges } from './sqlite-pages.js';
import type { SqliteSourceConfig } from './sqlite-schema.js';
import { replaceTables } from './sqlite-table-restore.js';

export function createSqliteSource(name: string, config: SqliteSourceConfig): Source {
  return new SqliteSource(name, config);
}

class SqliteSource implements Source {
  readonly type = 'sqlite';
  readonly kind = 'logical';

  constructor(
    readonly name: string,
    private readonly config: SqliteSourceConfig,
  ) {}

  async backup(ctx: BackupContext): Promise<BackupResult> {
    const path = resolve(this.config.path);
    const artifact = basename(path);
    const db = await openExisting(path, { readonly: true });
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-sqlite-'));
    const copy = join(dir, artifact);
    try {
      ctx.progress.start(`copy ${this.name}`);
      try {
        await onlineCopy(db, copy);
      } catch (err) {
        throw new LifeboatError(
          'source_failed',
          `[source:sqlite] copying ${path} failed: ${describe(err)} (check free space in ${tmpdir()} and that the file is readable)`,
          { cause: err },
        );
      } finally {
        db.close();
        ctx.progress.done();
      }
      ctx.signal?.throwIfAborted();

      const facts = inspect(copy, path);
      const bytes = (await stat(copy)).size;
      ctx.progress.start(`backup ${this.name}`, bytes);
      const stream = countBytes(createReadStream(copy), (n) => ctx.progress.advance(n));
      const root = await saveArtifacts(ctx.store, [{ name: artifact, stream }]);
      ctx.progress.done();
      return {
        root,
        stats: { rows: facts.rows, tables: Object.keys(facts.rows).length, bytes },
        meta: { path, sqliteVersion: facts.sqliteVersion, pageSize: facts.pageSize, artifact },
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** What the target holds now: its files and bytes (a dry run reports it). */
  inspectTarget(to: string | undefined): Promise<TargetContents> {
    return inspectFolderTarget(resolve(to ?? this.config.path));
  }

  async restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
    const node = await pickArtifact(ctx.store, ctx.root, ctx.meta, 'sqlite');
    const target = await artifactTarget(options.to ?? this.config.path, node.name);
    const expected = ctx.stats.rows ?? {};
    const tables = options.tables ?? [];
    if (tables.length > 0) return this.restoreTables(ctx, options, node, target, tables, expected);

    const existing = await sizeOf(target);
    if (existing !== undefined && existing > 0 && !options.overwrite && !options.dryRun) {
      throw new LifeboatError(
        'target_not_empty',
        `[source:sqlite] restore target ${target} exists and is not empty (pass --overwrite to replace it, or --to another path)`,
      );
    }
    const items = Object.entries(expected).map(([t, n]) => describeTable(t, n));
    if (options.dryRun) return { target, items, stats: ctx.stats };

    await makeDir(dirname(target)).catch((err) => Promise.reject(writeFailed('source:sqlite', target, err)));
    const tmp = join(dirname(target), `.${basename(target)}.lifeboat-${randomBytes(6).toString('hex')}`);
    try {
      await this.writeCopy(ctx, node, tmp, target);
      const rows = verifyCopy(tmp, target, expected, undefined);
      // A stale journal or WAL beside the new file would be replayed into it.
      for (const suffix of ['-wal', '-shm', '-journal']) await rm(target + suffix, { force: true });
      await rename(tmp, target);
      return {
        target,
        items,
        stats: { rows, tables: Object.keys(rows).length, bytes: node.size },
      };
    } finally {
      await removeDatabase(tmp);
    }
  }

  /**
   * Writes the snapshot's database file to `tmp`. Damaged chunks are written as zeros and
   * collected; then the error names the artifact, the damaged bytes and the tables they
   * held, and the caller's target is never touched.
   */
  private async writeCopy(ctx: RestoreContext, node: TreeNode, tmp: string, target: string): Promise<void> {
    const damaged: DamagedRange[] = [];
    ctx.progress.start(`restore ${this.name}`, node.size);
    await writeArtifactToFile(
      ctx.store,
      node,
      tmp,
      (n) => ctx.progress.advance(n),
      (d) => addRange(damaged, d),
    ).catch((err) => {
      throw writeFailed('source:sqlite', target, err);
    });
    ctx.progress.done();
    if (damaged.length === 0) return;
    const owners = await ownersOfRanges(tmp, damaged).catch(() => undefined);
    const where = !owners
      ? 'which tables they held cannot be told (the file header or the schema is among them)'
      : `they held ${owners.owners.length > 0 ? `table${owners.owners.length > 1 ? 's' : ''} ${owners.owners.join(', ')}` : 'no table'}${owners.unattributed > 0 ? ` and ${owners.unattributed} more pages (free, or reached only through damaged ones)` : ''}`;
    const bytes = damaged.map((d) => `${d.start}-${d.end}`).join(', ');
    throw new LifeboatError(
      'integrity',
      `[source:sqlite] the snapshot's copy of ${node.name} is damaged: bytes ${bytes} cannot be read, ${where}; ${target} was left as it was (restore an older snapshot; run lifeboat check --read-data). ${damaged[0].reason}`,
    );
  }

  private async restoreTables(
    ctx: RestoreContext,
    options: RestoreOptions,
    node: TreeNode,
    target: string,
    tables: string[],
    expected: Record<string, number>,
  ): Promise<RestoreResult> {
    const unknown = tables.filter((t) => !Object.hasOwn(expected, t));
    if (unknown.length > 0) {
      throw new LifeboatError(
        'not_found',
        `[source:sqlite] table ${unknown.map((t) => `"${t}"`).join(', ')} not in the snapshot (tables: ${Object.keys(expected).join(', ') || 'none'})`,
      );
    }
    if (!options.overwrite) await refuseNonEmptyTables(target, tables);
    const chosen = Object.fromEntries(tables.map((t) => [t, expected[t]]));
    const items = tables.map((t) => describeTable(t, expected[t]));
    if (options.dryRun) return { target, items, stats: { rows: chosen, tables: tables.length } };

    await makeDir(dirname(target)).catch((err) => Promise.reject(writeFailed('source:sqlite', target, err)));
    const tmp = join(dirname(target), `.${basename(target)}.lifeboat-${randomBytes(6).toString('hex')}`);
    try {
      await this.writeCopy(ctx, node, tmp, target);
      verifyCopy(tmp, target, chosen, tables);

      let db: SqliteDb | undefined;
      try {
        db = openFile(target, { create: true });
        replaceTables(db, tmp, tables);
        const rows = Object.fromEntries(tables.map((t) => [t, countRows(db!, t)]));
        const diffs = rowCountDifferences(chosen, rows);
        if (diffs.length > 0) {
          throw new LifeboatError('integrity', `[source:sqlite] after restoring into ${target}: ${diffs[0]}`);
        }
        return { target, items, stats: { rows, tables: tables.length } };
      } catch (err) {
        if (isLifeboatError(err)) throw err;
        throw new LifeboatError(
          'source_failed',
          `[source:sqlite] restoring tables into ${target} failed: ${describe(err)} (nothing was changed; check the target database)`,
          { cause: err },
        );
      } finally {
        db?.close();
      }
    } finally {
      await removeDatabase(tmp);
    }
  }
}

interface CopyFacts {
  rows: Record<string, number>;
  sqliteVersion: string;
  pageSize: number;
}

/** Checks the fresh copy and gathers its statistics. */
function inspect(copy: string, path: string): CopyFacts {
  const db = openFile(copy);
  try {
    const problems = integrityProblems(db);
    if (problems.length > 0) {
      throw new LifeboatError(
        'integrity',
        `[source:sqlite] the copy of ${path} fails integrity_check: ${problems[0]} (the database may be corrupt: run PRAGMA integrity_check on it)`,
      );
    }
    return {
      rows: rowsPerTable(db),
      sqliteVersion: db.prepare('SELECT sqlite_version() AS v').pluck().get() as string,
      pageSize: db.pragma('page_size', { simple: true }) as number,
    };
  } finally {
    db.close();
  }
}

/**
 * Checks a restored copy: integrity_check, then row counts against the snapshot's (only
 * `tables` when given). Returns the rows per table found.
 */
function verifyCopy(
  file: string,
  target: string,
  expected: Record<string, number>,
  tables: string[] | undefined,
): Record<string, number> {
  const db = openFile(file);
  try {
    const problems = integrityProblems(db);
    if (problems.length > 0) {
      throw new LifeboatError(
        'integrity',
        `[source:sqlite] the restored copy for ${target} fails integrity_check: ${problems[0]} (run lifeboat check --read-data)`,
      );
    }
    const all = rowsPerTable(db);
    const rows = tables ? Object.fromEntries(tables.map((t) => [t, all[t] ?? 0])) : all;
    const diffs = rowCountDifferences(expected, rows);
    if (diffs.length > 0) {
      throw new LifeboatError(
        'integrity',
        `[source:sqlite] the restored copy for ${target} does not match the snapshot: ${diffs.join('; ')} (run lifeboat check --read-data)`,
      );
    }
    return rows;
  } finally {
    db.close();
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new LifeboatError(
      'source_failed',
      `[source:sqlite] cannot inspect restore target ${path}: ${describe(err)}`,
      {
        cause: err,
      },
    );
  }
}

/** Adds a damaged range, merged with the last one when they touch (a run of damaged chunks). */
function addRange(ranges: DamagedRange[], d: DamagedRange): void {
  const last = ranges.at(-1);
  if (last && last.end === d.start) last.end = d.end;
  else ranges.push({ ...d });
}

/** Partial restore replaces tables; without --overwrite, only missing or empty ones. */
async function refuseNonEmptyTables(target: string, tables: string[]): Promise<void> {
  const size = await sizeOf(target);
  if (size === undefined || size === 0) return;
  const db = await openExisting(target, { readonly: true }).catch((err) => {
    throw new LifeboatError(
      'target_not_empty',
      `[source:sqlite] restore target ${target} exists and cannot be read as SQLite (pass --to another path)`,
      { cause: err },
    );
  });
  try {
    const present = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all());
    const full = tables.filter(
      (t) => present.has(t) && db.prepare(`SELECT 1 FROM ${quoteIdent(t)} LIMIT 1`).get() !== undefined,
    );
    if (full.length > 0) {
      throw new LifeboatError(
        'target_not_empty',
        `[source:sqlite] table ${full.map((t) => `"${t}"`).join(', ')} in ${target} is not empty (pass --overwrite to replace it, or --to another path)`,
      );
    }
  } finally {
    db.close();
  }
}

function describeTable(table: string, rows: number | undefined): string {
  return rows === undefined ? table : `${table}: ${rows} row${rows === 1 ? '' : 's'}`;
}

async function removeDatabase(path: string): Promise<void> {
  for (const suffix of ['', '-wal', '-shm', '-journal']) await rm(path + suffix, { force: true });
}
