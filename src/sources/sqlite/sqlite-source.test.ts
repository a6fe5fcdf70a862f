import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isLifeboatError, type LifeboatError } from '../../errors.js';
import { silentProgress } from '../../progress.js';
import { MemoryContentStore } from '../../testing/memory-content-store.js';
import type { BackupResult, RestoreOptions } from '../source.js';
import { quoteIdent } from './sqlite-database.js';
import { createSqliteSource } from './sqlite-source.js';

const WEIRD = 'odd "quoted" name';

function makeDatabase(path: string): void {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE items (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n);
    CREATE INDEX items_t ON items (t);
    CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, msg TEXT NOT NULL);
    CREATE TRIGGER items_log AFTER INSERT ON items BEGIN INSERT INTO log (msg) VALUES ('added ' || NEW.id); END;
    CREATE VIEW big_items AS SELECT id, t FROM items WHERE i > 100;
    CREATE TABLE tags (name TEXT PRIMARY KEY, note TEXT) WITHOUT ROWID;
    CREATE TABLE notes (body TEXT);
    CREATE TABLE calc (a INTEGER, doubled INTEGER GENERATED ALWAYS AS (a * 2) STORED);
    CREATE TABLE ${quoteIdent(WEIRD)} (x);
  `);
  const insert = db.prepare('INSERT INTO items (i, r, t, b, n) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    insert.run(1, 1.5, 'plain', Buffer.from([0, 1, 2, 255]), null);
    insert.run(9007199254740991n, -0.000123, 'Grüße, 世界 🚣', randomBytes(3000), 42);
    insert.run(-7, 1e300, '', Buffer.alloc(0), 'text in an untyped column');
    insert.run(null, null, null, null, null);
    for (let k = 0; k < 500; k++) insert.run(k * 3, k / 7, `row ${k}`, randomBytes(k % 50), k % 2 ? k : null);
    db.prepare("INSERT INTO tags VALUES ('b', 'bee'), ('a', NULL), ('ä', 'umlaut')").run();
    for (let k = 0; k < 20; k++) db.prepare('INSERT INTO notes VALUES (?)').run(`note ${k}`);
    db.prepare('DELETE FROM notes WHERE rowid % 3 = 0').run(); // rowid gaps must survive
    db.prepare('INSERT INTO calc (a) VALUES (1), (2), (NULL)').run();
    db.prepare(`INSERT INTO ${quoteIdent(WEIRD)} VALUES (1), ('two')`).run();
    db.prepare('DELETE FROM log WHERE id > 500').run(); // sqlite_sequence stays above max(id)
  })();
  db.close();
}

/** sha256 of every row (with its rowid where there is one), in a stable order. */
function tableDigest(db: Database.Database, table: string): string {
  const withoutRowid = (db.prepare('SELECT wr FROM pragma_table_list(?)').get(table) as { wr: number }).wr;
  const sql = withoutRowid
    ? `SELECT * FROM ${quoteIdent(table)} ORDER BY 1`
    : `SELECT rowid AS lifeboat_rowid, * FROM ${quoteIdent(table)} ORDER BY rowid`;
  const rows = db.prepare(sql).safeIntegers(true).raw(true).all();
  const text = JSON.stringify(rows, (_k, v) =>
    typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
  );
  return createHash('sha256').update(text).digest('hex');
}

function digests(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true });
  try {
    const out: Record<string, string> = {};
    const schema = db
      .prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name')
      .all();
    out['(schema)'] = createHash('sha256').update(JSON.stringify(schema)).digest('hex');
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    for (const t of tables) out[t] = tableDigest(db, t);
    return out;
  } finally {
    db.close();
  }
}

function options(extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return { overwrite: false, dryRun: false, ...extra };
}

function lifeboatError(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isLifeboatError(err), `expected a LifeboatError, got ${err}`);
    assert.equal((err as LifeboatError).code, code, (err as Error).message);
    assert.match((err as Error).message, pattern);
    return true;
  };
}

describe('sqlite source', () => {
  let dir: string;
  let source: string;
  let store: MemoryContentStore;
  let result: BackupResult;

  const restoreCtx = (r: BackupResult = result) => ({
    store,
    progress: silentProgress,
    root: r.root,
    stats: r.stats,
    meta: r.meta ?? {},
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-sqlite-test-'));
    source = join(dir, 'app.db');
    makeDatabase(source);
    store = new MemoryContentStore();
    result = await createSqliteSource('app', { type: 'sqlite', path: source }).backup({
      store,
      progress: silentProgress,
    });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records rows per table, the file size and engine facts', () => {
    assert.deepEqual(result.stats.rows, {
      calc: 3,
      items: 504,
      log: 500,
      notes: 14,
      [WEIRD]: 2,
      tags: 3,
    });
    assert.equal(result.stats.tables, 6);
    assert.ok((result.stats.bytes as number) > 0);
    assert.equal(result.meta?.path, source);
    assert.equal(result.meta?.artifact, 'app.db');
    assert.match(String(result.meta?.sqliteVersion), /^3\.\d+\.\d+$/);
    assert.equal(result.meta?.pageSize, 4096);
  });

  it('restores a database identical in schema and content', async () => {
    const to = join(dir, 'restored.db');
    const r = await createSqliteSource('app', { type: 'sqlite', path: source }).restore(
      restoreCtx(),
      options({ to }),
    );
    assert.equal(r.target, to);
    assert.deepEqual(r.stats.rows, result.stats.rows);
    assert.deepEqual(digests(to), digests(source));
    const db = new Database(to);
    assert.equal(db.prepare('SELECT count(*) FROM big_items').pluck().get(), 467); // 466 of the generated rows and the big one
    db.prepare("INSERT INTO items (t) VALUES ('after restore')").run();
    assert.equal(db.prepare("SELECT count(*) FROM log WHERE msg LIKE 'added %'").pluck().get(), 501);
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.close();
  });

  it('restores into an existing folder under the artifact name', async () => {
    const folder = join(dir, 'into-folder');
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder);
    const r = await createSqliteSource('app', { type: 'sqlite', path: source }).restore(
      restoreCtx(),
      options({ to: folder }),
    );
    assert.equal(r.target, join(folder, 'app.db'));
    assert.deepEqual(await readdir(folder), ['app.db']);
  });

  it('refuses a non-empty target without --overwrite, and replaces it with it', async () => {
    const to = join(dir, 'occupied.db');
    await writeFile(to, 'something');
    await writeFile(`${to}-wal`, 'stale wal');
    const src = createSqliteSource('app', { type: 'sqlite', path: source });
    await assert.rejects(
      src.restore(restoreCtx(), options({ to })),
      lifeboatError('target_not_empty', /occupied\.db exists and is not empty \(pass --overwrite/),
    );
    await src.restore(restoreCtx(), options({ to, overwrite: true }));
    assert.equal(existsSync(`${to}-wal`), false);
    assert.deepEqual(digests(to), digests(source));
  });

  it('fails, saying where, when the target folder cannot be made (it hung under /proc)', async () => {
    const src = createSqliteSource('app', { type: 'sqlite', path: source });
    await symlink(join(dir, 'nowhere'), join(dir, 'dangling'));
    await assert.rejects(
      src.restore(restoreCtx(), options({ to: join(dir, 'dangling', 'sub', 'app.db') })),
      lifeboatError('source_failed', /cannot write .*dangling\/sub\/app\.db: ENOENT/),
    );
    if (existsSync('/proc/self')) {
      await assert.rejects(
        src.restore(restoreCtx(), options({ to: '/proc/lifeboat-test/app.db' })),
        lifeboatError('source_failed', /cannot write \/proc\/lifeboat-test\/app\.db: ENOENT/),
      );
    }
  });

  it('answers a dry run with the tables and writes nothing', async () => {
    const to = join(dir, 'dry.db');
    const r = await createSqliteSource('app', { type: 'sqlite', path: source }).restore(
      restoreCtx(),
      options({ to, dryRun: true }),
    );
    assert.ok(r.items.includes('items: 504 rows'));
    assert.equal(r.items.length, 6);
    assert.equal(existsSync(to), false);
  });

  it('fails a restore whose row counts differ from the snapshot, leaving no file', async () => {
    const to = join(dir, 'mismatch.db');
    const stats = { ...result.stats, rows: { ...result.stats.rows, notes: 15 } };
    await assert.rejects(
      createSqliteSource('app', { type: 'sqlite', path: source }).restore(
        { ...restoreCtx(), stats },
        options({ to }),
      ),
      lifeboatError('integrity', /table "notes" has 14 rows, expected 15/),
    );
    assert.equal(existsSync(to), false);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('lifeboat')),
      [],
    );
  });

  it('restores chosen tables into an existing database, leaving the others', async () => {
    const to = join(dir, 'partial.db');
    makeDatabase(to);
    const db = new Database(to);
    db.exec('DELETE FROM items WHERE id > 10; UPDATE tags SET note = NULL; DROP INDEX items_t;');
    db.exec('CREATE TABLE mine (x); INSERT INTO mine VALUES (1);');
    const tagsBefore = tableDigest(db, 'tags');
    db.close();

    const src = createSqliteSource('app', { type: 'sqlite', path: source });
    await assert.rejects(
      src.restore(restoreCtx(), options({ to, tables: ['items'] })),
      lifeboatError('target_not_empty', /table "items" in .*partial\.db is not empty \(pass --overwrite/),
    );
    const r = await src.restore(restoreCtx(), options({ to, tables: ['items', WEIRD], overwrite: true }));
    assert.deepEqual(r.stats.rows, { items: 504, [WEIRD]: 2 });

    const want = digests(source);
    const got = digests(to);
    assert.equal(got.items, want.items);
    assert.equal(got[WEIRD], want[WEIRD]);
    const check = new Database(to);
    assert.equal(tableDigest(check, 'tags'), tagsBefore);
    assert.equal(check.prepare('SELECT count(*) FROM mine').pluck().get(), 1);
    const indexes = check.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'items'").pluck().all();
    assert.deepEqual(indexes.sort(), ['items', 'items_log', 'items_t']);
    assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    assert.equal(check.pragma('foreign_keys', { simple: true }), 1);
    check.close();
  });

  it('restores chosen tables into a new database, with generated columns and autoincrement', async () => {
    const to = join(dir, 'new-partial.db');
    await createSqliteSource('app', { type: 'sqlite', path: source }).restore(
      restoreCtx(),
      options({ to, tables: ['calc', 'log', 'notes', 'tags'] }),
    );
    const want = digests(source);
    const got = digests(to);
    for (const t of ['calc', 'log', 'notes', 'tags']) assert.equal(got[t], want[t], t);
    const db = new Database(to);
    const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'log'").pluck().get();
    assert.ok((seq as number) > 500);
    db.close();
  });

  it('refuses a table that is not in the snapshot, listing those that are', async () => {
    await assert.rejects(
      createSqliteSource('app', { type: 'sqlite', path: source }).restore(
        restoreCtx(),
        options({ to: join(dir, 'x.db'), tables: ['nope'] }),
      ),
      lifeboatError(
        'not_found',
        /table "nope" not in the snapshot \(tables: calc, items, log, notes, .*tags\)/,
      ),
    );
  });

  it('partial dry run lists the tables and writes nothing', async () => {
    const to = join(dir, 'dry-partial.db');
    const r = await createSqliteSource('app', { type: 'sqlite', path: source }).restore(
      restoreCtx(),
      options({ to, tables: ['notes'], dryRun: true }),
    );
    assert.deepEqual(r.items, ['notes: 14 rows']);
    assert.equal(existsSync(to), false);
  });

  it('names the path and the next step when the database is missing or not SQLite', async () => {
    const missing = join(dir, 'missing.db');
    await assert.rejects(
      createSqliteSource('app', { type: 'sqlite', path: missing }).backup({
        store,
        progress: silentProgress,
      }),
      lifeboatError(
        'source_unreadable',
        /^\[source:sqlite\] cannot open .*missing\.db: file not found \(check the path in the source config\)$/,
      ),
    );
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'this is not a database, just some text that is long enough to hold a header.');
    await assert.rejects(
      createSqliteSource('app', { type: 'sqlite', path: text }).backup({ store, progress: silentProgress }),
      lifeboatError('source_unreadable', /cannot open .*notes\.txt: not a SQLite database/),
    );
  });
});

const WRITER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.pragma('busy_timeout = 10000');
const add = db.prepare('INSERT INTO a (v) VALUES (?)');
const addB = db.prepare('INSERT INTO b (v) VALUES (?)');
const moveA = db.prepare('UPDATE a SET v = v + ? WHERE id = (SELECT max(id) FROM a)');
const moveB = db.prepare('UPDATE b SET v = v + ? WHERE id = (SELECT min(id) FROM b)');
const step = db.transaction((n) => { add.run(n); addB.run(n); moveA.run(n); moveB.run(n); });
let done = 0;
for (;;) {
  step(1 + Math.floor(Math.random() * 1000));
  if (++done === 1) process.stdout.write('ready\\n');
  if (done % 5 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
}
`;

