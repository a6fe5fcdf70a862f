/**
 * @module test/pitr/pitr-extract
 * `restore --at TIME --table T --data-only --to postgres://.../db` of a physical source,
 * through the real CLI: batch 1 is written, TIME noted, batch 2 changes, deletes and adds rows
 * of T; the extraction recovers the source to TIME in a scratch cluster and loads T's rows into
 * another database, which then holds exactly what T held at TIME (checksum of every row). The
 * target is refused while it holds rows (without --overwrite); an unreachable target, a table
 * that did not exist then and a time outside the window are clear errors; no scratch cluster
 * is left behind.
 */
import assert from 'node:assert/strict';
import { chown, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { type PostgresServer, startPostgres } from '../../src/testing/servers/postgres.js';
import {
  archived,
  archivingSettings,
  asServerUser,
  isRoot,
  pitrUnavailable,
  sharedDir,
} from '../helpers/pitr.js';
import { sql } from '../postgres/pg-helpers.js';
import { PASSWORD, startHarness } from '../server/harness.js';

const lifeboat = asServerUser;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CHECKSUM =
  "SELECT count(*)::text AS n, md5(coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')) AS sum FROM items";

const scratchLeft = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('lifeboat-restore-'));

test('restore --at TIME --table loads the rows a table held at TIME into another database', {
  timeout: 480_000,
}, async (t) => {
  const why = pitrUnavailable();
  if (why) {
    console.log(`SKIPPED: ${why}`);
    t.skip(why);
    return;
  }
  const work = await sharedDir('lifeboat-pitr-extract-');
  const repo = join(work, 'repo');
  const configFile = join(work, 'lifeboat.yaml');
  const passwordFile = join(work, 'password');
  await writeFile(passwordFile, PASSWORD, { mode: 0o600 });
  if (isRoot) await chown(passwordFile, 65534, 65534);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LIFEBOAT_REPO: repo,
    LIFEBOAT_PASSWORD_FILE: passwordFile,
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_CONFIG: configFile,
  };
  delete env.LIFEBOAT_PASSWORD;
  // The archiving server inherits this environment: its archive_command finds the repository.
  const saved = { ...process.env };
  Object.assign(process.env, {
    LIFEBOAT_REPO: repo,
    LIFEBOAT_PASSWORD_FILE: passwordFile,
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_CONFIG: configFile,
  });
  delete process.env.LIFEBOAT_PASSWORD;
  const before = new Set(await scratchLeft());
  let server: PostgresServer | undefined;
  try {
    server = await startPostgres({ settings: archivingSettings() });
    await writeFile(
      configFile,
      stringify({ sources: { db: { type: 'postgres', url: server.url, method: 'physical' } } }),
      { mode: 0o644 },
    );
    assert.equal((await lifeboat(['init'], env)).code, 0);
    await sql(server.url, 'CREATE TABLE items (id int PRIMARY KEY, v text)');
    const backup = await lifeboat(['backup', 'db'], env);
    assert.equal(backup.code, 0, backup.stderr);

    // Batch 1, then TIME, then batch 2: changed, deleted and new rows.
    await sql(server.url, "INSERT INTO items SELECT g, 'one-' || g FROM generate_series(1, 2000) g");
    await sleep(1500);
    const [{ at }] = await sql<{ at: Date }>(server.url, 'SELECT clock_timestamp() AS at');
    const T = new Date(at).toISOString();
    const [then] = await sql<{ n: string; sum: string }>(server.url, CHECKSUM);
    await sleep(1500);
    await sql(server.url, "UPDATE items SET v = 'two' WHERE id % 3 = 0");
    await sql(server.url, 'DELETE FROM items WHERE id % 7 = 0');
    await sql(server.url, "INSERT INTO items SELECT g, 'new' FROM generate_series(5001, 5500) g");
    await archived(server);
    await sleep(500);
    const [now] = await sql<{ n: string; sum: string }>(server.url, CHECKSUM);
    assert.notEqual(now.sum, then.sum);

    // The target: another database with T created and rows of its own.
    await sql(server.url, 'CREATE DATABASE extracted');
    const target = server.urlFor('extracted');
    await sql(
      target,
      "CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'mine')",
    );
    const extract = (args: string[]) =>
      lifeboat(['restore', 'latest', '--source', 'db', '--at', T, '--data-only', ...args], env);

    const unreachable = await extract([
      '--table',
      'items',
      '--to',
      'postgres://lbtest@127.0.0.1:1/extracted',
    ]);
    assert.equal(unreachable.code, 1, unreachable.stderr);
    assert.match(
      unreachable.stderr,
      /\[restore\] cannot reach the target 127\.0\.0\.1:1\/extracted: connection refused/,
    );

    const outside = await lifeboat(
      [
        'restore',
        'latest',
        '--source',
        'db',
        '--at',
        '2000-01-01T00:00:00Z',
        '--table',
        'items',
        '--data-only',
        '--to',
        target,
      ],
      env,
    );
    assert.equal(outside.code, 2, outside.stderr);
    assert.match(outside.stderr, /outside the recoverable window/);

    const occupied = await extract(['--table', 'items', '--to', target]);
    assert.equal(occupied.code, 1, occupied.stderr);
    t.diagnostic(occupied.stderr);
    assert.match(occupied.stderr, /public\.items in .*extracted holds rows \(pass --overwrite/);
    assert.ok(!occupied.stderr.includes(server.password), 'the password leaked into an error');

    const missing = await extract(['--table', 'nope', '--to', target, '--overwrite']);
    assert.equal(missing.code, 1, missing.stderr);
    t.diagnostic(missing.stderr);
    assert.match(missing.stderr, /no table nope in db \(database postgres\) at /);

    const r = await extract(['--table', 'items', '--to', target, '--overwrite']);
    assert.equal(r.code, 0, r.stderr);
    t.diagnostic(r.stdout);
    assert.match(
      r.stdout,
      new RegExp(
        `^recovered db to ${T.replace(/[.]/g, '\\.')} in a scratch cluster \\(base backup [0-9a-f]{8}, \\d+ WAL files; last transaction replayed \\S+\\)$`,
        'm',
      ),
    );
    assert.match(
      r.stdout,
      /^loaded public\.items: 2000 rows \(from database postgres\) into 127\.0\.0\.1:\d+\/extracted$/m,
    );
    assert.match(r.stdout, /^scratch cluster removed$/m);
    const [got] = await sql<{ n: string; sum: string }>(target, CHECKSUM);
    assert.deepEqual(got, then, 'the target holds what items held at TIME');
    // The source itself is untouched.
    assert.deepEqual((await sql<{ n: string; sum: string }>(server.url, CHECKSUM))[0], now);

    // The same through the HTTP API: a restore job with "at" and "tables".
    await sql(target, "DELETE FROM items; INSERT INTO items VALUES (1, 'mine')");
    const api = await startHarness({
      dir: work,
      config: stringify({
        repository: { url: repo },
        sources: { db: { type: 'postgres', url: server.url, method: 'physical' } },
      }),
    });
    try {
      const request = { snapshot: 'latest', source: 'db', at: T };
      const notADatabase = await api.call('POST', '/api/restores', {
        body: { ...request, tables: ['items'], data_only: true, to: join(work, 'folder') },
      });
      assert.equal(notADatabase.status, 400, notADatabase.text);
      assert.equal(notADatabase.body.error.field, 'to');
      const noDataOnly = await api.call('POST', '/api/restores', {
        body: { ...request, tables: ['items'], to: target },
      });
      assert.equal(noDataOnly.status, 400, noDataOnly.text);
      assert.equal(noDataOnly.body.error.field, 'data_only');
      const wholeIntoUrl = await api.call('POST', '/api/restores', { body: { ...request, to: target } });
      assert.equal(wholeIntoUrl.status, 400, wholeIntoUrl.text);
      assert.match(wholeIntoUrl.body.error.message, /writes a data directory: give a folder/);

      const posted = await api.call('POST', '/api/restores', {
        body: { ...request, tables: ['items'], data_only: true, overwrite: true, to: target },
      });
      assert.equal(posted.status, 202, posted.text);
      const job = await api.waitJob(posted.body.job.id, 240_000);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      assert.deepEqual(job.result.rows, { 'public.items': 2000 });
      assert.ok(!JSON.stringify(job).includes(server.password), 'the password leaked into the job');
      const [viaApi] = await sql<{ n: string; sum: string }>(target, CHECKSUM);
      assert.deepEqual(viaApi, then, 'the API extraction loaded what items held at TIME');
    } finally {
      await api.stop();
    }
    const left = (await scratchLeft()).filter((n) => !before.has(n));
    assert.deepEqual(left, [], 'no scratch cluster is left behind');
  } finally {
    process.env = saved;
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
});
