/**
 * @module sources/sqlite/sqlite-table-restore
 * Partial restore: replaces chosen tables of a target database with their definition, rows,
 * indexes and triggers from a restored snapshot copy, in one transaction.
 */
import { quoteIdent, type SqliteDb } from './sqlite-database.js';

const SNAP = 'lifeboat_snapshot';

/** Replaces `tables` in `target` with those of the database file at `copyPath`. */
export function replaceTables(target: SqliteDb, copyPath: string, tables: string[]): void {
  const foreignKeys = target.pragma('foreign_keys', { simple: true });
  // Dropping a referenced table with enforcement on would cascade or fail; the snapshot's
  // rows are consistent with each other, and the user chose which tables to replace.
  target.pragma('foreign_keys = OFF');
  target.prepare(`ATTACH DATABASE ? AS ${SNAP}`).run(copyPath);
  try {
    target
      .transaction(() => {
        for (const table of tables) replaceTable(target, table);
      })
      .immediate();
  } finally {
    target.exec(`DETACH DATABASE ${SNAP}`);
    target.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`);
  }
}

function replaceTable(db: SqliteDb, table: string): void {
  const t = quoteIdent(table);
  const def = db
    .prepare(`SELECT sql FROM ${SNAP}.sqlite_master WHERE type = 'table' AND name = ?`)
    .get(table) as { sql: string } | undefined;
  if (!def) throw new Error(`table "${table}" is not in the snapshot copy`);

  db.exec(`DROP TABLE IF EXISTS main.${t}`);
  // Unqualified CREATE statements create in main, which is what we want.
  db.exec(def.sql);

  const columns = (
    db.prepare('SELECT name, hidden FROM pragma_table_xinfo(?, ?)').all(table, SNAP) as {
      name: string;
      hidden: number;
    }[]
  )
    .filter((c) => c.hidden === 0) // generated columns (hidden 2, 3) are computed, not inserted
    .map((c) => c.name);
  const list = columns.map(quoteIdent);
  const rowid = rowidName(db, table, columns);
  if (rowid) list.unshift(rowid);
  const cols = list.join(', ');
  db.exec(`INSERT INTO main.${t} (${cols}) SELECT ${cols} FROM ${SNAP}.${t}`);

  const hasSequence = db.prepare(`SELECT 1 FROM ${SNAP}.sqlite_master WHERE name = 'sqlite_sequence'`).get();
  if (hasSequence) {
    const seq = db.prepare(`SELECT seq FROM ${SNAP}.sqlite_sequence WHERE name = ?`).get(table) as
      | { seq: number }
      | undefined;
    if (seq) {
      db.prepare('DELETE FROM main.sqlite_sequence WHERE name = ?').run(table);
      db.prepare('INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)').run(table, seq.seq);
    }
  }

  // Triggers last, so they do not fire for the rows copied above.
  const extras = db
    .prepare(
      `SELECT sql FROM ${SNAP}.sqlite_master
       WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL
       ORDER BY type = 'trigger', name`,
    )
    .all(table) as { sql: string }[];
  for (const e of extras) db.exec(e.sql);
}

/** A name that selects the rowid, so rows keep their rowids; none for WITHOUT ROWID tables. */
function rowidName(db: SqliteDb, table: string, columns: string[]): string | undefined {
  const info = db
    .prepare('SELECT wr FROM pragma_table_list WHERE schema = ? AND name = ?')
    .get(SNAP, table) as { wr: number } | undefined;
  if (!info || info.wr) return undefined;
  const taken = new Set(columns.map((c) => c.toLowerCase()));
  return ['rowid', '_rowid_', 'oid'].find((n) => !taken.has(n));
}
