/**
 * @module test/drill/drill-pitr
 * A drill of a physical PostgreSQL source, through the real CLI: a throwaway cluster
 * archives WAL with `archive_command = lifeboat wal-push %p` (as the server's user), a base
 * backup is taken, rows are written after it, the source is stopped (the disaster), and
 * `lifeboat drill db` (as root when the test is root: the scratch cluster then runs as
 * `nobody` and fetches WAL through the drill's relay) recovers a scratch cluster from the base
 * backup and the WAL archive, checks it, and reports the recovery time and the data-loss
 * window achieved. The report is then read back with `drill --list` and `drill --show`.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { type PostgresServer, startPostgres } from '../../src/testing/servers/postgres.js';
import { BIN, type CliResult, runCli } from '../helpers/cli.js';
import { asServerUser, pitrUnavailable } from '../helpers/pitr.js';
import { allCommandLines, sql } from '../postgres/pg-helpers.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a physical postgres drill recovers base backup and WAL, and reports RTO and RPO', {
  timeout: 240_000,
}, async (t) => {
  const why = pitrUnavailable();
  if (why) {
    console.log(`SKIPPED: ${why}`);
    t.skip(why);
    return;
  }
  const work = await mkdtemp(join(tmpdir(), 'lifeboat-drill-pitr-'));
  if (isRoot) await chown(work, 65534, 65534);
  await chmod(work, 0o755);
  const configFile = join(work, 'lifeboat.yaml');
  const vars = {
    LIFEBOAT_REPO: join(work, 'repo'),
    LIFEBOAT_PASSWORD: 'drill-pitr-password',
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_CONFIG: configFile,
  };
  const env: NodeJS.ProcessEnv = { ...process.env, ...vars };
  // The source server inherits this environment: its archive_command finds the repository here.
  const saved = { ...process.env };
  Object.assign(process.env, vars);
  let server: PostgresServer | undefined;
  try {
    server = await startPostgres({
      settings: {
        wal_level: 'replica',
        archive_mode: 'on',
        archive_command: `'${process.execPath}' '${BIN}' --quiet wal-push %p`,
        archive_timeout: '2s',
        max_wal_senders: '4',
      },
    });
    const config = {
      sources: {
        db: {
          type: 'postgres',
          url: server.url,
          method: 'physical',
          drill: { checks: [{ name: 'all rows', sql: 'SELECT count(*) FROM items', expect: 1500 }] },
        },
      },
    };
    await writeFile(configFile, stringify(config), { mode: 0o644 });
    assert.equal((await asServerUser(['init'], env)).code, 0);
    await sql(server.url, 'CREATE TABLE items (batch text, n int PRIMARY KEY)');
    const backup = await asServerUser(['backup', 'db'], env);
    assert.equal(backup.code, 0, backup.stderr);

    // Written after the base backup: only WAL replay brings these back.
    await sql(server.url, "INSERT INTO items SELECT 'A', g FROM generate_series(1, 1000) g");
    await sql(server.url, "INSERT INTO items SELECT 'B', g FROM generate_series(1001, 1500) g");
    const [{ committed }] = await sql<{ committed: Date }>(
      server.url,
      'SELECT clock_timestamp() AS committed',
    );
    const [{ wal }] = await sql<{ wal: string }>(
      server.url,
      'SELECT pg_walfile_name(pg_current_wal_lsn()) AS wal FROM (SELECT pg_switch_wal()) s',
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [s] = await sql<{ last: string | null }>(
        server.url,
        'SELECT last_archived_wal AS last FROM pg_stat_archiver',
      );
      if (s.last && s.last >= wal) break;
      if (Date.now() > deadline) assert.fail(`WAL ${wal} not archived in time`);
      await sleep(200);
    }
    // The disaster: the source is gone; the drill needs only the repository.
    await server.stop();

    const args = ['drill', 'db', '--json'];
    const r = await runCli(args, env, { cwd: work });
    assert.equal(r.code, 0, show(args, r));
    const report = JSON.parse(r.stdout);
    assert.equal(report.passed, true, r.stdout);
    assert.equal(
      report.scratch,
      'throwaway postgres cluster recovered from the base backup and the WAL archive',
    );
    const checks = Object.fromEntries(
      report.checks.map((c: { name: string; ok: boolean; detail: string }) => [c.name, c]),
    );
    assert.equal(checks['recovery finished'].ok, true);
    assert.match(
      checks['recovery finished'].detail,
      /^promoted after replaying [1-9]\d* WAL file\(s\) to [0-9A-F]+\/[0-9A-F]+/,
    );
    assert.equal(checks.pg_amcheck.ok, true, checks.pg_amcheck.detail);
    assert.equal(checks.pg_amcheck.detail, 'every database: no corruption found');
    assert.deepEqual(checks['all rows'], { ...checks['all rows'], ok: true, detail: '1500' });

    // RPO: from the drill's start back to the last transaction replayed (the B batch).
    const v = report.recovery;
    assert.ok(v.walFetched > 0);
    assert.ok(v.lastTransaction, 'a transaction was replayed');
    assert.equal(v.recoveredTo, v.lastTransaction);
    const last = Date.parse(v.lastTransaction);
    assert.ok(
      last <= new Date(committed).getTime(),
      `${v.lastTransaction} <= ${new Date(committed).toISOString()}`,
    );
    assert.ok(last > new Date(committed).getTime() - 10_000, 'the B batch, not only the base backup');
    assert.equal(v.rpoMs, Date.parse(report.started) - last);
    assert.ok(report.rtoMs >= report.restoreMs && report.restoreMs > 0);

    const list = await runCli(['drill', '--list', 'db'], env, { cwd: work });
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      new RegExp(`${report.id.slice(0, 8)} .* db +[0-9a-f]{8} +passed +\\d+(\\.\\ds|ms) +\\d+(\\.\\ds|ms)`),
    );
    const md = await runCli(['drill', '--show', report.id.slice(0, 8)], env, { cwd: work });
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /^# Restore drill of db: PASSED$/m);
    assert.match(
      md.stdout,
      /^- data-loss window \(RPO\) achieved: \d+(\.\ds|ms) \(recovered to .*, the last transaction replayed\)$/m,
    );
    assert.match(md.stdout, /^\| pg_amcheck \| ok \| every database: no corruption found \|$/m);
    const json = await runCli(['drill', '--show', report.id, '--json'], env, { cwd: work });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), report);

    const left = (await allCommandLines()).filter((p) => /lifeboat-drill-(?!pitr-)\w+\/data/.test(p.cmd));
    assert.deepEqual(left, [], 'the scratch cluster is stopped');
  } finally {
    process.env = saved;
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
});
