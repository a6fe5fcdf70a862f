/**
 * @module sources/sqlite/sqlite-database
 * What the SQLite source asks of a database file: open it with clear errors, copy it
 * consistently through the online backup API, check it, and count rows per table.
 */
import { stat } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { describe, errnoCode, LifeboatError } from '../../errors.js';

export type SqliteDb = Database.Database;

/** Pages copied per backup step while no writer has forced a restart (4 MiB at 4 KiB pages). */
const STEP_PAGES = 1024;

/** Quotes an identifier for SQL text: "name" with inner quotes doubled. */
export function quoteIdent(name: string): string {
  return '"' + name.replaceAll('"', '""') + '"';
}

/**
 * Opens an existing database file, failing with 'source_unreadable' and a next step when it
 * is missing, unreadable or not SQLite. Reads the header once, since opening alone reads nothing.
 */
export async function openExisting(path: string, options: { readonly: boolean }): Promise<SqliteDb> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (err) {
    throw unreadable(path, reasonOf(err), err);
  }
  if (!info.isFile()) throw unreadable(path, 'not a regular file');
  let db: SqliteDb | undefined;
  try {
    db = new Database(path, { readonly: options.readonly, fileMustExist: true });
    db.pragma('busy_timeout = 10000');
    db.pragma('schema_version', { simple: true });
    return db;
  } catch (err) {
    db?.close();
    throw unreadable(path, reasonOf(err), err);
  }
}

/** Opens a database file Lifeboat itself wrote or restores into; `create` allows a new one. */
export function openFile(path: string, options: { create?: boolean } = {}): SqliteDb {
  const db = new Database(path, { fileMustExist: !options.create });
  db.pragma('busy_timeout = 10000');
  return db;
}

function unreadable(path: string, reason: string, cause?: unknown): LifeboatError {
  return new LifeboatError(
    'source_unreadable',
    `[source:sqlite] cannot open ${path}: ${reason} (check the path in the source config)`,
    { cause },
  );
}

function reasonOf(err: unknown): string {
  switch (errnoCode(err)) {
    case 'ENOENT':
      return 'file not found';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'SQLITE_NOTADB':
      return 'not a SQLite database';
    case 'SQLITE_CANTOPEN':
      return 'cannot open the file or its journal';
    default:
      return describe(err);
  }
}

/**
 * Copies `db` to `dest` with the online backup API. Small steps let writers proceed between
 * them; a write by another connection restarts the copy, so after one restart the rest is
 * copied in a single step under one read transaction, which always finishes.
 */
export async function onlineCopy(
  db: SqliteDb,
  dest: string,
  onPages?: (done: number, total: number) => void,
) {
  let lastRemaining = Number.POSITIVE_INFINITY;
  let restarted = false;
  return db.backup(dest, {
    progress({ totalPages, remainingPages }) {
      if (remainingPages > lastRemaining) restarted = true;
      lastRemaining = remainingPages;
      onPages?.(totalPages - remainingPages, totalPages);
      return restarted ? 0x7fffffff : STEP_PAGES;
    },
  });
}

/** Problems PRAGMA integrity_check reports; empty when the database is sound. */
export function integrityProblems(db: SqliteDb, schema = 'main'): string[] {
  const rows = db.pragma(`${quoteIdent(schema)}.integrity_check(20)`) as { integrity_check: string }[];
  const messages = rows.map((r) => r.integrity_check);
  return messages.length === 1 && messages[0] === 'ok' ? [] : messages;
}

export interface TableInfo {
  name: string;
  sql: string;
}

/** Ordinary user tables (not sqlite_* internals, not virtual tables, whose data lives in shadow tables). */
export function userTables(db: SqliteDb, schema = 'main'): TableInfo[] {
  const rows = db
    .prepare(
      `SELECT name, sql FROM ${quoteIdent(schema)}.sqlite_master
       WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
       ORDER BY name`,
    )
    .all() as { name: string; sql: string | null }[];
  return rows
    .filter((r) => r.sql !== null && !/^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(r.sql))
    .map((r) => ({ name: r.name, sql: r.sql! }));
}

export function countRows(db: SqliteDb, table: string, schema = 'main'): number {
  const row = db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(schema)}.${quoteIdent(table)}`).get() as {
    n: number;
  };
  return row.n;
}

/** Rows per user table. */
export function rowsPerTable(db: SqliteDb, schema = 'main'): Record<string, number> {
  // fromEntries defines own properties, so a table named __proto__ stays a plain key.
  return Object.fromEntries(userTables(db, schema).map((t) => [t.name, countRows(db, t.name, schema)]));
}

/**
 * Differences between expected and actual row counts, one line per table; empty when they
 * agree. Tables on one side only count as differences.
 */
export function rowCountDifferences(
  expected: Record<string, number>,
  actual: Record<string, number>,
): string[] {
  const out: string[] = [];
  for (const [table, n] of Object.entries(expected)) {
    if (!Object.hasOwn(actual, table)) out.push(`table "${table}" is missing (expected ${n} rows)`);
    else if (actual[table] !== n) out.push(`table "${table}" has ${actual[table]} rows, expected ${n}`);
  }
  for (const table of Object.keys(actual)) {
    if (!Object.hasOwn(expected, table)) out.push(`table "${table}" is not in the snapshot's statistics`);
  }
  return out;
}
