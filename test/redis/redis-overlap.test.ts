/**
 * @module test/redis/redis-overlap
 * A backup starts the replication transfer (the server forks and writes its snapshot) while
 * the repository is still being opened, locked and read. When the repository then fails (a
 * wrong password), the replica connection is closed before the repository's error comes back,
 * the server drops the transfer, and nothing is written. A source that fails while the
 * repository opens leaves no lock and writes nothing. Real servers, a real repository on
 * disk, and the real CLI for the exit code.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBackups } from '../../src/jobs/backup-run.js';
import { Repository } from '../../src/repo/repository.js';
import type { RedisConnection } from '../../src/sources/redis/redis-connection.js';
import { openBackend } from '../../src/storage/registry.js';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import { repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { repoFiles, sleep, until } from '../helpers/repo-files.js';
import { ok } from './redis-data.js';

const skip = redisUnavailable();
if (skip) console.log(`SKIPPED redis overlap: ${skip}`);

const PASSWORD = 'pw-overlap-Rk8!';
const KDF = { N: 1024, r: 8, p: 1 };
const SERVER_PASSWORD = 'srv-Pw5';

describe('redis backup started while the repository opens', { skip: skip ?? false }, () => {
  let server: RedisServer;
  let conn: RedisConnection;
  let dir: string;
  let cleanup: () => Promise<void>;
  let repoPath: string;

  const open = async (password = PASSWORD) =>
    Repository.open(await openBackend(repoPath), password, { kdf: KDF });
  const replicas = async () => String(await ok(conn, ['CLIENT', 'LIST', 'TYPE', 'replica'])).trim();
  const info = async (field: string) =>
    new RegExp(`^${field}:(\\S+)`, 'm').exec(String(await ok(conn, ['INFO', 'all'])))?.[1];

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-redis-overlap-'));
    server = await startRedis({ password: SERVER_PASSWORD, args: ['--enable-debug-command', 'yes'] });
    conn = await server.connect();
    // A snapshot large enough that the transfer is still under way when the repository fails.
    await ok(conn, ['DEBUG', 'POPULATE', '400000', 'key', '64']);
    repoPath = join(dir, 'repo');
    await Repository.init(await openBackend(repoPath), PASSWORD, { kdf: KDF });
  });
  after(async () => {
    await conn?.close();
    await server?.stop();
    await cleanup?.();
  });

  it('a wrong password closes the replica connection; the server drops the transfer', async () => {
    const files = await repoFiles(repoPath);
    const fullSyncs = Number(await info('sync_full'));
    // The repository fails once the server is sending this backup its snapshot.
    const failing = (async () => {
      await until(async () => (await replicas()) !== '', 30_000, 'the replica connection');
      return open('not-the-password');
    })();
    await assert.rejects(
      runBackups(failing, { sources: [{ name: 'cache', config: { type: 'redis', url: server.url } }] }),
      (err: { code?: string }) => err.code === 'wrong_password',
    );
    assert.equal(Number(await info('sync_full')), fullSyncs + 1, 'the transfer had started');
    await until(async () => (await replicas()) === '', 10_000, 'no replica left on the server');
    await until(
      async () => (await info('rdb_bgsave_in_progress')) === '0',
      10_000,
      "the server's snapshot child gone",
    );
    assert.deepEqual(await repoFiles(repoPath), files);
  });

  it('a source that fails while the repository opens: its error, no lock, nothing written', async () => {
    const files = await repoFiles(repoPath);
    const url = server.url.replace(/:[^:@/]*@/, ':wrong-Pw@');
    // The repository opens after the server refused the credentials.
    const slowOpen = sleep(300).then(() => open());
    const [report] = await runBackups(slowOpen, {
      sources: [{ name: 'cache', config: { type: 'redis', url } }],
    });
    assert.equal(report.status, 'failed');
    assert.equal(report.failures[0]?.error.code, 'source_unreadable');
    assert.match(report.failures[0]?.error.message ?? '', /refused the credentials/);
    assert.deepEqual(await repoFiles(repoPath), files);
  });

  it('through the CLI: a wrong password exits 1 with its message, no replica left', async () => {
    const env = repoEnv(repoPath, { LIFEBOAT_PASSWORD: 'not-the-password' });
    const r = await runCli(['backup', '--type', 'redis', '--name', 'cache', '--url', server.url], env, {
      cwd: dir,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /wrong password for the repository at .*: none of its 1 keys opens with it/);
    await until(async () => (await replicas()) === '', 10_000, 'no replica left on the server');
  });

  it('with the right password the backup saves every key', async () => {
    const repo = await open();
    try {
      const [report] = await runBackups(Promise.resolve(repo), {
        sources: [{ name: 'cache', config: { type: 'redis', url: server.url } }],
      });
      assert.equal(report.status, 'ok', JSON.stringify(report.failures));
      assert.equal(report.saved[0].snapshot.stats.keysTotal, 400_000);
    } finally {
      await repo.close();
    }
  });
});
