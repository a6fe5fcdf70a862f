/**
 * @module test/cli/cli-sqlite
 * A SQLite source from a config file through the real CLI: backup while the application
 * holds the database open, restore to a new path, `dump` of the native artifact (to a file
 * and to standard output), partial restore of one table, and a restore without the config.
 * Compared by rows and schema, not by exit codes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { tempDir } from '../helpers/cli.js';
import { bareEnv, CliSession } from '../helpers/cli-session.js';

const PASSWORD = 'pw-sqlite-Rt4%marble-falcon';

const session = new CliSession({ password: PASSWORD });
const { ok, fails, cliBytes } = session;

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Per table: a digest of its rows (with rowids) and its definition; plus `#schema` for the rest. */
function contents(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', `${path} passes integrity_check`);
    const out: Record<string, string> = {};
    const tables = db
      .prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as { name: string; sql: string }[];
    for (const { name, sql } of tables) {
      const wr = (db.prepare('SELECT wr FROM pragma_table_list(?)').get(name) as { wr: number }).wr;
      const select = wr
        ? `SELECT * FROM ${quote(name)} ORDER BY 1`
        : `SELECT rowid AS lifeboat_rowid, * FROM ${quote(name)} ORDER BY rowid`;
      const rows = db.prepare(select).safeIntegers(true).raw(true).all();
      const text = JSON.stringify([sql, rows], (_k, v) =>
        typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
      );
      out[name] = createHash('sha256').update(text).digest('hex');
    }
    const rest = db
      .prepare(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger', 'view') ORDER BY name",
      )
      .all();
    out['#schema'] = JSON.stringify(rest);
    return out;
  } finally {
    db.close();
  }
}

function rowCount(path: string, table: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${quote(table)}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function tableNames(path: string): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
  } finally {
    db.close();
  }
}

