/**
 * @module test/postgres/postgres-overlap
 * A backup starts pg_dump while the repository is still being opened, locked and read. When
 * the repository then fails (a wrong password, a lock held by other work), pg_dump is killed
 * and the backup transaction's connection closed before the repository's error comes back;
 * nothing is written and no lock is left. A backup that waits for the lock (a server job)
 * stops pg_dump while it waits and starts it again once it holds the lock. A source that
 * fails while the repository opens leaves no lock and writes nothing either. Real server, real repository on disk, and the
 * real CLI for the exit code.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupSource } from '../../src/jobs/backup.js';
import { runBackups } from '../../src/jobs/backup-run.js';
import { Repository } from '../../src/repo/repository.js';
import { openBackend } from '../../src/storage/registry.js';
import { freePort } from '../../src/testing/servers/free-port.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { repoFiles, sleep, until } from '../helpers/repo-files.js';
import { allCommandLines, sql } from './pg-helpers.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED postgres overlap: ${unavailable}`);

const PASSWORD = 'pw-overlap-Zq4!';
const KDF = { N: 1024, r: 8, p: 1 };
/** Rows enough that pg_dump is still running when the repository fails. */
const ROWS = 400_000;

/** Processes named `name` whose parent is this test process. */
async function childrenNamed(name: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (m && m[1] === name && Number(m[2]) === process.pid) out.push(Number(pid));
  }
  return out;
}

describe('postgres backup started while the repository opens', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let repoPath: string;

  const open = async (password = PASSWORD) =>
    Repository.open(await openBackend(repoPath), password, { kdf: KDF });
  const sources = () => [{ name: 'db', config: { type: 'postgres', url: server.urlFor('big') } }];
  const dumpSessions = async () =>
    Number(
      (
        await sql<{ n: string }>(
          server.url,
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = 'big' AND pid <> pg_backend_pid()",
        )
      )[0].n,
    );
  /** Resolves once this process runs a pg_dump (the source has started), then opens with `password`. */
  const openOnceDumping = async (password: string) => {
    await until(async () => (await childrenNamed('pg_dump')).length > 0, 30_000, 'pg_dump started');
    return open(password);
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-pg-overlap-'));
    server = await startPostgres();
    await sql(server.url, 'CREATE DATABASE big');
    await sql(
      server.urlFor('big'),
      `CREATE TABLE wide (id bigint PRIMARY KEY, a text);
       INSERT INTO wide SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, ${ROWS}) g`,
    );
    repoPath = join(dir, 'repo');
    await Repository.init(await openBackend(repoPath), PASSWORD, { kdf: KDF });
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('a wrong password stops pg_dump and its transaction; nothing is written', async () => {
    const files = await repoFiles(repoPath);
    await assert.rejects(
      runBackups(openOnceDumping('not-the-password'), { sources: sources() }),
      (err: { code?: string }) => err.code === 'wrong_password',
    );
    // pg_dump was killed and reaped before the error came back.
    assert.deepEqual(await childrenNamed('pg_dump'), []);
    await until(async () => (await dumpSessions()) === 0, 10_000, 'no session left on the database');
    assert.deepEqual(await repoFiles(repoPath), files);
  });

  it('a repository locked by other work stops pg_dump; only that lock remains', async () => {
    const other = await open();
    const held = await other.lock(true, 'prune (test)');
    try {
      const files = await repoFiles(repoPath);
      const [report] = await runBackups(openOnceDumping(PASSWORD), { sources: sources() });
      assert.equal(report.status, 'failed');
      assert.equal(report.failures[0]?.error.code, 'locked', report.failures[0]?.error.message);
      assert.deepEqual(await childrenNamed('pg_dump'), []);
      await until(async () => (await dumpSessions()) === 0, 10_000, 'no session left on the database');
      assert.deepEqual(await repoFiles(repoPath), files);
    } finally {
      await held.release();
      await other.close();
    }
    assert.deepEqual(
      (await repoFiles(repoPath)).filter((f) => f.kind === 'lock'),
      [],
    );
  });

  it('a backup waiting for the lock stops pg_dump meanwhile, starts it again once it holds the lock', async () => {
    const other = await open();
    const held = await other.lock(true, 'prune (test)');
    const repo = await open();
    let waiting = false;
    try {
      const report = backupSource(repo, {
        name: 'db',
        config: { type: 'postgres', url: server.urlFor('big') },
        lockWait: {
          waitMs: 60_000,
          onWait: () => {
            waiting = true;
          },
        },
      });
      await until(() => waiting, 30_000, 'the lock wait');
      // pg_dump does not hold its snapshot and its table locks while the backup waits.
      await until(async () => (await childrenNamed('pg_dump')).length === 0, 10_000, 'pg_dump stopped');
      await until(async () => (await dumpSessions()) === 0, 10_000, 'no session left on the database');
      await held.release();
      const done = await report;
      assert.equal(done.status, 'ok', JSON.stringify(done.failures));
      assert.equal((done.saved[0].snapshot.stats.rows as Record<string, number>)['public.wide'], ROWS);
    } finally {
      await held.release().catch(() => {});
      await other.close();
      await repo.close();
    }
  });

  it('a source that fails while the repository opens: its error, no lock, nothing written', async () => {
    const port = await freePort();
    const files = await repoFiles(repoPath);
    // The repository opens after the connection was refused.
    const slowOpen = sleep(300).then(() => open());
    const [report] = await runBackups(slowOpen, {
      sources: [
        { name: 'db', config: { type: 'postgres', url: `postgres://lbtest:x@127.0.0.1:${port}/big` } },
      ],
    });
    assert.equal(report.status, 'failed');
    assert.match(report.failures[0]?.error.message ?? '', /connection refused/);
    assert.deepEqual(await repoFiles(repoPath), files);
  });

  it('through the CLI: a wrong password exits 1 with its message and leaves no pg_dump', async () => {
    const env = repoEnv(repoPath, { LIFEBOAT_PASSWORD: 'not-the-password' });
    const r = await runCli(
      ['backup', '--type', 'postgres', '--name', 'db', '--url', server.urlFor('big')],
      env,
      {
        cwd: dir,
      },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /wrong password for the repository at .*: none of its 1 keys opens with it/);
    assert.doesNotMatch(r.stderr, /source|pg_dump/);
    const dumps = (await allCommandLines()).filter(
      (p) => /pg_dump/.test(p.cmd) && p.cmd.includes(` -p ${server.port} `),
    );
    assert.deepEqual(dumps, []);
    await until(async () => (await dumpSessions()) === 0, 10_000, 'no session left on the database');
  });

  it('the same backup with the right password saves every row', async () => {
    const repo = await open();
    try {
      const [report] = await runBackups(Promise.resolve(repo), { sources: sources() });
      assert.equal(report.status, 'ok', JSON.stringify(report.failures));
      assert.equal((report.saved[0].snapshot.stats.rows as Record<string, number>)['public.wide'], ROWS);
    } finally {
      await repo.close();
    }
  });
});
