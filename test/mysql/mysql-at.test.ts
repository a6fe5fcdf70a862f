/**
 * @module test/mysql/mysql-at
 * `restore --at TIME --table T` of a MySQL/MariaDB source, through the real CLI: of two
 * snapshots, the one taken at or before TIME is restored (T as it was then), and a time before
 * the first snapshot is a clear not_found.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type MariadbServer, startMariadb } from '../../src/testing/servers/mariadb.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { mysqlSkipReason, rows } from './mysql-fixture.js';

const skip = mysqlSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mysql source: restore --at TIME --table', { skip: skip ?? false }, () => {
  let server: MariadbServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[]): Promise<CliResult> =>
    runCli(['--config', join(dir, 'lifeboat.yaml'), ...args], env, { cwd: dir });
  const show = (args: string[], r: CliResult) =>
    `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

  before(async () => {
    server = await startMariadb();
    ({ dir, cleanup } = await tempDir('lifeboat-mysql-at-'));
    env = repoEnv(join(dir, 'repo'));
    server.rootSql(
      'CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, v VARCHAR(20)); CREATE TABLE shop.other (id INT);',
    );
    await writeFile(
      join(dir, 'lifeboat.yaml'),
      [
        'sources:',
        '  shop:',
        '    type: mysql',
        `    url: ${JSON.stringify(server.urlFor('shop'))}`,
        '',
      ].join('\n'),
    );
    assert.equal((await cli(['init'])).code, 0);
  });

  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('restores the table from the newest snapshot at or before TIME', async (t) => {
    const beforeAll = new Date(Date.now() - 60_000).toISOString();
    server.rootSql("INSERT INTO shop.items VALUES (1, 'first'), (2, 'first')");
    const first = await cli(['backup', 'shop']);
    assert.equal(first.code, 0, show(['backup'], first));
    await sleep(1100);
    const T = new Date().toISOString();
    await sleep(1100);
    server.rootSql("UPDATE shop.items SET v = 'second'; INSERT INTO shop.items VALUES (3, 'second')");
    const second = await cli(['backup', 'shop']);
    assert.equal(second.code, 0, show(['backup'], second));
    const [older] = JSON.parse((await cli(['snapshots', '--json', '--source', 'shop'])).stdout) as {
      id: string;
    }[];

    const args = [
      'restore',
      'latest',
      '--source',
      'shop',
      '--at',
      T,
      '--table',
      'items',
      '--to',
      server.urlFor('back'),
    ];
    const r = await cli(args);
    assert.equal(r.code, 0, show(args, r));
    t.diagnostic(r.stdout);
    assert.match(
      r.stdout,
      new RegExp(
        `^snapshot ${older.id.slice(0, 8)} \\(shop, \\S+\\) is the newest at or before ${T.replace(/[.]/g, '\\.')}$`,
        'm',
      ),
    );
    assert.match(r.stdout, new RegExp(`^restored snapshot ${older.id.slice(0, 8)} \\(shop\\)`, 'm'));
    assert.deepEqual(rows(server, 'SELECT id, v FROM back.items ORDER BY id'), [
      ['1', 'first'],
      ['2', 'first'],
    ]);
    assert.deepEqual(rows(server, 'SHOW TABLES FROM back'), [['items']], 'only the table named');

    const early = [
      'restore',
      'latest',
      '--source',
      'shop',
      '--at',
      beforeAll,
      '--table',
      'items',
      '--to',
      server.urlFor('none'),
    ];
    const none = await cli(early);
    assert.equal(none.code, 1, show(early, none));
    t.diagnostic(none.stderr);
    assert.match(none.stderr, /no snapshot of source "shop" at or before .* \(the oldest is from /);

    const named = [
      'restore',
      'latest',
      '--source',
      'shop',
      '--at',
      'name:x',
      '--table',
      'items',
      '--to',
      server.urlFor('none'),
    ];
    const byName = await cli(named);
    assert.equal(byName.code, 2, show(named, byName));
    assert.match(byName.stderr, /only a time applies/);
  });
});