describe('sqlite source under concurrent writes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-sqlite-writes-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const mode of ['wal', 'delete']) {
    it(`copies a consistent state while another process writes (journal_mode=${mode})`, async () => {
      const path = join(dir, `busy-${mode}.db`);
      const db = new Database(path);
      db.pragma(`journal_mode = ${mode}`);
      db.exec(`CREATE TABLE a (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);
               CREATE TABLE b (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);
               CREATE TABLE padding (data BLOB);`);
      // Large enough that a copy takes many steps, so writes land between them.
      const pad = db.prepare('INSERT INTO padding VALUES (?)');
      db.transaction(() => {
        for (let k = 0; k < 100; k++) pad.run(randomBytes(100_000));
      })();
      const countA = () => db.prepare('SELECT count(*) FROM a').pluck().get() as number;

      const require = createRequire(import.meta.url);
      const child = spawn(process.execPath, ['-e', WRITER, require.resolve('better-sqlite3'), path], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout.once('data', () => resolve());
          child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
        });
        const store = new MemoryContentStore();
        const src = createSqliteSource('busy', { type: 'sqlite', path });
        for (let round = 0; round < 3; round++) {
          const before = countA();
          const r = await src.backup({ store, progress: silentProgress });
          assert.ok(countA() > before, 'the writer committed while the backup ran');
          const to = join(dir, `busy-${mode}-${round}.db`);
          await src.restore(
            { store, progress: silentProgress, root: r.root, stats: r.stats, meta: r.meta ?? {} },
            options({ to }),
          );
          const copy = new Database(to, { readonly: true });
          assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
          const sums = copy
            .prepare('SELECT (SELECT sum(v) FROM a) AS a, (SELECT sum(v) FROM b) AS b')
            .get() as {
            a: number;
            b: number;
          };
          assert.equal(sums.a, sums.b);
          assert.equal(r.stats.rows?.a, r.stats.rows?.b);
          copy.close();
        }
      } finally {
        child.kill();
        db.close();
      }
    });
  }
});
