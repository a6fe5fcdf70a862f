/**
 * @module test/pitr/pitr-elsewhere
 * Point-in-time recovery on a fresh machine: the repository is a copy in another folder
 * (the original moved away), the restored server's environment names no repository and no
 * password, and recovery must fetch WAL from the repository the restore read. `restore
 * --at` leaves lifeboat-restore.json in the data directory (0600, the cluster's owner, no
 * password) for restore_command; recovery_end_command removes it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chown, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { type PostgresServer, startPostgres } from '../../src/testing/servers/postgres.js';
import { runCli } from '../helpers/cli.js';
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

const PASSWORD = 'pitr-elsewhere-Vx7!tern';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** process.env without any repository or password setting: the restored server's. */
function bareEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
  return env;
}

test('PITR from a copied repository with no config, --repo over a config, a password command', {
  timeout: 240_000,
}, async (t) => {
  const why = pitrUnavailable();
  if (why) {
    console.log(`SKIPPED: ${why}`);
    t.skip(why);
    return;
  }
  const work = await sharedDir('lifeboat-pitr-away-');
  const repo = join(work, 'repo');
  const sourceConfig = join(work, 'sources.yaml');
  const passwordFile = join(work, 'password');
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  if (isRoot) await chown(passwordFile, 65534, 65534);
  const saved = process.env;
  // The archiving server's environment: the original repository.
  process.env = {
    ...bareEnv(),
    LIFEBOAT_REPO: repo,
    LIFEBOAT_PASSWORD_FILE: passwordFile,
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_CONFIG: sourceConfig,
  };
  const env = { ...process.env };
  let server: PostgresServer | undefined;
  let restored: PostgresServer | undefined;
  const elsewhere = await sharedDir('lifeboat-pitr-copy-');
  const targets: string[] = [];
  const target = async (name: string) => {
    const dir = await sharedDir(`lifeboat-pitr-${name}-`);
    targets.push(dir);
    return dir;
  };
  try {
    server = await startPostgres({ settings: archivingSettings() });
    const source = { type: 'postgres', url: server.url, method: 'physical' };
    await writeFile(sourceConfig, stringify({ sources: { db: source } }), { mode: 0o644 });
    assert.equal((await asServerUser(['init'], env)).code, 0);
    await sql(server.url, 'CREATE TABLE items (batch text, n int)');
    const backup = await asServerUser(['backup', 'db'], env);
    assert.equal(backup.code, 0, backup.stderr);
    // More segments than the restore seeds (8) before batch A: recovery must fetch it
    // through restore_command from the repository the settings name.
    for (let i = 0; i < 10; i++) await archived(server);
    await sql(server.url, "INSERT INTO items SELECT 'A', g FROM generate_series(1, 1000) g");
    await sleep(1500);
    const [{ at }] = await sql<{ at: Date }>(server.url, 'SELECT clock_timestamp() AS at');
    const T = new Date(at).toISOString();
    await sql(server.url, "SELECT pg_create_restore_point('before_b')");
    await sleep(1500);
    await sql(server.url, "INSERT INTO items SELECT 'B', g FROM generate_series(1, 500) g");
    await archived(server);
    await sleep(500);
    await server.stop();
    server = undefined;

    // The fresh machine: a copy of the repository elsewhere; the original is gone from its place.
    const copy = join(elsewhere, 'copy');
    const cp = spawnSync('cp', ['-a', repo, copy]);
    assert.equal(cp.status, 0, String(cp.stderr));
    await rename(repo, join(work, 'moved-away'));
    process.env = bareEnv();
    const fresh = { ...bareEnv(), LIFEBOAT_KDF_N: '1024' };

    /** Starts PostgreSQL on `dir`/data, waits for promotion and returns the rows per batch. */
    const recover = async (dir: string): Promise<Record<string, string>> => {
      restored = await startPostgres({ existingDir: dir });
      await promoted(restored);
      const rows = await sql<{ batch: string; c: string }>(
        restored.url,
        'SELECT batch, count(*)::text AS c FROM items GROUP BY batch ORDER BY batch',
      );
      return Object.fromEntries(rows.map((r) => [r.batch, r.c]));
    };
    const stopRestored = async () => {
      await restored?.stop();
      restored = undefined;
    };
    const settingsOf = (data: string) => join(data, 'lifeboat-restore.json');

    // (a) No config: LIFEBOAT_REPO and LIFEBOAT_PASSWORD_FILE only; recover to the time T.
    const a = await target('a');
    const aData = join(a, 'data');
    const byTime = await asServerUser(['restore', 'latest', '--source', 'db', '--at', T, '--to', aData], {
      ...fresh,
      LIFEBOAT_REPO: copy,
      LIFEBOAT_PASSWORD_FILE: passwordFile,
    });
    assert.equal(byTime.code, 0, byTime.stderr);
    assert.match(
      byTime.stdout,
      new RegExp(
        `restore_command reads WAL from ${copy} with the password file ${passwordFile} \\(noted in ${aData}/lifeboat-restore\\.json`,
      ),
    );
    const aSettings = await stat(settingsOf(aData));
    const aOwner = await stat(join(aData, 'PG_VERSION'));
    assert.equal(aSettings.mode & 0o777, 0o600);
    assert.equal(aSettings.uid, aOwner.uid);
    const aText = await readFile(settingsOf(aData), 'utf8');
    assert.deepEqual(JSON.parse(aText), { repository: copy, password_file: passwordFile });
    const auto = await readFile(join(aData, 'postgresql.auto.conf'), 'utf8');
    for (const text of [aText, auto, byTime.stdout, byTime.stderr]) assert.ok(!text.includes(PASSWORD));
    assert.match(
      auto,
      /restore_command = '.* --quiet wal-fetch --settings lifeboat-restore\.json --source db %f %p'/,
    );
    assert.doesNotMatch(auto, /--config/);
    assert.match(auto, /^recovery_end_command = 'rm -rf pg_wal\/lifeboat-prefetch lifeboat-restore\.json'$/m);
    assert.deepEqual(await recover(a), { A: '1000' });
    await assert.rejects(stat(settingsOf(aData)), /ENOENT/);
    await assert.rejects(stat(join(aData, 'pg_wal', 'lifeboat-prefetch')), /ENOENT/);
    await stopRestored();

    // (b) A config naming another repository (the original's place, now empty), overridden
    // by --repo; the password from the config's password_file. Restored as root when the
    // test runs as root: the settings file is given to the cluster's owner.
    const b = await target('b');
    const bData = join(b, 'data');
    const otherConfig = join(elsewhere, 'lifeboat.yaml');
    await writeFile(
      otherConfig,
      stringify({ repository: { url: repo, password_file: passwordFile }, sources: { db: source } }),
      { mode: 0o644 },
    );
    const byName = await runCli(
      [
        '--config',
        otherConfig,
        '--repo',
        copy,
        'restore',
        'latest',
        '--source',
        'db',
        '--at',
        'name:before_b',
        '--to',
        bData,
      ],
      fresh,
    );
    assert.equal(byName.code, 0, byName.stderr);
    const bSettings = await stat(settingsOf(bData));
    assert.equal(bSettings.mode & 0o777, 0o600);
    assert.equal(bSettings.uid, (await stat(join(bData, 'PG_VERSION'))).uid);
    // As root, the extracted files belong to the archive's user (by name): so does this one.
    if (isRoot) assert.notEqual(bSettings.uid, 0);
    assert.deepEqual(JSON.parse(await readFile(settingsOf(bData), 'utf8')), {
      repository: copy,
      password_file: passwordFile,
    });
    assert.match(await readFile(join(bData, 'postgresql.auto.conf'), 'utf8'), /--config .*lifeboat\.yaml/);
    await assert.rejects(stat(repo), /ENOENT/);
    assert.deepEqual(await recover(b), { A: '1000' });
    await assert.rejects(stat(settingsOf(bData)), /ENOENT/);
    await stopRestored();

    // (c) The password by command, to the end of the archive.
    const c = await target('c');
    const cData = join(c, 'data');
    const command = `cat ${passwordFile}`;
    const byCommand = await asServerUser(
      ['restore', 'latest', '--source', 'db', '--at', 'latest', '--to', cData],
      {
        ...fresh,
        LIFEBOAT_REPO: copy,
        LIFEBOAT_PASSWORD_COMMAND: command,
      },
    );
    assert.equal(byCommand.code, 0, byCommand.stderr);
    assert.deepEqual(JSON.parse(await readFile(settingsOf(cData), 'utf8')), {
      repository: copy,
      password_command: command,
    });
    assert.deepEqual(await recover(c), { A: '1000', B: '500' });
    await assert.rejects(stat(settingsOf(cData)), /ENOENT/);
    await stopRestored();

    // (d) A password only in the environment: refused before anything is written, naming
    // the ways that work; --password-file wins over it.
    const d = join(elsewhere, 'd');
    const envOnly = await asServerUser(['restore', 'latest', '--source', 'db', '--at', 'latest', '--to', d], {
      ...fresh,
      LIFEBOAT_REPO: copy,
      LIFEBOAT_PASSWORD: PASSWORD,
    });
    assert.equal(envOnly.code, 2, envOnly.stderr);
    assert.match(
      envOnly.stderr,
      /password was given only in the environment \(LIFEBOAT_PASSWORD\).*--password-file FILE, LIFEBOAT_PASSWORD_FILE or LIFEBOAT_PASSWORD_COMMAND/,
    );
    assert.ok(!envOnly.stderr.includes(PASSWORD));
    await assert.rejects(readdir(d), /ENOENT/);
    const overridden = await asServerUser(
      [
        '--password-file',
        passwordFile,
        'restore',
        'latest',
        '--source',
        'db',
        '--at',
        'latest',
        '--dry-run',
        '--to',
        d,
      ],
      { ...fresh, LIFEBOAT_REPO: copy, LIFEBOAT_PASSWORD: 'not-the-password' },
    );
    assert.equal(overridden.code, 0, overridden.stderr);
    assert.match(overridden.stdout, /^would restore base backup /m);

    // A URL holding credentials is not written down either: refused, and not echoed.
    const inUrl = await asServerUser(['restore', 'latest', '--source', 'db', '--at', 'latest', '--to', d], {
      ...fresh,
      LIFEBOAT_REPO: 'sftp://backup:Url-s3cret@127.0.0.1:1/repo',
      LIFEBOAT_PASSWORD_FILE: passwordFile,
    });
    assert.equal(inUrl.code, 2, inUrl.stderr);
    assert.match(inUrl.stderr, /holds credentials/);
    assert.ok(!inUrl.stderr.includes('Url-s3cret'));

    // wal-fetch without its settings file fails as a broken archive (200), not "not archived".
    const lost = await asServerUser(
      [
        'wal-fetch',
        '--settings',
        join(elsewhere, 'none.json'),
        '--source',
        'db',
        '000000010000000000000001',
        join(elsewhere, 'x'),
      ],
      fresh,
    );
    assert.equal(lost.code, 200, lost.stderr);
    assert.match(lost.stderr, /cannot read the recovery settings/);
  } finally {
    process.env = saved;
    await restored?.stop().catch(() => {});
    await server?.stop().catch(() => {});
    await rm(work, { recursive: true, force: true });
    await rm(elsewhere, { recursive: true, force: true });
    for (const dir of targets) await rm(dir, { recursive: true, force: true });
  }
});
