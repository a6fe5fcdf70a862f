/**
 * @module test/mysql/mysql-roundtrip
 * The mysql source through the real CLI against a throwaway MariaDB: backup, restore into
 * another database compared value for value and object for object, --overwrite, restore
 * into the original database, --table, --dry-run, `dump` restored by hand with the mariadb
 * client, several databases as units, `databases: all`, a socket URL, the `mariadb` alias,
 * and deduplication of an unchanged database.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type MariadbServer, startMariadb } from '../../src/testing/servers/mariadb.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import {
  assertSameDatabase,
  createVariedDatabase,
  mysqlSkipReason,
  ODD_TABLE,
  rows,
  tableDigests,
} from './mysql-fixture.js';

const skip = mysqlSkipReason();

interface Listed {
  id: string;
  source: string;
  engine: string;
  stats: { rows: Record<string, number>; tables: number; views: number; bytes: number };
  meta: Record<string, unknown>;
  sourceConfig: Record<string, unknown>;
  backup: { bytesAdded: number };
}

describe('mysql source: round trips through the CLI', { skip: skip ?? false }, () => {
  let server: MariadbServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(['--config', join(dir, 'lifeboat.yaml'), ...args], env, { cwd: dir });
  const show = (args: string[], r: CliResult) =>
    `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  const ok = async (...args: string[]): Promise<CliResult> => {
    const r = await cli(args);
    assert.equal(r.code, 0, show(args, r));
    return r;
  };
  const fails = async (code: number, message: RegExp, ...args: string[]): Promise<CliResult> => {
    const r = await cli(args);
    assert.equal(r.code, code, show(args, r));
    assert.match(r.stderr, message, show(args, r));
    assert.ok(!r.stderr.includes(server.password), 'the password leaked into an error');
    return r;
  };
  const snapshots = async (source?: string): Promise<Listed[]> =>
    JSON.parse((await ok('snapshots', '--json', ...(source ? ['--source', source] : []))).stdout);
  const databases = () =>
    rows(server, 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME').map((r) => r[0]);

  before(async () => {
    server = await startMariadb();
    ({ dir, cleanup } = await tempDir('lifeboat-mysql-roundtrip-'));
    env = repoEnv(join(dir, 'repo'));
    createVariedDatabase(server, 'app');
    createVariedDatabase(server, 'solo', 50);
    createVariedDatabase(server, 'sales', 20);
    createVariedDatabase(server, 'hr', 10);
    const yaml = [
      'sources:',
      '  app:',
      '    type: mysql',
      `    url: ${JSON.stringify(server.urlFor('app'))}`,
      '  solo:',
      '    type: mysql',
      `    url: ${JSON.stringify(server.urlFor('solo'))}`,
      '  multi:',
      '    type: mariadb',
      `    url: ${JSON.stringify(server.url)}`,
      '    databases: [sales, hr]',
      '  everything:',
      '    type: mysql',
      `    url: ${JSON.stringify(server.urlFor('app'))}`,
      '    databases: all',
      '  viasocket:',
      '    type: mysql',
      `    url: ${JSON.stringify(server.socketUrlFor('hr'))}`,
    ].join('\n');
    await writeFile(join(dir, 'lifeboat.yaml'), `${yaml}\n`);
    await ok('init');
  });

  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('backs up a database with its exact row counts, and restores it into another database identical', async () => {
    const r = await ok('backup', 'app');
    assert.match(r.stdout, /snapshot [0-9a-f]{8} saved: app \(mysql\)/);
    const [snap] = await snapshots('app');
    assert.equal(snap.engine, 'mysql');
    const actual = Object.fromEntries(
      Object.entries(tableDigests(server, 'app')).map(([t, d]) => [t, d.rows]),
    );
    assert.deepEqual(snap.stats.rows, actual);
    assert.equal(snap.stats.rows.items, 5000);
    assert.equal(snap.stats.rows.audit, 4, 'the trigger wrote one audit row per customer');
    assert.equal(snap.stats.rows.empty_one, 0);
    assert.equal(snap.stats.tables, 6);
    assert.equal(snap.stats.views, 2);
    assert.equal(snap.meta.database, 'app');
    assert.equal(snap.meta.collation, 'utf8mb4_unicode_ci');
    assert.match(String(snap.meta.serverVersion), /MariaDB/);
    // The recorded settings carry no password.
    assert.equal(snap.sourceConfig.url, `mysql://${server.user}@127.0.0.1:${server.port}/app`);
    assert.ok(!JSON.stringify(snap).includes(encodeURIComponent(server.password)));

    const restored = await ok('restore', 'latest', '--source', 'app', '--to', server.urlFor('copy'));
    assert.match(
      restored.stdout,
      new RegExp(`to mysql://${server.user}@127\\.0\\.0\\.1:${server.port}/copy`),
    );
    assert.ok(!restored.stdout.includes(encodeURIComponent(server.password)));
    assertSameDatabase(server, 'app', 'copy');
    const [charset] = rows(
      server,
      "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'copy'",
    );
    assert.deepEqual(charset, ['utf8mb4_unicode_ci'], 'the new database has the original collation');
  });

  it('refuses a non-empty target database, and replaces it whole with --overwrite', async () => {
    server.rootSql(
      'DELETE FROM copy.items WHERE id <= 100; CREATE TABLE copy.stray (id INT); DROP VIEW copy.taxed;',
    );
    await fails(
      1,
      /database "copy" .* is not empty .*--overwrite/,
      'restore',
      'latest',
      '--source',
      'app',
      '--to',
      server.urlFor('copy'),
    );
    assert.equal(rows(server, 'SELECT COUNT(*) FROM copy.items')[0][0], '4900', 'nothing was written');
    await ok('restore', 'latest', '--source', 'app', '--to', server.urlFor('copy'), '--overwrite');
    assertSameDatabase(server, 'app', 'copy');
    assert.deepEqual(
      rows(server, "SHOW TABLES FROM copy LIKE 'stray'"),
      [],
      'what the snapshot lacks is gone',
    );
  });

  it('restores into the original database when no --to is given, or beside it by a bare name', async () => {
    await ok('backup', 'solo');
    // A bare database name restores beside the original, on the same server.
    await ok('restore', 'latest', '--source', 'solo', '--to', 'solo_twin');
    assertSameDatabase(server, 'solo', 'solo_twin');
    server.rootSql('DROP DATABASE solo;');
    await ok('restore', 'latest', '--source', 'solo');
    assertSameDatabase(server, 'solo_twin', 'solo');
    await fails(1, /database "solo" .* is not empty/, 'restore', 'latest', '--source', 'solo');
  });

  it('--table restores only the named tables, refusing non-empty ones without --overwrite', async () => {
    server.rootSql(`CREATE DATABASE partial; CREATE TABLE partial.keepme (id INT PRIMARY KEY, v TEXT);
INSERT INTO partial.keepme VALUES (1, 'mine'), (2, 'also mine');
CREATE TABLE partial.items (id INT PRIMARY KEY, label VARCHAR(64), qty INT, price DECIMAL(20,6));
INSERT INTO partial.items VALUES (1, 'stale', 0, 0);`);
    const keepme = tableDigests(server, 'partial').keepme;
    await fails(
      1,
      /table "items" in database "partial" .* is not empty/,
      'restore',
      'latest',
      '--source',
      'app',
      '--to',
      server.urlFor('partial'),
      '--table',
      'items',
    );

    const dry = await ok(
      'restore',
      'latest',
      '--source',
      'app',
      '--to',
      server.urlFor('partial'),
      '--table',
      'items',
      '--overwrite',
      '--dry-run',
    );
    assert.match(dry.stdout, /items: 5000 rows/);
    assert.equal(rows(server, 'SELECT COUNT(*) FROM partial.items')[0][0], '1', '--dry-run wrote nothing');

    await ok(
      'restore',
      'latest',
      '--source',
      'app',
      '--to',
      server.urlFor('partial'),
      '--table',
      'items',
      '--overwrite',
    );
    const digests = tableDigests(server, 'partial');
    assert.deepEqual(digests.items, tableDigests(server, 'app').items);
    assert.deepEqual(digests.keepme, keepme, 'other tables are untouched');
    assert.deepEqual(Object.keys(digests).sort(), ['items', 'keepme']);

    // Into a database that does not exist yet, a table with an awkward name and its trigger-free data.
    await ok(
      'restore',
      'latest',
      '--source',
      'app',
      '--to',
      server.urlFor('partial2'),
      '--table',
      ODD_TABLE,
      '--table',
      'customers',
    );
    const two = tableDigests(server, 'partial2');
    const app = tableDigests(server, 'app');
    assert.deepEqual(Object.keys(two).sort(), ['customers', ODD_TABLE].sort());
    assert.deepEqual(two[ODD_TABLE], app[ODD_TABLE]);
    assert.deepEqual(two.customers, app.customers);
    // The table's trigger came along; views and routines did not.
    assert.deepEqual(
      rows(server, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'partial2'"),
      [['customers_ai']],
    );
    assert.deepEqual(
      rows(server, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'partial2'"),
      [['0']],
    );

    await fails(
      1,
      /table "nope" not in the snapshot \(tables: .*items/,
      'restore',
      'latest',
      '--source',
      'app',
      '--to',
      server.urlFor('partial3'),
      '--table',
      'nope',
    );
    assert.ok(!databases().includes('partial3'));
  });

  it('--dry-run of a whole restore lists the tables and creates nothing', async () => {
    const r = await ok('restore', 'latest', '--source', 'app', '--to', server.urlFor('never'), '--dry-run');
    assert.match(r.stdout, /customers: 4 rows/);
    assert.match(r.stdout, /items: 5000 rows/);
    assert.ok(!databases().includes('never'));
  });

  it('dump hands back the SQL, which the mariadb client restores by hand', async () => {
    const out = join(dir, 'app.sql');
    await ok('dump', 'latest', '--source', 'app', '--output', out);
    const sql = await readFile(out);
    const text = sql.toString('utf8');
    assert.match(text, /^\/\*M!999999\\- enable the sandbox mode \*\/ \n-- MariaDB dump/);
    assert.match(text, /-- Dump completed\n$/);
    assert.ok(!text.includes('CREATE DATABASE'), 'the dump is not tied to a database name');
    server.rootSql('CREATE DATABASE byhand CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;');
    const load = spawnSync(
      'mariadb',
      ['--no-defaults', '-uroot', `--socket=${server.socket}`, '--binary-mode', '--database=byhand'],
      { input: sql, encoding: 'utf8' },
    );
    assert.equal(load.status, 0, load.stderr);
    assertSameDatabase(server, 'app', 'byhand');
  });

  it('several databases: one snapshot each, named "<source>/<db>", restorable one by one', async () => {
    const r = await ok('backup', 'multi');
    assert.match(r.stdout, /saved: multi\/sales \(mysql\)/);
    assert.match(r.stdout, /saved: multi\/hr \(mysql\)/);
    const units = await snapshots('multi');
    assert.deepEqual(units.map((s) => s.source).sort(), ['multi/hr', 'multi/sales']);
    const sales = units.find((s) => s.source === 'multi/sales')!;
    assert.equal(sales.sourceConfig.type, 'mariadb');
    assert.equal(sales.sourceConfig.url, `mysql://${server.user}@127.0.0.1:${server.port}/sales`);
    assert.equal(sales.stats.rows.items, 20);

    await fails(2, /ambiguous/, 'restore', 'latest', '--source', 'multi', '--to', 'x');
    await ok('restore', 'latest', '--source', 'multi/sales', '--to', server.urlFor('sales_copy'));
    assertSameDatabase(server, 'sales', 'sales_copy');
    // With no --to, a unit goes back to its own database.
    await ok('restore', 'latest', '--source', 'multi/hr', '--to', 'hr_copy');
    assertSameDatabase(server, 'hr', 'hr_copy');
    server.rootSql('DROP DATABASE hr;');
    await ok('restore', 'latest', '--source', 'multi/hr');
    assertSameDatabase(server, 'hr_copy', 'hr');
  });

  it('databases: all takes every database but the system ones', async () => {
    const expected = databases().filter(
      (d) => !['information_schema', 'performance_schema', 'mysql', 'sys'].includes(d),
    );
    await ok('backup', 'everything');
    const units = await snapshots('everything');
    assert.deepEqual(units.map((s) => s.source).sort(), expected.map((d) => `everything/${d}`).sort());
  });

  it('connects through a unix socket given as ?socket=', async () => {
    await ok('backup', 'viasocket');
    const [snap] = await snapshots('viasocket');
    assert.equal(snap.meta.server, `${server.user}@${server.socket}`);
    await ok('restore', 'latest', '--source', 'viasocket', '--to', 'hr_via_socket');
    assertSameDatabase(server, 'hr', 'hr_via_socket');
  });

  it('an unchanged database adds next to nothing the second time', async () => {
    await ok('backup', 'app');
    const all = await snapshots('app');
    assert.ok(all.length >= 2);
    const last = all.at(-1)!;
    assert.ok(last.backup.bytesAdded < 4096, `second backup added ${last.backup.bytesAdded} bytes`);
    assert.deepEqual(last.stats.rows, all[0].stats.rows);
  });

  it('a source on the command line (--type mysql --url) backs up too', async () => {
    const r = await runCli(
      ['backup', '--type', 'mysql', '--name', 'adhoc', '--url', server.urlFor('hr')],
      env,
      { cwd: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    const [snap] = await snapshots('adhoc');
    assert.equal(snap.stats.rows.items, 10);
    const bad = await runCli(
      ['backup', '--type', 'mysql', '--name', 'adhoc', '--url', 'postgres://x@y/z'],
      env,
      { cwd: dir },
    );
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /expected mysql:\/\/ or mariadb:\/\//);
  });
});