describe('lifeboat with a sqlite source', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let live: string;
  let app: Database.Database;
  /** The database as the snapshot holds it (a restored copy, checked equal to the original). */
  let atBackup: Record<string, string>;
  let repo: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-sqlite-'));
    session.workDir = dir;
    repo = join(dir, 'repo');
    live = join(dir, 'app', 'app.db');
    await mkdir(join(dir, 'app'));
    // The application keeps its database open in WAL mode while it is backed up.
    app = new Database(live);
    app.pragma('journal_mode = WAL');
    app.pragma('foreign_keys = OFF'); // SQLite's default; better-sqlite3 turns it on
    app.exec(`
      CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, avatar BLOB);
      CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER REFERENCES users(id), body TEXT, score REAL);
      CREATE INDEX posts_user ON posts (user_id);
      CREATE TABLE settings (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
      CREATE VIEW busy_users AS SELECT user_id, count(*) AS n FROM posts GROUP BY user_id;
    `);
    const addUser = app.prepare('INSERT INTO users (name, email, avatar) VALUES (?, ?, ?)');
    const addPost = app.prepare('INSERT INTO posts (user_id, body, score) VALUES (?, ?, ?)');
    app.transaction(() => {
      for (let i = 1; i <= 300; i++) addUser.run(`user ${i} ✓`, `u${i}@example.org`, Buffer.alloc(i % 40, i));
      for (let i = 1; i <= 2000; i++) addPost.run((i % 300) + 1, `post ${i} `.repeat(i % 9), i / 7);
      app.prepare("INSERT INTO settings VALUES ('theme', 'dark'), ('limit', 42), ('ratio', 0.5)").run();
      app.prepare('DELETE FROM posts WHERE id % 10 = 0').run(); // rowid gaps must survive
    })();
    const config = join(dir, 'lifeboat-sqlite.yaml');
    await writeFile(
      config,
      [
        'repository:',
        `  url: ${repo}`,
        `  password: \${LB_TEST_PW}`,
        'sources:',
        '  db:',
        '    type: sqlite',
        `    path: ${live}`,
        '',
      ].join('\n'),
    );
    env = bareEnv({ LB_TEST_PW: PASSWORD, LIFEBOAT_CONFIG: config });
    await ok(['init'], env);
  });
  after(async () => {
    app?.close();
    await cleanup();
  });

  it('backs up the database while it is open, recording rows per table', async () => {
    const r = await ok(['backup'], env);
    assert.match(r.stdout, /^snapshot [0-9a-f]{8} saved: db \(sqlite\), /m);
    const [snap] = JSON.parse((await ok(['snapshots', '--json'], env)).stdout);
    assert.equal(snap.source, 'db');
    assert.equal(snap.engine, 'sqlite');
    assert.deepEqual(snap.stats.rows, { posts: 1800, settings: 3, users: 300 });
    assert.equal(snap.stats.tables, 3);
  });

  it('restores to a new path: same rows, same schema', async () => {
    const to = join(dir, 'restored', 'copy.db');
    const r = await ok(['restore', 'latest', '--to', to], env);
    assert.match(r.stdout, /^restored snapshot [0-9a-f]{8} \(db\) to .*copy\.db: 3 tables/m);
    atBackup = contents(to);
    assert.deepEqual(atBackup, contents(live));
  });

  it('restore into an existing folder writes the database there by its name', async () => {
    const folder = join(dir, 'into-folder');
    await mkdir(folder);
    await ok(['restore', 'latest', '--to', folder], env);
    assert.deepEqual(contents(join(folder, 'app.db')), atBackup);
  });

  it('refuses to replace an existing database without --overwrite', async () => {
    const to = join(dir, 'existing.db');
    await writeFile(to, 'not yet a database, but not empty either');
    const r = await fails(['restore', 'latest', '--to', to], env, 1, /exists and is not empty/);
    assert.match(r.stderr, /--overwrite/);
    assert.equal(await readFile(to, 'utf8'), 'not yet a database, but not empty either');
    await ok(['restore', 'latest', '--to', to, '--overwrite'], env);
    assert.deepEqual(contents(to), atBackup);
  });

  it('--dry-run lists the tables with their rows and writes nothing', async () => {
    const to = join(dir, 'dry.db');
    const r = await ok(['restore', 'latest', '--to', to, '--dry-run'], env);
    assert.match(r.stdout, /^users: 300 rows$/m);
    assert.match(r.stdout, /^posts: 1800 rows$/m);
    assert.match(r.stdout, /^would restore snapshot /m);
    assert.ok(!existsSync(to));
  });

  it('--dry-run into a database that exists says what it holds, and changes nothing', async () => {
    const to = join(dir, 'taken.db');
    const other = new Database(to);
    other.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');");
    other.close();
    const before = await readFile(to);
    const r = await ok(['restore', 'latest', '--to', to, '--dry-run'], env);
    assert.match(r.stdout, /^users: 300 rows$/m);
    assert.match(r.stdout, new RegExp(`^target ${to} holds now: a file of ${before.length} bytes$`, 'm'));
    assert.match(r.stdout, /^would restore snapshot /m);
    const json = JSON.parse((await ok(['restore', 'latest', '--to', to, '--dry-run', '--json'], env)).stdout);
    assert.deepEqual(json.target_holds, {
      target: to,
      exists: true,
      summary: `a file of ${before.length} bytes`,
    });
    assert.ok((await readFile(to)).equals(before), 'the dry run wrote nothing');
    // A real restore still refuses without --overwrite.
    await fails(['restore', 'latest', '--to', to], env, 1, /exists and is not empty/);
  });

  it('dump --output writes a SQLite file equal to the original', async () => {
    const out = join(dir, 'dump', 'app-dump.db');
    await mkdir(join(dir, 'dump'));
    const r = await ok(['dump', 'latest', '--source', 'db', '--output', out], env);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^wrote app\.db \(.+\) to .*app-dump\.db$/m);
    assert.deepEqual(contents(out), atBackup);
    assert.ok(!existsSync(`${out}.lifeboat-partial`));
  });

  it('dump to standard output gives the same bytes', async () => {
    const r = await cliBytes(['dump', 'latest', '--source', 'db'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.bytes.subarray(0, 16).toString('latin1'), 'SQLite format 3\0');
    const fromFile = await readFile(join(dir, 'dump', 'app-dump.db'));
    assert.ok(r.bytes.equals(fromFile), 'stdout and --output hold the same artifact');
    const file = join(dir, 'from-stdout.db');
    await writeFile(file, r.bytes);
    assert.deepEqual(contents(file), atBackup);
  });

  it('restore --table replaces only that table', async () => {
    // The application goes on: users damaged, posts grown.
    app.prepare('DELETE FROM users WHERE id > 100').run();
    app.prepare("UPDATE users SET name = 'oops'").run();
    app.prepare("INSERT INTO posts (user_id, body, score) VALUES (1, 'after the backup', 1)").run();
    const postsNow = contents(live).posts;
    app.close();

    const refused = await fails(['restore', 'latest', '--source', 'db', '--table', 'users'], env, 1, /users/);
    assert.match(refused.stderr, /--overwrite/);
    assert.equal(rowCount(live, 'users'), 100);

    await ok(['restore', 'latest', '--source', 'db', '--table', 'users', '--overwrite'], env);
    const after = contents(live);
    assert.equal(after.users, atBackup.users);
    assert.equal(after.posts, postsNow, 'posts keeps the rows written after the backup');
    assert.equal(after.settings, atBackup.settings);
    assert.equal(rowCount(live, 'posts'), 1801);
    app = new Database(live);
  });

  it('restore --table into a new file creates just that table', async () => {
    const to = join(dir, 'only-settings.db');
    const r = await ok(['restore', 'latest', '--table', 'settings', '--to', to], env);
    assert.match(r.stdout, /1 tables/);
    assert.deepEqual(tableNames(to), ['settings']);
    assert.equal(contents(to).settings, atBackup.settings);
    await fails(
      ['restore', 'latest', '--table', 'nope', '--to', join(dir, 'nope.db')],
      env,
      1,
      /table "nope" not in the snapshot \(tables: posts, settings, users\)/,
    );
    assert.ok(!existsSync(join(dir, 'nope.db')));
  });

  it('restores without the config file: only LIFEBOAT_REPO and the password', async () => {
    const fresh = bareEnv({ LIFEBOAT_REPO: repo, LIFEBOAT_PASSWORD: PASSWORD });
    const to = join(dir, 'fresh', 'app.db');
    await ok(['restore', 'latest', '--to', to], fresh);
    assert.deepEqual(contents(to), atBackup);
    const out = join(dir, 'fresh-dump.db');
    await ok(['dump', 'latest', '--output', out], fresh);
    assert.deepEqual(contents(out), atBackup);
  });

  it('no output shows the password, and no error a stack trace', () => {
    session.assertNoLeaks(10);
  });
});
