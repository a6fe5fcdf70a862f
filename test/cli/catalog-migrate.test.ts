/**
 * @module test/cli/catalog-migrate
 * `lifeboat catalog migrate`: a SQLite catalog filled by the real CLI (backups, a retried
 * job, tokens made and revoked, their audit entries) moved into a throwaway PostgreSQL.
 * Everything arrives as it was: the counts, the job ids in order, the audit head; the chain
 * verifies, a token made before still authenticates, a second migrate into the same target
 * is refused, the password never shows, PGPASSWORD works in place of a password in the URL,
 * and the CLI then works on the PostgreSQL catalog (LIFEBOAT_CATALOG).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PgCatalog } from '../../src/catalog/pg-catalog.js';
import { systemClock } from '../../src/clock.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, runCli, tempDir } from '../helpers/cli.js';

const skip = postgresUnavailable();
if (skip) console.log(`SKIPPED catalog migrate: ${skip}`);

describe('lifeboat catalog migrate', { skip: skip ?? undefined }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: PostgresServer;
  let env: NodeJS.ProcessEnv;
  let token = '';
  let workerToken = '';

  async function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runCli(['--config', join(dir, 'lifeboat.yaml'), ...args], { ...env, ...extra }, { cwd: dir });
  }
  async function ok(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const r = await cli(args, extra);
    assert.equal(r.code, 0, `lifeboat ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    return r;
  }
  function sqliteCount(table: string): number {
    const db = new Database(join(dir, 'lifeboat.catalog.sqlite'), { readonly: true });
    try {
      return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  function noSecret(r: CliResult): void {
    for (const text of [r.stdout, r.stderr]) {
      assert.ok(!text.includes(server.password), 'the password is never printed');
      assert.ok(!text.includes(encodeURIComponent(server.password)), 'the password is never printed');
    }
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-catalog-migrate-'));
    server = await startPostgres();
    await mkdir(join(dir, 'docs'));
    await writeFile(join(dir, 'docs', 'a.txt'), 'alpha\n');
    await writeFile(
      join(dir, 'lifeboat.yaml'),
      `repository:\n  url: ${dir}/repo\nsources:\n  docs:\n    type: files\n    path: ${dir}/docs\n`,
    );
    env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_') || k.startsWith('PG')) delete env[k];
    Object.assign(env, { LIFEBOAT_PASSWORD: 'test-password', LIFEBOAT_KDF_N: '1024' });

    // A catalog with real content, made by the CLI as an installation would have it.
    await ok(['init']);
    await ok(['backup', 'docs']);
    await ok(['backup', 'docs']);
    const jobs = JSON.parse((await ok(['jobs', '--json'])).stdout) as { id: string }[];
    assert.equal(jobs.length, 2);
    await ok(['jobs', 'retry', jobs[0].id]);
    token = (await ok(['token', 'create', 'ci', '--role', 'operator'])).stdout.trim();
    await ok(['token', 'create', 'temp', '--role', 'viewer']);
    await ok(['token', 'revoke', 'temp']);
    workerToken = (
      await ok(['token', 'create', 'w-db1', '--role', 'worker', '--labels', 'host=db1'])
    ).stdout.trim();
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('copies everything into an empty PostgreSQL catalog; the chain verifies; tokens still work', async () => {
    const sqliteChain = JSON.parse((await ok(['audit', 'verify', '--json'])).stdout);
    assert.equal(sqliteChain.ok, true);
    assert.ok(sqliteChain.entries >= 3, `audit entries: ${sqliteChain.entries}`);

    const r = await ok([
      'catalog',
      'migrate',
      '--from',
      `sqlite:${join(dir, 'lifeboat.catalog.sqlite')}`,
      '--to',
      server.url,
      '--json',
    ]);
    noSecret(r);
    const done = JSON.parse(r.stdout);
    assert.equal(done.to, `postgres://${server.user}@127.0.0.1:${server.port}/postgres`);
    assert.equal(done.schema, 'lifeboat');
    assert.deepEqual(done.copied, {
      meta: sqliteCount("meta WHERE key <> 'schema_version'"),
      jobs: sqliteCount('jobs'),
      job_snapshots: sqliteCount('job_snapshots'),
      tokens: sqliteCount('tokens'),
      audit: sqliteCount('audit'),
      alerts: sqliteCount('alerts'),
    });
    assert.equal(done.copied.jobs, 3);
    assert.equal(done.copied.tokens, 2);
    assert.deepEqual(done.audit, { ok: true, entries: sqliteChain.entries, head: sqliteChain.head });

    const catalog = await PgCatalog.open(server.url, systemClock);
    try {
      assert.equal(catalog.created, false);
      assert.deepEqual(await catalog.tokens.authenticate(token), {
        name: 'ci',
        role: 'operator',
        labels: null,
      });
      // A worker token keeps its labels.
      assert.deepEqual(await catalog.tokens.authenticate(workerToken), {
        name: 'w-db1',
        role: 'worker',
        labels: { host: 'db1' },
      });
      const sqlite = new Database(join(dir, 'lifeboat.catalog.sqlite'), { readonly: true });
      const ids = (
        sqlite.prepare('SELECT id FROM jobs ORDER BY created_at DESC, rowid DESC').all() as {
          id: string;
        }[]
      ).map((j) => j.id);
      const snapshots = (
        sqlite.prepare('SELECT snapshot FROM job_snapshots').all() as { snapshot: string }[]
      ).map((s) => s.snapshot);
      sqlite.close();
      assert.deepEqual(
        (await catalog.listJobs()).map((j) => j.id),
        ids,
      );
      assert.deepEqual(await catalog.knownSnapshots(), new Set(snapshots));
      const retried = (await catalog.listJobs()).find((j) => j.trigger === 'retry');
      assert.equal(retried?.status, 'succeeded');
      assert.equal(retried?.snapshots.length, 1);
      assert.deepEqual(
        (await catalog.audit.list()).map((e) => e.action).sort(),
        ['job.retry', 'token.create', 'token.create', 'token.create', 'token.revoke'].sort(),
      );
      // The copy goes on as a chain: a new entry links to the copied head.
      const next = await catalog.audit.append({ actor: 'test', action: 'test.after' });
      assert.equal(next.prev_hash, sqliteChain.head.hash);
      assert.equal((await catalog.audit.verify()).ok, true);
    } finally {
      await catalog.close();
    }
  });

  it('refuses a target that already holds a catalog, and changes nothing there', async () => {
    const r = await cli([
      'catalog',
      'migrate',
      '--from',
      `sqlite:${join(dir, 'lifeboat.catalog.sqlite')}`,
      '--to',
      server.url,
      '--json',
    ]);
    noSecret(r);
    assert.equal(r.code, 1, r.stderr);
    const err = JSON.parse(r.stderr);
    assert.equal(err.code, 'target_not_empty');
    // 6: the first case appended one entry after the copy.
    assert.match(err.message, /already holds a catalog \(3 jobs, 2 tokens, 6 audit entries, 1 setting\)/);
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const n = await client.query('SELECT count(*)::int AS n FROM lifeboat.jobs');
      assert.equal(n.rows[0].n, 3);
    } finally {
      await client.end();
    }
  });

  it('takes the password from PGPASSWORD; text output; usage errors for bad locations', async () => {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE DATABASE second');
    await admin.end();
    const bare = `postgres://${server.user}@127.0.0.1:${server.port}/second`;
    const r = await ok(
      ['catalog', 'migrate', '--from', `sqlite:${join(dir, 'lifeboat.catalog.sqlite')}`, '--to', bare],
      { PGPASSWORD: server.password },
    );
    noSecret(r);
    assert.match(
      r.stdout,
      new RegExp(
        `^copied .*lifeboat\\.catalog\\.sqlite to ${bare.replaceAll('.', '\\.')} \\(schema lifeboat\\):$`,
        'm',
      ),
    );
    assert.match(r.stdout, /^jobs +3$/m);
    assert.match(r.stdout, /^audit log verified: 5 entries; head: entry 5, [0-9a-f]{64}$/m);

    // The CLI works on the migrated catalog: LIFEBOAT_CATALOG names it.
    const onPg = { LIFEBOAT_CATALOG: bare, PGPASSWORD: server.password };
    const jobs = JSON.parse((await ok(['jobs', '--json'], onPg)).stdout) as unknown[];
    assert.equal(jobs.length, 3, 'the repository adds no job: its snapshots are known');
    await ok(['token', 'create', 'second', '--role', 'viewer'], onPg);
    const chain = JSON.parse((await ok(['audit', 'verify', '--json'], onPg)).stdout);
    assert.deepEqual([chain.ok, chain.entries], [true, 6]);

    const noPassword = await cli([
      'catalog',
      'migrate',
      '--from',
      `sqlite:${join(dir, 'lifeboat.catalog.sqlite')}`,
      '--to',
      bare,
    ]);
    assert.notEqual(noPassword.code, 0);
    assert.match(noPassword.stderr, /\[catalog\] cannot open postgres:\/\/lbtest@127\.0\.0\.1:\d+\/second: /);

    const badFrom = await cli([
      'catalog',
      'migrate',
      '--from',
      join(dir, 'lifeboat.catalog.sqlite'),
      '--to',
      bare,
    ]);
    assert.equal(badFrom.code, 2);
    assert.match(badFrom.stderr, /--from must be the SQLite catalog as sqlite:PATH/);
    const badTo = await cli(['catalog', 'migrate', '--from', 'sqlite:x', '--to', 'mysql://h/db']);
    assert.equal(badTo.code, 2);
    const missing = await cli([
      'catalog',
      'migrate',
      '--from',
      `sqlite:${join(dir, 'nope.sqlite')}`,
      '--to',
      bare,
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot open .*nope\.sqlite as a catalog/);
  });
});
