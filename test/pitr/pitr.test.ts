/**
 * @module test/pitr/pitr
 * PostgreSQL point-in-time recovery end to end, through the real CLI: a throwaway cluster
 * archives WAL with `archive_command = lifeboat wal-push %p`, a base backup is taken with
 * `method: physical`, batch A is inserted, time T noted, batch B inserted; `restore latest
 * --at T` builds a data directory whose recovery (restore_command = lifeboat wal-fetch)
 * stops at T: A is there, B is not. The server runs as `nobody` when the test runs as
 * root, so the CLI runs as that user too (it writes the repository for the server).
 */
import assert from 'node:assert/strict';
import { chown, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
  promoted,
  sharedDir,
} from '../helpers/pitr.js';
import { sql } from '../postgres/pg-helpers.js';
import { PASSWORD, startHarness } from '../server/harness.js';

const lifeboat = asServerUser;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('point-in-time restore stops at the target time', { timeout: 180_000 }, async (t) => {
  const why = pitrUnavailable();
  if (why) {
    console.log(`SKIPPED: ${why}`);
    t.skip(why);
    return;
  }
  const work = await sharedDir('lifeboat-pitr-');
  const repo = join(work, 'repo');
  const configFile = join(work, 'lifeboat.yaml');
  // A restore refuses a password from LIFEBOAT_PASSWORD (restore_command would not have it).
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
  // The server inherits this environment: its archive_command finds the repository here.
  const saved = { ...process.env };
  delete env.LIFEBOAT_PASSWORD;
  Object.assign(process.env, {
    LIFEBOAT_REPO: repo,
    LIFEBOAT_PASSWORD: PASSWORD,
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_CONFIG: configFile,
  });
  let server: PostgresServer | undefined;
  let restored: PostgresServer | undefined;
  try {
    server = await startPostgres({ settings: archivingSettings() });
    await writeFile(
      configFile,
      stringify({ sources: { db: { type: 'postgres', url: server.url, method: 'physical' } } }),
      { mode: 0o644 },
    );
    const init = await lifeboat(['init'], env);
    assert.equal(init.code, 0, init.stderr);

    await sql(server.url, 'CREATE TABLE items (batch text, n int)');
    const backup = await lifeboat(['backup', 'db'], env);
    assert.equal(backup.code, 0, backup.stderr);

    await sql(server.url, "INSERT INTO items SELECT 'A', g FROM generate_series(1, 1000) g");
    await sleep(1500);
    const [{ at, lsn }] = await sql<{ at: Date; lsn: string }>(
      server.url,
      'SELECT clock_timestamp() AS at, pg_current_wal_lsn()::text AS lsn',
    );
    const T = new Date(at).toISOString();
    await sql(server.url, "SELECT pg_create_restore_point('before_b')");
    await sleep(1500);
    await sql(server.url, "INSERT INTO items SELECT 'B', g FROM generate_series(1, 500) g");
    await archived(server);
    // Well past T, so the archive's window holds it.
    await sleep(500);

    const listing = await lifeboat(['snapshots', '--source', 'db'], env);
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, /db: \d+ WAL files archived; recoverable window \d{4}-/);
    assert.doesNotMatch(listing.stdout, /missing/);
    assert.match(listing.stdout, /^1 snapshot$/m);

    const latestDir = await sharedDir('lifeboat-pitr-latest-');
    const latest = await lifeboat(
      ['restore', 'latest', '--source', 'db', '--at', 'latest', '--to', join(latestDir, 'data')],
      env,
    );
    assert.equal(latest.code, 0, latest.stderr);
    const auto = await readFile(join(latestDir, 'data', 'postgresql.auto.conf'), 'utf8');
    assert.match(auto, /restore_command = '.*wal-fetch --settings lifeboat-restore\.json --source db %f %p'/);
    assert.doesNotMatch(auto, /recovery_target_time/);
    await readFile(join(latestDir, 'data', 'recovery.signal'));
    // Recovery's first asks are answered before the fetch agent has started: the probe for
    // timeline 2 and the first segments from the base backup's start.
    const seeded = await readdir(join(latestDir, 'data', 'pg_wal', 'lifeboat-prefetch'));
    assert.ok(seeded.includes('.absent-00000002.history') && seeded.includes('boot'), seeded.join(' '));
    const seededSegments = seeded.filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
    // From the segment backup_label starts at: the first one recovery asks for.
    const label = await readFile(join(latestDir, 'data', 'backup_label'), 'utf8');
    const first = /^START WAL LOCATION: .*\(file ([0-9A-F]{24})\)$/m.exec(label)?.[1];
    assert.equal(seededSegments[0], first, `${seeded.join(' ')}\n${label}`);
    await rm(latestDir, { recursive: true, force: true });

    const target = await sharedDir('lifeboat-pitr-restore-');
    // A dry run names the base backup and writes nothing; a non-empty target fails it.
    const dry = await lifeboat(
      ['restore', 'latest', '--source', 'db', '--at', 'latest', '--dry-run', '--to', join(target, 'dry')],
      env,
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      /^would restore base backup [0-9a-f]{8} \(db, ended .*\) to .*dry, set to recover to the end of the archive \(recoverable window .*\); nothing written$/m,
    );
    await assert.rejects(readdir(join(target, 'dry')), /ENOENT/);
    await writeFile(join(target, 'occupied'), 'x');
    const dryFull = await lifeboat(
      ['restore', 'latest', '--source', 'db', '--at', 'latest', '--dry-run', '--to', target],
      env,
    );
    assert.notEqual(dryFull.code, 0);
    assert.match(dryFull.stderr, /is not empty: a physical restore needs a new or empty data directory/);
    await rm(join(target, 'occupied'));

    const tooEarly = await lifeboat(
      ['restore', 'latest', '--source', 'db', '--at', '2000-01-01T00:00:00Z', '--to', join(target, 'x')],
      env,
    );
    assert.notEqual(tooEarly.code, 0);
    assert.match(tooEarly.stderr, /outside the recoverable window/);

    // A transaction id goes into the recovery settings as it is.
    const byXid = join(target, 'by-xid', 'data');
    const xid = await lifeboat(
      ['restore', 'latest', '--source', 'db', '--at', 'xid:4711', '--to', byXid],
      env,
    );
    assert.equal(xid.code, 0, xid.stderr);
    assert.match(
      await readFile(join(byXid, 'postgresql.auto.conf'), 'utf8'),
      /^recovery_target_xid = '4711'$/m,
    );
    await rm(join(target, 'by-xid'), { recursive: true, force: true });

    const tooLow = await lifeboat(
      ['restore', 'latest', '--source', 'db', '--at', 'lsn:0/1', '--to', join(target, 'x')],
      env,
    );
    assert.notEqual(tooLow.code, 0);
    assert.match(
      tooLow.stderr,
      /--at lsn:0\/1 is before the end of the oldest base backup \(LSN [0-9A-F]+\/[0-9A-F]+\)/,
    );

    for (const point of [T, 'name:before_b', `lsn:${lsn}`]) {
      const dir = join(target, point === T ? 'by-time' : `by-${point.split(':')[0]}`);
      const r = await lifeboat(
        ['restore', 'latest', '--source', 'db', '--at', point, '--to', join(dir, 'data')],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      restored = await startPostgres({ existingDir: dir });
      await promoted(restored);
      const rows = await sql<{ batch: string; c: string }>(
        restored.url,
        'SELECT batch, count(*)::text AS c FROM items GROUP BY batch ORDER BY batch',
      );
      assert.deepEqual(rows, [{ batch: 'A', c: '1000' }], point);
      // A new timeline, and recovery_end_command removed the prefetched WAL.
      const [{ tli }] = await sql<{ tli: number }>(
        restored.url,
        'SELECT timeline_id AS tli FROM pg_control_checkpoint()',
      );
      assert.equal(tli, 2, point);
      await assert.rejects(readFile(join(dir, 'data', 'pg_wal', 'lifeboat-prefetch')), /ENOENT/);
      await restored.stop();
      restored = undefined;
    }

    // The same through the HTTP API: a restore job with `at`, of a protected source. The
    // daemon's password comes from a file, which its restores record for restore_command.
    delete process.env.LIFEBOAT_PASSWORD;
    process.env.LIFEBOAT_PASSWORD_FILE = passwordFile;
    const api = await startHarness({
      dir: work,
      config: stringify({
        repository: { url: repo },
        sources: { db: { type: 'postgres', url: server.url, method: 'physical', protected: true } },
      }),
    });
    try {
      const viaApi = join(target, 'api', 'data');
      // A dry run needs no second admin, so it must write nothing.
      const dryRun = await api.call('POST', '/api/restores', {
        body: { snapshot: 'latest', source: 'db', at: T, to: viaApi, dry_run: true },
      });
      assert.equal(dryRun.status, 202, dryRun.text);
      const dryJob = await api.waitJob(dryRun.body.job.id);
      assert.equal(dryJob.status, 'succeeded', JSON.stringify(dryJob));
      assert.equal(dryJob.result.dry_run, true);
      await assert.rejects(readdir(join(target, 'api')), /ENOENT/);

      const posted = await api.call('POST', '/api/restores', {
        body: { snapshot: 'latest', source: 'db', at: T, to: viaApi },
      });
      assert.equal(posted.status, 202, posted.text);
      assert.equal(posted.body.job.status, 'awaiting_approval');
      const approved = await api.call('POST', `/api/restores/${posted.body.job.id}/approve`, {
        token: api.tokens.admin2,
      });
      assert.equal(approved.status, 202, approved.text);
      const job = await api.waitJob(posted.body.job.id);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      assert.equal(job.result.at, T);
      const conf = await readFile(join(viaApi, 'postgresql.auto.conf'), 'utf8');
      assert.match(conf, /recovery_target_time = '/);
      assert.match(conf, /wal-fetch --settings lifeboat-restore\.json --source db %f %p/);
      assert.deepEqual(JSON.parse(await readFile(join(viaApi, 'lifeboat-restore.json'), 'utf8')), {
        repository: repo,
        password_file: passwordFile,
      });
      const refused = await api.call('POST', '/api/restores', {
        body: { snapshot: 'latest', source: 'db', at: 'soon', to: viaApi },
      });
      assert.equal(refused.status, 400);
    } finally {
      await api.stop();
      process.env.LIFEBOAT_PASSWORD = PASSWORD;
      delete process.env.LIFEBOAT_PASSWORD_FILE;
      await rm(target, { recursive: true, force: true });
    }

    // Retention: after a second base backup and forget, prune drops the WAL only the first needed.
    assert.equal((await lifeboat(['backup', 'db'], env)).code, 0);
    await archived(server);
    const forget = await lifeboat(['forget', '--source', 'db', '--keep-last', '1'], env);
    assert.equal(forget.code, 0, forget.stderr);
    const walBefore = (await readdir(join(repo, 'wal'))).length;
    const prune = await lifeboat(['prune'], env);
    assert.equal(prune.code, 0, prune.stderr);
    const m = /(\d+) WAL files no base backup needs deleted/.exec(prune.stdout);
    assert.ok(m && Number(m[1]) > 0, prune.stdout);
    assert.equal((await readdir(join(repo, 'wal'))).length, walBefore - Number(m[1]));
    const clean = await lifeboat(['check', '--read-data'], env);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /archived WAL files checked/);

    // A gap in the chain: check names the missing segment; the window stops before it.
    for (let i = 0; i < 3; i++) {
      await sql(server.url, "INSERT INTO items SELECT 'C', g FROM generate_series(1, 100) g");
      await archived(server);
    }
    const segments = (await readdir(join(repo, 'wal')))
      .filter((n) => /-[0-9A-F]{24}$/.test(n))
      .sort((a, b) => a.slice(-16).localeCompare(b.slice(-16)));
    const victim = segments[segments.length - 2];
    await rm(join(repo, 'wal', victim));
    const gap = await lifeboat(['check'], env);
    assert.notEqual(gap.code, 0, gap.stdout + gap.stderr);
    assert.match(gap.stdout, new RegExp(`gap: segment ${victim.slice(-24)} is missing`));
    const window = await lifeboat(['snapshots', '--source', 'db'], env);
    assert.match(window.stdout, new RegExp(`WAL missing from ${victim.slice(-24)}`));
  } finally {
    process.env = saved;
    await restored?.stop();
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
});

test('wal-push is idempotent, refuses other bytes under a name; wal-fetch exits 1 past the archive', async () => {
  const work = await sharedDir('lifeboat-wal-');
  const configFile = join(work, 'lifeboat.yaml');
  await writeFile(
    configFile,
    stringify({
      sources: { db: { type: 'postgres', url: 'postgres://u@127.0.0.1/db', method: 'physical' } },
    }),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LIFEBOAT_REPO: join(work, 'repo'),
    LIFEBOAT_PASSWORD: 'pw',
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_CONFIG: configFile,
  };
  try {
    assert.equal((await lifeboat(['init'], env)).code, 0);
    const seg = join(work, '000000010000000000000003');
    await writeFile(seg, Buffer.alloc(1 << 20, 7));
    const first = await lifeboat(['wal-push', seg], env);
    assert.equal(first.code, 0, first.stderr);
    const again = await lifeboat(['wal-push', seg], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already archived/);
    await writeFile(seg, Buffer.alloc(1 << 20, 8));
    const other = await lifeboat(['wal-push', seg], env);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /different content/);

    const out = join(work, 'RECOVERYXLOG');
    const got = await lifeboat(['wal-fetch', '000000010000000000000003', out], env);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(await readFile(out), Buffer.alloc(1 << 20, 7));
    const missing = await lifeboat(['wal-fetch', '000000010000000000000004', join(work, 'none')], env);
    assert.equal(missing.code, 1);
    const wrongPassword = await lifeboat(['wal-fetch', '000000010000000000000003', join(work, 'none')], {
      ...env,
      LIFEBOAT_PASSWORD: 'wrong',
    });
    assert.equal(wrongPassword.code, 200, wrongPassword.stderr);
    const bad = await lifeboat(['wal-push', configFile], env);
    assert.notEqual(bad.code, 0);
    const wrongType = await lifeboat(
      ['backup', '--type', 'files', '--name', 'x', '--path', work, '--method', 'physical'],
      env,
    );
    assert.equal(wrongType.code, 2);
    assert.match(wrongType.stderr, /--method does not apply to --type files/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
