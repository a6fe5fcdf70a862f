/**
 * @module test/postgres/postgres-faults
 * PostgreSQL failures through the real CLI: wrong credentials, a closed port, a missing
 * pg_dump, the server killed (SIGKILL to the postmaster) in the middle of a dump: each fails
 * with a message naming the source and what happened, and leaves no snapshot. Also: the
 * password never shows in any process's command line while a dump runs, and the hooks
 * around backup and restore.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/testing/servers/free-port.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, repoEnv, runCli, startCli, tempDir } from '../helpers/cli.js';
import { collect, sleep } from '../helpers/repo-files.js';
import { allCommandLines, sql, writeConfig } from './pg-helpers.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED postgres faults: ${unavailable}`);

/** Rows of the "big" database: enough for a dump that lasts a few seconds. */
const BIG_ROWS = 1_200_000;

describe('postgres failures, secrets and hooks through the CLI', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;

  async function cli(config: string, args: string[]): Promise<CliResult> {
    return runCli(['--config', config, ...args], env, { cwd: dir });
  }
  async function snapshotIds(config: string): Promise<string[]> {
    const r = await cli(config, ['snapshots', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id);
  }
  function noSecret(r: CliResult): void {
    for (const text of [r.stdout, r.stderr]) {
      assert.ok(!text.includes('S3cret'), `password in output: ${text}`);
      assert.ok(!text.includes('wrong-Pw9'), `wrong password in output: ${text}`);
    }
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-pg-faults-'));
    server = await startPostgres();
    await sql(server.url, 'CREATE DATABASE small');
    await sql(
      server.urlFor('small'),
      "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g",
    );
    await sql(server.url, 'CREATE DATABASE big');
    await sql(
      server.urlFor('big'),
      `CREATE TABLE wide (id bigint PRIMARY KEY, a text, b text, n numeric);
       INSERT INTO wide SELECT g, md5(g::text) || md5((g * 7)::text), repeat(chr(65 + g % 26), 40), g * 1.5 FROM generate_series(1, ${BIG_ROWS}) g`,
    );
    env = repoEnv(join(dir, 'repo'));
    const init = await runCli(['init'], env, { cwd: dir });
    assert.equal(init.code, 0, init.stderr);
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('wrong credentials: fails naming the source and the cause, no snapshot, no password shown', async () => {
    const bad = server.url
      .replace(/:[^:@/]*@/, `:${encodeURIComponent('wrong-Pw9')}@`)
      .replace(/\/postgres$/, '/small');
    const config = await writeConfig(dir, { app: { type: 'postgres', url: bad } }, 'bad-creds.yaml');
    const before = await snapshotIds(config);
    const r = await cli(config, ['backup']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /cannot connect to 127\.0\.0\.1:\d+\/small for source "app\/small": password authentication failed for user "lbtest" \(check the user and password in the url\)/,
    );
    noSecret(r);
    assert.deepEqual(await snapshotIds(config), before);
  });

  it('unreachable server (a closed port): connection refused', async () => {
    const port = await freePort();
    const config = await writeConfig(
      dir,
      { app: { type: 'postgres', url: `postgres://lbtest:x@127.0.0.1:${port}/small` } },
      'closed.yaml',
    );
    const r = await cli(config, ['backup']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `cannot connect to 127\\.0\\.0\\.1:${port}/small for source "app\\/small": connection refused \\(check that the server is running`,
      ),
    );
    assert.deepEqual(await snapshotIds(config), []);
  });

  it('a missing pg_dump names the package to install', async () => {
    const config = await writeConfig(
      dir,
      { app: { type: 'postgres', url: server.urlFor('small'), bin_dir: '/nonexistent' } },
      'nobin.yaml',
    );
    const r = await cli(config, ['backup']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `pg_dump not found in bin_dir /nonexistent of source "app/small": install postgresql-client-${server.major}`,
      ),
    );
    noSecret(r);
    assert.deepEqual(await snapshotIds(config), []);
  });

  it('hooks: a failing before_backup aborts with its output; after_* always runs', async () => {
    const log = join(dir, 'hooks.log');
    const failing = await writeConfig(
      dir,
      {
        app: {
          type: 'postgres',
          url: server.urlFor('small'),
          hooks: {
            before_backup: 'echo entering-maintenance; exit 3',
            after_backup: `echo "after $LIFEBOAT_STATUS" >> ${log}`,
          },
        },
      },
      'hooks-fail.yaml',
    );
    const r = await cli(failing, ['backup']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /before_backup hook of source "app" exited with code 3; output: entering-maintenance/,
    );
    assert.deepEqual(await snapshotIds(failing), []);

    const hooks = {
      before_backup: `echo "before $LIFEBOAT_SOURCE" >> ${log}`,
      after_backup: `echo "after $LIFEBOAT_STATUS $LIFEBOAT_SNAPSHOT" >> ${log}`,
      before_restore: `echo "before-restore $LIFEBOAT_TARGET" >> ${log}`,
      after_restore: `echo "after-restore $LIFEBOAT_STATUS" >> ${log}`,
    };
    const good = await writeConfig(
      dir,
      { app: { type: 'postgres', url: server.urlFor('small'), hooks } },
      'hooks.yaml',
    );
    const ok = await cli(good, ['backup']);
    assert.equal(ok.code, 0, ok.stderr);
    const [id] = await snapshotIds(good);
    // A failing backup still runs after_backup, with the failure.
    const wrong = server.urlFor('small').replace(/:[^:@/]*@/, ':wrong-Pw9@');
    const badHooks = await writeConfig(
      dir,
      { app: { type: 'postgres', url: wrong, hooks } },
      'hooks-bad.yaml',
    );
    assert.equal((await cli(badHooks, ['backup'])).code, 1);

    const to = server.urlFor('small_restored');
    const restored = await cli(good, ['restore', id, '--to', to]);
    assert.equal(restored.code, 0, restored.stderr);
    const [{ n }] = await sql<{ n: string }>(to, 'SELECT count(*) AS n FROM t');
    assert.equal(n, '100');
    // Restoring again fails (not empty): after_restore still runs, with the failure.
    assert.equal((await cli(good, ['restore', id, '--to', to])).code, 1);

    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    // Hooks see the target without its password.
    const shown = to.replace(/:[^:@/]*@/, '@');
    assert.deepEqual(lines, [
      'after failure', // the failing before_backup's job
      'before app',
      `after success ${id}`,
      'before app',
      'after failure ',
      `before-restore ${shown}`,
      'after-restore success',
      `before-restore ${shown}`,
      'after-restore failure',
    ]);
  });

  it('a failing before_restore aborts the restore before anything is created', async () => {
    const good = await writeConfig(
      dir,
      { app: { type: 'postgres', url: server.urlFor('small') } },
      'plain.yaml',
    );
    const [id] = await snapshotIds(good);
    const config = await writeConfig(
      dir,
      {
        app: {
          type: 'postgres',
          url: server.urlFor('small'),
          hooks: { before_restore: 'echo no-restores-today >&2; exit 1' },
        },
      },
      'hooks-restore.yaml',
    );
    const r = await cli(config, ['restore', id, '--to', server.urlFor('never_created')]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /before_restore hook of source "app\/small" exited with code 1; output: no-restores-today/,
    );
    const exists = await sql(server.url, "SELECT 1 FROM pg_database WHERE datname = 'never_created'");
    assert.equal(exists.length, 0);
  });

  it('the password never appears in a command line while a dump runs', async () => {
    const config = await writeConfig(
      dir,
      { big: { type: 'postgres', url: server.urlFor('big') } },
      'big.yaml',
    );
    const child = startCli(['--config', config, 'backup'], env, dir);
    const exit = collect(child);
    let sawDump = false;
    let done = false;
    void exit.then(() => {
      done = true;
    });
    const leaks: string[] = [];
    while (!done) {
      for (const p of await allCommandLines()) {
        // This backup's processes (other suites may run beside this one): Lifeboat and the
        // PostgreSQL client programs it starts.
        if (!/big\.yaml|pg_dump|pg_restore|psql/.test(p.cmd)) continue;
        if (/pg_dump/.test(p.cmd)) sawDump = true;
        if (p.cmd.includes('S3cret') || p.cmd.includes(encodeURIComponent(server.password)))
          leaks.push(p.cmd);
      }
      await sleep(20);
    }
    const r = await exit;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(sawDump, 'pg_dump was never seen running');
    assert.deepEqual(leaks, []);
    const list = JSON.parse((await cli(config, ['snapshots', '--json', '--source', 'big'])).stdout);
    assert.equal(list.length, 1);
    assert.equal(list[0].stats.rows['public.wide'], BIG_ROWS);
  });

  it('the server killed mid-dump: the backup fails clearly and leaves no snapshot', async () => {
    const config = await writeConfig(
      dir,
      { big: { type: 'postgres', url: server.urlFor('big') } },
      'big.yaml',
    );
    const before = await snapshotIds(config);
    const child = startCli(['--config', config, 'backup'], env, dir);
    const exit = collect(child);
    // Wait until pg_dump streams, then crash the server.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const procs = await allCommandLines();
      // This server's pg_dump (-p PORT): other suites may run pg_dump at the same time.
      if (procs.some((p) => /pg_dump .*--snapshot/.test(p.cmd) && p.cmd.includes(` -p ${server.port} `)))
        break;
      await sleep(10);
    }
    await sleep(300);
    await server.kill();
    const r = await exit;
    assert.equal(r.code, 1, `expected a failure, got: ${r.stdout} ${r.stderr}`);
    assert.match(
      r.stderr,
      /\[source:postgres\] backup of source "big\/big" \(127\.0\.0\.1:\d+\/big\) failed: /,
    );
    assert.match(r.stderr, /pg_dump|connection|terminat/i);
    noSecret(r);
    assert.deepEqual(await snapshotIds(config), before);
    assert.ok(
      !existsSync(join(dir, 'repo', 'locks')) ||
        (await import('node:fs')).readdirSync(join(dir, 'repo', 'locks')).length === 0,
    );
  });
});
