/**
 * The sqlite engine through the shared source contract (testing/source-contract).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runSourceContract } from '../../testing/source-contract.js';

/** Every table's rows (by rowid), as one digest per table. */
function tableDigests(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const db = new Database(path, { readonly: true });
  try {
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all() as string[];
    return Object.fromEntries(
      tables.map((t) => {
        const rows = db.prepare(`SELECT rowid, * FROM "${t}" ORDER BY rowid`).raw().all();
        return [t, createHash('sha256').update(JSON.stringify(rows)).digest('hex')];
      }),
    );
  } finally {
    db.close();
  }
}

runSourceContract('sqlite', async (defer) => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-sqlite-contract-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'app.sqlite');
  const db = new Database(path);
  db.exec(
    'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)',
  );
  const add = db.prepare('INSERT INTO users (name) VALUES (?)');
  for (let i = 0; i < 300; i++) add.run(`user ${i}`);
  db.prepare('INSERT INTO orders (total) VALUES (9.5), (12)').run();
  db.close();
  let n = 0;
  return {
    config: { type: 'sqlite', path },
    target: async () => join(dir, `restored-${n++}.sqlite`),
    digest: async (target) => JSON.stringify(tableDigests(target ?? path)),
    scopes: {
      tables: {
        options: { tables: ['users'] },
        check: async (to) => {
          const got = tableDigests(to);
          assert.deepEqual(Object.keys(got), ['users']);
          assert.equal(got.users, tableDigests(path).users);
        },
      },
    },
    checkDump: async (file) => assert.deepEqual(tableDigests(file), tableDigests(path)),
  };
});
