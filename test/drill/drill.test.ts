/**
 * @module test/drill/drill
 * `lifeboat drill` through the real CLI: a drill passes on good sqlite and files snapshots,
 * fails naming the check when a user check is wrong, keeps its reports in the repository
 * (`drill --list`) without changing what "latest" means, and runs against a throwaway
 * redis-server when one can start here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { countChecks, countedStats } from '../../src/jobs/drill.js';
import { type MariadbServer, mariadbUnavailable, startMariadb } from '../../src/testing/servers/mariadb.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';

const LMDB_WRITER = fileURLToPath(new URL('../lmdb/lmdb-writer.js', import.meta.url));

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

async function drillTemps(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith('lifeboat-drill-'));
}

describe('lifeboat drill', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let config: string;
  const sources: Record<string, unknown> = {};

  async function cli(args: string[]): Promise<CliResult> {
    await writeFile(config, JSON.stringify({ sources }));
    return runCli(['--config', config, ...args], env, { cwd: dir });
  }
  async function ok(args: string[]): Promise<CliResult> {
    const r = await cli(args);
    assert.equal(r.code, 0, show(args, r));
    return r;
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-drill-test-'));
    env = repoEnv(join(dir, 'repo'));
    config = join(dir, 'lifeboat.yaml');
    const db = new Database(join(dir, 'app.db'));
    db.exec(
      'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE orders (id INTEGER PRIMARY KEY, user INTEGER)',
    );
    const ins = db.prepare('INSERT INTO users (name) VALUES (?)');
    for (let i = 0; i < 500; i++) ins.run(`user-${i}`);
    db.prepare('INSERT INTO orders (user) VALUES (1)').run();
    db.close();
    await mkdir(join(dir, 'uploads', 'sub'), { recursive: true });
    await writeFile(join(dir, 'uploads', 'a.txt'), 'hello');
    await writeFile(join(dir, 'uploads', 'sub', 'b.bin'), Buffer.alloc(10_000, 7));
    sources.app = {
      type: 'sqlite',
      path: join(dir, 'app.db'),
      drill: {
        checks: [
          { sql: 'SELECT count(*) FROM users', expect: '500' },
          { name: 'target exists', command: 'test -s "$LIFEBOAT_DRILL_TARGET"' },
        ],
      },
    };
    sources.uploads = { type: 'files', path: join(dir, 'uploads') };
    await ok(['init']);
    await ok(['backup', 'app', 'uploads']);
  });
  after(() => cleanup());

  it('passes on a good sqlite snapshot: recorded rows, integrity_check and the user checks', async () => {
    const before = await drillTemps();
    const r = await ok(['drill', 'app', '--json']);
    const report = JSON.parse(r.stdout);
    assert.equal(report.passed, true);
    assert.equal(report.source, 'app');
    const names = report.checks.map((c: { name: string }) => c.name);
    assert.ok(names.includes('count rows'), names.join(', '));
    assert.ok(names.includes('sqlite integrity_check'));
    assert.ok(names.includes('sql: SELECT count(*) FROM users'));
    assert.ok(names.includes('target exists'));
    assert.ok(report.rtoMs >= report.restoreMs);
    assert.deepEqual(await drillTemps(), before, 'the scratch target is removed');
  });

  it('passes on a files snapshot, checking file count and bytes', async () => {
    const r = await ok(['drill', 'uploads']);
    assert.match(r.stdout, /ok +count files: 2/);
    assert.match(r.stdout, /ok +count bytes: 10005/);
    assert.match(r.stdout, /passed, recovery time/);
  });

  it('fails naming the check when a user check does not hold', async () => {
    sources.app = {
      ...(sources.app as object),
      drill: { checks: [{ name: 'enough users', sql: 'SELECT count(*) FROM users', expect: '501' }] },
    };
    const args = ['drill', 'app'];
    const r = await cli(args);
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stdout, /FAILED enough users: expected 501, got 500/);
    assert.match(r.stderr, /check "enough users" failed/);
  });

  it('fails when a command check fails, and keeps an explicit --snapshot', async () => {
    const snaps = JSON.parse((await ok(['snapshots', '--source', 'uploads', '--json'])).stdout);
    const id = snaps.at(-1).id as string;
    sources.uploads = {
      type: 'files',
      path: join(dir, 'uploads'),
      drill: { checks: [{ command: 'test -f "$LIFEBOAT_DRILL_TARGET/missing.txt"' }] },
    };
    const args = ['drill', '--snapshot', id.slice(0, 12), '--json'];
    const r = await cli(args);
    assert.equal(r.code, 1, show(args, r));
    const report = JSON.parse(r.stdout);
    assert.equal(report.snapshot, id);
    assert.equal(report.passed, false);
    // Under --json the error is a JSON object with its code.
    const error = JSON.parse(r.stderr);
    assert.equal(error.code, 'integrity');
    assert.match(error.message, /check "command: test -f/);
  });

  it('restores into a configured scratch_url, and fails when the restore fails', async () => {
    const scratch = join(dir, 'scratch.db');
    sources.app = { type: 'sqlite', path: join(dir, 'app.db'), drill: { scratch_url: scratch } };
    const r = await ok(['drill', 'app', '--json']);
    assert.equal(JSON.parse(r.stdout).scratch, 'configured scratch_url');
    assert.ok(existsSync(scratch), 'the drill restored into the configured target');
    sources.app = {
      type: 'sqlite',
      path: join(dir, 'app.db'),
      drill: { scratch_url: join(dir, 'app.db', 'x.db') },
    };
    const args = ['drill', 'app', '--json'];
    const bad = await cli(args);
    assert.equal(bad.code, 1, show(args, bad));
    const report = JSON.parse(bad.stdout);
    assert.equal(report.passed, false);
    assert.ok(report.error);
    assert.match(bad.stderr, /\[drill\] app: restore failed/);
  });

  it('lists the reports kept in the repository, and "latest" still means the latest backup', async () => {
    const list = JSON.parse((await ok(['drill', '--list', '--json'])).stdout);
    assert.equal(list.length, 6);
    assert.deepEqual(
      list.map((d: { passed: boolean }) => d.passed),
      [true, true, false, false, true, false],
    );
    const app = await ok(['drill', '--list', 'app']);
    assert.match(app.stdout, /passed/);
    assert.match(app.stdout, /FAILED \(enough users\)/);
    const to = join(dir, 'restored.db');
    await ok(['restore', 'latest', '--source', 'app', '--to', to]);
    assert.ok(existsSync(to));
  });

  const skip = redisUnavailable();
  if (skip) console.log(`SKIPPED redis drill: ${skip}`);
  it('drills a redis snapshot into a throwaway redis-server', { skip: skip ?? false }, async () => {
    let server: RedisServer | undefined;
    try {
      server = await startRedis();
      const conn = await server.connect();
      for (let i = 0; i < 50; i++) await conn.call(['SET', `k${i}`, `v${i}`]);
      await conn.call(['SELECT', '2']);
      await conn.call(['SET', 'other', 'x']);
      await conn.close();
      sources.cache = { type: 'redis', url: server.url };
      await ok(['backup', 'cache']);
      const r = await ok(['drill', 'cache', '--json']);
      const report = JSON.parse(r.stdout);
      assert.equal(report.passed, true, r.stdout);
      assert.equal(report.scratch, 'throwaway redis-server');
      const names = report.checks.map((c: { name: string; detail: string }) => `${c.name}=${c.detail}`);
      assert.ok(names.includes('count keysTotal=51'), names.join(', '));
      const rdb = report.checks.find((c: { name: string }) => c.name === 'redis-check-rdb');
      assert.equal(rdb?.ok, true, JSON.stringify(rdb));
      assert.match(rdb.detail, /RDB looks OK/);

      // Without redis-check-rdb on PATH the check is skipped, with why; the drill still passes.
      const bin = join(dir, 'bin-no-check-rdb');
      await mkdir(bin, { recursive: true });
      await symlink(redisServerPath(), join(bin, 'redis-server'));
      const args = ['--config', config, 'drill', 'cache'];
      const noTool = await runCli(args, { ...env, PATH: bin }, { cwd: dir });
      assert.equal(noTool.code, 0, show(args, noTool));
      assert.match(noTool.stdout, /^skipped redis-check-rdb: redis-check-rdb not found/m);
      assert.doesNotMatch(noTool.stdout, /^ok +redis-check-rdb/m);
    } finally {
      await server?.stop();
    }
  });

  it('opens a restored LMDB environment read-only as its integrity check', async () => {
    const path = join(dir, 'lmdb-env');
    // The LMDB suite's writer: 100 accounts and 100 ledger entries, and the count in "meta".
    const w = spawnSync(process.execPath, [LMDB_WRITER, path, '100'], { encoding: 'utf8' });
    assert.equal(w.status, 0, w.stderr);
    sources.kv = { type: 'lmdb', path };
    await ok(['backup', 'kv']);
    const r = await ok(['drill', 'kv']);
    assert.match(r.stdout, /^ok +lmdb open read-only: format 2: 4 database\(s\), 201 entries readable$/m);
    assert.match(r.stdout, /passed, recovery time/);
  });

  const pgSkip = postgresUnavailable();
  if (pgSkip) console.log(`SKIPPED postgres drill: ${pgSkip}`);
  it('drills a postgres snapshot into a throwaway cluster, with a sql check', {
    skip: pgSkip ?? false,
  }, async () => {
    let server: PostgresServer | undefined;
    try {
      server = await startPostgres();
      await sql(server.url, 'CREATE DATABASE shop');
      await sql(
        server.urlFor('shop'),
        'CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 120)',
      );
      sources.shop = {
        type: 'postgres',
        url: server.urlFor('shop'),
        drill: { checks: [{ name: 'items', sql: 'SELECT count(*) FROM items', expect: 120 }] },
      };
      await ok(['backup', 'shop']);
      // The drill's cluster is its own: stop the source server first.
      await server.stop();
      const r = await ok(['drill', 'shop', '--json']);
      const report = JSON.parse(r.stdout);
      assert.equal(report.passed, true, r.stdout);
      assert.equal(report.scratch, 'throwaway postgres cluster');
      const names = report.checks.map((c: { name: string; detail: string }) => `${c.name}=${c.detail}`);
      assert.ok(names.includes('items=120'), names.join(', '));
      assert.ok(names.includes('pg_amcheck=shop: no corruption found'), names.join(', '));
      assert.ok(
        names.some((n: string) => n.startsWith('count rows=')),
        names.join(', '),
      );
    } finally {
      await server?.stop();
    }
  });

  it('drills each unit of a postgres source with several databases and globals', {
    skip: pgSkip ?? false,
  }, async () => {
    let server: PostgresServer | undefined;
    try {
      server = await startPostgres();
      for (const [db, n] of [
        ['sales', 30],
        ['crm', 7],
      ] as const) {
        await sql(server.url, `CREATE DATABASE ${db}`);
        await sql(
          server.urlFor(db),
          `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, ${n})`,
        );
      }
      sources.multi = { type: 'postgres', url: server.url, databases: ['sales', 'crm'], globals: true };
      await ok(['backup', 'multi']);
      await server.stop();
      const r = await ok(['drill', 'multi', '--json']);
      const reports = JSON.parse(r.stdout);
      assert.deepEqual(
        reports.map((x: { source: string; passed: boolean }) => [x.source, x.passed]),
        [
          ['multi/crm', true],
          ['multi/globals', true],
          ['multi/sales', true],
        ],
      );
      const rows = reports.map(
        (x: { checks: { name: string; detail: string }[] }) =>
          x.checks.find((c) => c.name === 'count rows')?.detail,
      );
      assert.deepEqual(rows, ['1 match', undefined, '1 match']);
      const list = await ok(['drill', '--list', 'multi', '--json']);
      assert.equal(JSON.parse(list.stdout).length, 3);
    } finally {
      await server?.stop();
    }
  });

  const myskip = mariadbUnavailable();
  if (myskip) console.log(`SKIPPED mariadb drill: ${myskip}`);
  it('drills a mysql snapshot into a throwaway mariadbd', { skip: myskip ?? false }, async () => {
    let server: MariadbServer | undefined;
    try {
      server = await startMariadb();
      server.rootSql(
        'CREATE DATABASE shop; CREATE TABLE shop.items (id int PRIMARY KEY); INSERT INTO shop.items VALUES (1),(2),(3);',
      );
      sources.myshop = { type: 'mysql', url: server.urlFor('shop') };
      await ok(['backup', 'myshop']);
      await server.stop();
      const r = await ok(['drill', 'myshop', '--json']);
      const report = JSON.parse(r.stdout);
      assert.equal(report.passed, true, r.stdout);
      assert.equal(report.scratch, 'throwaway mariadbd');
      const names = report.checks.map((c: { name: string; detail: string }) => `${c.name}=${c.detail}`);
      assert.ok(names.includes('count rows=1 match'), names.join(', '));
    } finally {
      await server?.stop();
    }
  });
});

function redisServerPath(): string {
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (d && existsSync(join(d, 'redis-server'))) return join(d, 'redis-server');
  }
  throw new Error('redis-server not on PATH');
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describe('a drill of a damaged snapshot', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-drill-damaged-'));
  });
  after(() => cleanup());

  it('passes before the damage, then fails naming the check, in the report and the list', async () => {
    const env = repoEnv(join(dir, 'repo'));
    const config = join(dir, 'lifeboat.yaml');
    const db = new Database(join(dir, 'app.db'));
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    const ins = db.prepare('INSERT INTO notes (body) VALUES (?)');
    for (let i = 0; i < 2000; i++) ins.run(`note ${i} ${'x'.repeat(200)}`);
    db.close();
    await writeFile(
      config,
      JSON.stringify({ sources: { app: { type: 'sqlite', path: join(dir, 'app.db') } } }),
    );
    const run = (args: string[]) => runCli(['--config', config, ...args], env, { cwd: dir });
    for (const args of [['init'], ['backup', 'app'], ['drill', 'app']]) {
      const r = await run(args);
      assert.equal(r.code, 0, show(args, r));
    }

    // Bit rot in the repository: one byte of the largest pack (the database's data) flipped.
    const packs: { path: string; size: number }[] = [];
    for (const sub of await readdir(join(dir, 'repo', 'data'))) {
      for (const name of await readdir(join(dir, 'repo', 'data', sub))) {
        const path = join(dir, 'repo', 'data', sub, name);
        packs.push({ path, size: (await stat(path)).size });
      }
    }
    const largest = packs.sort((a, b) => b.size - a.size)[0];
    const bytes = await readFile(largest.path);
    bytes[Math.floor(bytes.length / 2)] ^= 0x40;
    await writeFile(largest.path, bytes);

    const args = ['drill', 'app', '--json'];
    const r = await run(args);
    assert.equal(r.code, 1, show(args, r));
    const report = JSON.parse(r.stdout);
    assert.equal(report.passed, false);
    const failed = report.checks.filter((c: { ok: boolean }) => !c.ok);
    assert.deepEqual(
      failed.map((c: { name: string }) => c.name),
      ['restore'],
    );
    assert.match(failed[0].detail, /damaged|authentic|integrity|corrupt/i);
    assert.match(r.stderr, /\[drill\] app: restore failed: /);

    const list = await run(['drill', '--list', 'app']);
    assert.match(list.stdout, /passed/);
    assert.match(list.stdout, /FAILED \(restore\)/);
    const shown = await run(['drill', '--show', report.id]);
    assert.match(shown.stdout, /^# Restore drill of app: FAILED$/m);
    assert.match(shown.stdout, /^\| restore \| FAILED \| /m);
  });
});

describe('drill count checks', () => {
  it('fail naming the table when the recorded row counts were tampered', () => {
    const recorded = { rows: { users: 501, orders: 1 }, tables: 2, bytes: 10 };
    const restored = { rows: { users: 500, orders: 1 }, tables: 2, bytes: 12 };
    const checks = countChecks(recorded, restored, countedStats('sqlite'));
    assert.deepEqual(
      checks.map((c) => [c.name, c.ok, c.detail]),
      [['count rows', false, 'users: recorded 501, restored 500']],
    );
  });
  it('compare files, folders and bytes of a files snapshot', () => {
    const checks = countChecks(
      { files: 3, dirs: 1, bytes: 9 },
      { files: 2, dirs: 1, bytes: 9 },
      countedStats('files'),
    );
    assert.deepEqual(
      checks.map((c) => [c.name, c.ok]),
      [
        ['count files', false],
        ['count dirs', true],
        ['count bytes', true],
      ],
    );
  });
});
