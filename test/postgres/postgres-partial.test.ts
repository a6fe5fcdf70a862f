/**
 * @module test/postgres/postgres-partial
 * A PostgreSQL source of several units (databases and globals) is one source to the user:
 * a database that fails (here: it does not exist) does not stop the others, the source is
 * reported partial, the run goes on to the next source, and exits 3. What was saved restores
 * identical.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { databaseDigest, sql, writeConfig } from './pg-helpers.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED postgres partial: ${unavailable}`);

interface SourceResult {
  source: string;
  status: string;
  snapshots: string[];
  failures: { name: string; error: string }[];
}

describe('a postgres source with a failing database', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let config: string;
  let files: string;

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(['--config', config, ...args], env, { cwd: dir });

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-pg-partial-'));
    server = await startPostgres();
    await sql(server.url, 'CREATE DATABASE shop');
    await sql(
      server.urlFor('shop'),
      "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 300) g",
    );
    files = join(dir, 'files');
    await mkdir(files);
    await writeFile(join(files, 'after.txt'), 'backed up after the failing database\n');
    env = repoEnv(join(dir, 'repo'));
    config = await writeConfig(dir, {
      pg: { type: 'postgres', url: server.url, databases: ['gone', 'shop'], globals: true },
      files: { type: 'files', path: files },
    });
    const init = await cli(['init']);
    assert.equal(init.code, 0, init.stderr);
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('saves the other databases, the globals and the next source; names the failed one; exit 3', async () => {
    const r = await cli(['backup', '--json']);
    assert.equal(r.code, 3, r.stderr);
    const [pg, filesResult]: SourceResult[] = JSON.parse(r.stdout);
    assert.equal(pg.source, 'pg');
    assert.equal(pg.status, 'partial');
    assert.equal(pg.snapshots.length, 2);
    assert.deepEqual(
      pg.failures.map((f) => f.name),
      ['pg/gone'],
    );
    assert.match(pg.failures[0].error, /gone/);
    assert.equal(filesResult.status, 'ok');
    assert.match(r.stderr, /^failed: pg\/gone: \[source:postgres\] /m);
    // Under --json the run's error is one JSON object on standard error, with its code.
    const error = JSON.parse(r.stderr.trim().split('\n').at(-1) as string);
    assert.equal(error.code, 'partial');
    assert.match(error.message, /^\[backup\] 2 of 2 sources backed up; failed: pg\/gone \(/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('S3cret'), 'the password shows in the output');

    const listed = JSON.parse((await cli(['snapshots', '--json'])).stdout) as { source: string }[];
    assert.deepEqual(listed.map((s) => s.source).sort(), ['files', 'pg/globals', 'pg/shop']);

    // What was saved restores identical.
    const restored = await cli([
      'restore',
      'latest',
      '--source',
      'pg/shop',
      '--to',
      server.urlFor('shop_copy'),
    ]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(
      await databaseDigest(server.urlFor('shop_copy')),
      await databaseDigest(server.urlFor('shop')),
    );
    const to = join(dir, 'files-restored');
    const back = await cli(['restore', 'latest', '--source', 'files', '--to', to]);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(await compareTrees(files, to), []);
  });

  it('in text: the saved snapshots, then the failure and the summary', async () => {
    const r = await cli(['backup', 'pg']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^snapshot [0-9a-f]{8} saved: pg\/shop \(postgres\)/m);
    assert.match(r.stdout, /^snapshot [0-9a-f]{8} saved: pg\/globals \(postgres\)/m);
    assert.match(r.stderr, /^failed: pg\/gone: /m);
    assert.match(r.stderr, /lifeboat: \[backup\] pg backed up in part; failed: pg\/gone \(/);
  });
});
