/**
 * @module test/postgres/postgres-load
 * A backup taken while pgbench writes restores to a consistent state: the foreign keys hold
 * (pg_restore re-validates them) and the money balances, in total and per branch, teller and
 * account: every balance equals the sum of the deltas pgbench_history logged for it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { collect, sleep } from '../helpers/repo-files.js';
import { sql, writeConfig } from './pg-helpers.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED postgres under load: ${unavailable}`);

describe('postgres backup under a write load', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-pg-load-'));
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('restores a consistent bank: balances equal the history, per branch, teller and account', async (t) => {
    const pgbench = join(server.binDir, 'pgbench');
    if (!existsSync(pgbench)) {
      t.skip('pgbench not found: apt-get install postgresql-contrib');
      return;
    }
    await sql(server.url, 'CREATE DATABASE bank');
    const conn = ['-h', server.host, '-p', String(server.port), '-U', server.user];
    const pgEnv = { ...process.env, PGPASSWORD: server.password };
    // d: drop, t: tables, g: data, v: vacuum, p: primary keys, f: foreign keys.
    const init = spawnSync(pgbench, [...conn, '-i', '-s', '2', '-I', 'dtgvpf', '-q', 'bank'], {
      env: pgEnv,
      encoding: 'utf8',
    });
    assert.equal(init.status, 0, init.stderr);

    const load = spawn(pgbench, [...conn, '-n', '-c', '2', '-T', '12', 'bank'], {
      env: pgEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const loadDone = collect(load);
    await sleep(1500);
    const env = repoEnv(join(dir, 'repo'));
    const config = await writeConfig(dir, { bank: { type: 'postgres', url: server.urlFor('bank') } });
    assert.equal((await runCli(['init'], env, { cwd: dir })).code, 0);
    const backup = await runCli(['--config', config, 'backup'], env, { cwd: dir });
    assert.equal(backup.code, 0, backup.stderr);
    const [{ n: during }] = await sql<{ n: string }>(
      server.urlFor('bank'),
      'SELECT count(*) AS n FROM pgbench_history',
    );
    const loaded = await loadDone;
    assert.equal(loaded.code, 0, loaded.stderr);
    const [{ n: atEnd }] = await sql<{ n: string }>(
      server.urlFor('bank'),
      'SELECT count(*) AS n FROM pgbench_history',
    );
    assert.ok(Number(atEnd) > Number(during), 'the load went on after the backup');

    const [snap] = JSON.parse(
      (await runCli(['--config', config, 'snapshots', '--json'], env, { cwd: dir })).stdout,
    );
    const historyRows = snap.stats.rows['public.pgbench_history'];
    assert.ok(historyRows > 0 && historyRows <= Number(during), `history rows ${historyRows}`);

    const to = server.urlFor('bank_copy');
    const restore = await runCli(['--config', config, 'restore', 'latest', '--to', to], env, { cwd: dir });
    assert.equal(restore.code, 0, restore.stderr);

    const [{ n: restoredHistory }] = await sql<{ n: string }>(
      to,
      'SELECT count(*) AS n FROM pgbench_history',
    );
    assert.equal(Number(restoredHistory), historyRows);
    const checks = await sql<{ what: string; bad: string }>(
      to,
      `SELECT 'total' AS what, ((SELECT sum(abalance) FROM pgbench_accounts) IS DISTINCT FROM (SELECT sum(delta) FROM pgbench_history))::int::text AS bad
       UNION ALL SELECT 'branches', count(*)::text FROM pgbench_branches b
         WHERE b.bbalance <> coalesce((SELECT sum(delta) FROM pgbench_history h WHERE h.bid = b.bid), 0)
       UNION ALL SELECT 'tellers', count(*)::text FROM pgbench_tellers t
         WHERE t.tbalance <> coalesce((SELECT sum(delta) FROM pgbench_history h WHERE h.tid = t.tid), 0)
       UNION ALL SELECT 'accounts', count(*)::text FROM (SELECT aid, sum(delta) AS s FROM pgbench_history GROUP BY aid) h
         JOIN pgbench_accounts a USING (aid) WHERE a.abalance <> h.s
       UNION ALL SELECT 'orphans', count(*)::text FROM pgbench_history h
         WHERE NOT EXISTS (SELECT 1 FROM pgbench_accounts a WHERE a.aid = h.aid)`,
    );
    assert.deepEqual(
      checks.map((c) => [c.what, c.bad]),
      [
        ['total', '0'],
        ['branches', '0'],
        ['tellers', '0'],
        ['accounts', '0'],
        ['orphans', '0'],
      ],
    );
    const fks = await sql(to, "SELECT conname FROM pg_constraint WHERE contype = 'f' AND convalidated");
    assert.ok(fks.length >= 3, 'the foreign keys came back, validated');
  });
});
