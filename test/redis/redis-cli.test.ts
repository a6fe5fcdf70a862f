/**
 * @module test/redis/redis-cli
 * The Redis engine through the real CLI against throwaway servers: backup of every type and
 * encoding across databases (with a password), restore compared key by key (DUMP payload and
 * PTTL), the non-empty target rule, --db and --pattern, expired keys skipped and counted,
 * `dump` accepted by redis-check-rdb and by a server starting from it, ACL users, TLS.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RedisConnection } from '../../src/sources/redis/redis-connection.js';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { assertSameKeys, countKeys, ok, populate, readAll } from './redis-data.js';

const skip = redisUnavailable();
if (skip) console.log(`SKIPPED redis CLI suite: ${skip}`);

const PASSWORD = 'pw:redis-S3cret@/x';
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

describe('redis engine through the CLI', { skip: skip ?? false }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let source: RedisServer;
  let conn: RedisConnection;
  const servers: RedisServer[] = [];
  let expected: Awaited<ReturnType<typeof readAll>>;
  let written: Record<string, number>;

  async function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runCli(args, { ...env, ...extra }, { cwd: dir });
  }
  async function succeed(args: string[]): Promise<CliResult> {
    const r = await cli(args);
    assert.equal(r.code, 0, show(args, r));
    return r;
  }
  async function server(options: Parameters<typeof startRedis>[0] = {}): Promise<RedisServer> {
    const s = await startRedis(options);
    servers.push(s);
    return s;
  }
  async function snapshots(): Promise<
    { id: string; stats: Record<string, unknown>; meta: Record<string, unknown> }[]
  > {
    return JSON.parse((await succeed(['snapshots', '--json', '--source', 'cache'])).stdout);
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-redis-cli-'));
    env = repoEnv(join(dir, 'repo'), { LIFEBOAT_CONFIG: join(dir, 'lifeboat.yaml') });
    source = await server({ password: PASSWORD });
    conn = await source.connect();
    written = await populate(conn);
    // A key that is still alive at the backup and expired at the restore.
    const shortLived = Date.now() + 6000;
    await ok(conn, ['SET', 'ttl:short', 'gone soon', 'PXAT', String(shortLived)]);
    written['0']++;
    await writeFile(
      join(dir, 'lifeboat.yaml'),
      `sources:\n  cache:\n    type: redis\n    url: "${source.url}"\n`,
    );
    await succeed(['init']);
    const r = await succeed(['backup', 'cache']);
    assert.match(r.stdout, /snapshot [0-9a-f]{8} saved: cache \(redis\)/);
    expected = await readAll(conn);
    expected.get('0')!.delete(Buffer.from('ttl:short').toString('hex'));
    await new Promise((res) => setTimeout(res, Math.max(0, shortLived + 100 - Date.now())));
  });

  after(async () => {
    await conn?.close();
    for (const s of servers) await s.stop();
    await cleanup?.();
  });

  it('records the keys per database of the snapshot, and what the server was', async () => {
    const [snap] = await snapshots();
    assert.deepEqual(snap.stats.keys, written);
    assert.equal(
      snap.stats.keysTotal,
      Object.values(written).reduce((a, b) => a + b, 0),
    );
    assert.equal(snap.stats.functions, 1);
    assert.equal(snap.meta.artifact, 'dump.rdb');
    assert.equal(snap.meta.checksum, 'verified');
    assert.equal(snap.meta.rdbVersion, 10);
    assert.match(String(snap.meta.redisVersion), /^7\./);
    const config = JSON.parse((await succeed(['snapshots', '--json'])).stdout)[0].sourceConfig;
    assert.doesNotMatch(JSON.stringify(config), /S3cret/, 'the password is not recorded');
  });

  it('restores every key with its TTL, skipping the expired one, into an empty server', async () => {
    const target = await server();
    const args = ['restore', 'latest', '--source', 'cache', '--to', target.url];
    const r = await succeed(args);
    assert.match(
      r.stdout,
      /restored snapshot [0-9a-f]{8} \(cache\) to 127\.0\.0\.1:\d+: 3\d\d keys, 1 expired keys skipped/,
    );
    const t = await target.connect();
    try {
      assertSameKeys(await readAll(t), expected);
      const libs = (await ok(t, ['FCALL', 'echo1', '0', 'hi'])) as Buffer;
      assert.equal(libs.toString(), 'hi', 'the function library was restored');
    } finally {
      await t.close();
    }
  });

  it('refuses a target that holds keys, and replaces them with --overwrite', async () => {
    const target = await server();
    const t = await target.connect();
    try {
      await ok(t, ['SELECT', '1']);
      await ok(t, ['SET', 'db1:0', 'old value']);
      const args = ['restore', 'latest', '--to', target.url];
      const r = await cli(args);
      assert.equal(r.code, 1, show(args, r));
      assert.match(r.stderr, /already holds keys in db 1 \(pass --overwrite/);
      assert.doesNotMatch(r.stderr, STACK);
      await succeed([...args, '--overwrite']);
      await ok(t, ['SELECT', '1']);
      await ok(conn, ['SELECT', '1']);
      const original = ((await ok(conn, ['GET', 'db1:0'])) as Buffer).toString();
      assert.equal(
        ((await ok(t, ['GET', 'db1:0'])) as Buffer).toString(),
        original,
        'the old value was replaced',
      );
      await ok(conn, ['SELECT', '0']);
      assertSameKeys(await readAll(t), expected);
    } finally {
      await t.close();
    }
  });

  it('restores one database with --db, and a key pattern with --pattern', async () => {
    const one = await server();
    await succeed(['restore', 'latest', '--to', one.url, '--db', '5']);
    const t1 = await one.connect();
    try {
      const got = await readAll(t1);
      assert.deepEqual(countKeys(got), { '5': 2 });
      assertSameKeys(got, new Map([['5', expected.get('5')!]]));
    } finally {
      await t1.close();
    }

    const some = await server();
    const dry = await succeed(['restore', 'latest', '--to', some.url, '--pattern', 'user:*', '--dry-run']);
    assert.match(dry.stdout, /^db0: 50 keys$/m);
    assert.match(dry.stdout, /^db1: 1 key$/m);
    assert.match(dry.stdout, /^db5: 1 key$/m);
    await succeed(['restore', 'latest', '--to', some.url, '--pattern', 'user:*']);
    const t2 = await some.connect();
    try {
      const got = await readAll(t2);
      assert.deepEqual(countKeys(got), { '0': 50, '1': 1, '5': 1 });
      const want = new Map(
        [...expected].map(([db, keys]) => [
          db,
          new Map([...keys].filter(([k]) => Buffer.from(k, 'hex').toString('latin1').startsWith('user:'))),
        ]),
      );
      assertSameKeys(got, want);
    } finally {
      await t2.close();
    }

    const locked = await server({ password: 'l0cked' });
    const noPassword = ['restore', 'latest', '--to', `redis://127.0.0.1:${locked.port}`];
    const np = await cli(noPassword);
    assert.equal(np.code, 1, show(noPassword, np));
    assert.match(np.stderr, /refused INFO: NOAUTH.*put the password in the --to URL/);

    const args = ['restore', 'latest', '--to', some.url, '--db', '7'];
    const r = await cli(args);
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stderr, /db 7 holds no keys in the snapshot \(databases with keys: 0, 1, 5\)/);
  });

  it('dumps an RDB file that redis-check-rdb accepts and a server starts from', async () => {
    const file = join(dir, 'out.rdb');
    await succeed(['dump', 'latest', '--source', 'cache', '--output', file]);
    const check = spawnSync('redis-check-rdb', [file], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /RDB looks OK/);
    const started = await server({ rdbFile: file });
    const t = await started.connect();
    try {
      const got = await readAll(t);
      // The server drops keys that expired while it was down: ttl:short, already gone from `expected`.
      assertSameKeys(got, expected);
    } finally {
      await t.close();
    }
  });

  it('backs up as an ACL user with only the replication permissions, and says which are missing', async () => {
    // This server waits 2 s for more replicas before a diskless transfer, sending keepalive
    // newlines meanwhile, even before its +FULLRESYNC answer (the default waits 5 s).
    const acl = await server({
      aclUser: { name: 'backup', password: 'b4ckup:pw', rules: ['+psync', '+replconf', '+ping', '+info'] },
      args: ['--repl-diskless-sync-delay', '2'],
    });
    const a = await acl.connect();
    await ok(a, ['SET', 'acl:key', 'v']);
    await ok(a, ['HSET', 'acl:hash', 'f', 'v']);
    await a.close();
    const args = ['backup', '--type', 'redis', '--name', 'acl', '--url', acl.aclUrl!];
    await succeed(args);
    const [snap] = JSON.parse((await succeed(['snapshots', '--json', '--source', 'acl'])).stdout);
    assert.deepEqual(snap.stats.keys, { '0': 2 });

    const limited = await server({ aclUser: { name: 'reader', password: 'r3ad', rules: ['+get', '+ping'] } });
    const bad = ['backup', '--type', 'redis', '--name', 'limited', '--url', limited.aclUrl!];
    const r = await cli(bad);
    assert.equal(r.code, 1, show(bad, r));
    assert.match(r.stderr, /refused (REPLCONF|PSYNC): NOPERM.*\+psync \+replconf/);
    assert.doesNotMatch(r.stderr, /r3ad/);

    const wrong = [
      'backup',
      '--type',
      'redis',
      '--name',
      'wrong',
      '--url',
      `redis://:nope@127.0.0.1:${source.port}`,
    ];
    const w = await cli(wrong);
    assert.equal(w.code, 1, show(wrong, w));
    assert.match(w.stderr, /refused the credentials/);
    assert.doesNotMatch(w.stderr, /nope/);
  });

  it('backs up and restores over TLS with a CA from the config', async (t) => {
    let tlsServer: RedisServer;
    try {
      tlsServer = await server({ tls: true, password: PASSWORD });
    } catch (err) {
      const reason = `redis-server cannot serve TLS here: ${(err as Error).message.split('\n')[0]}`;
      console.log(`SKIPPED redis TLS test: ${reason}`);
      t.skip(reason);
      return;
    }
    const c = await tlsServer.connect();
    await ok(c, ['SET', 'over:tls', 'secret value', 'EX', '1000']);
    await ok(c, ['RPUSH', 'over:list', 'a', 'b']);
    await c.close();
    const config = join(dir, 'tls.yaml');
    await writeFile(
      config,
      `sources:\n  secure:\n    type: redis\n    url: "${tlsServer.url}"\n    tls:\n      ca: ${tlsServer.tls!.ca}\n`,
    );
    const r = await cli(['backup', 'secure', '--config', config]);
    assert.equal(r.code, 0, show(['backup'], r));
    const target = await server();
    await succeed(['restore', 'latest', '--source', 'secure', '--to', target.url, '--config', config]);
    const t2 = await target.connect();
    try {
      assert.equal(((await ok(t2, ['GET', 'over:tls'])) as Buffer).toString(), 'secret value');
      assert.ok(((await ok(t2, ['TTL', 'over:tls'])) as number) > 900);
    } finally {
      await t2.close();
    }
    // Without the CA, the server's certificate is not trusted.
    const plain = join(dir, 'tls-noca.yaml');
    await writeFile(plain, `sources:\n  secure:\n    type: redis\n    url: "${tlsServer.url}"\n`);
    const bad = await cli(['backup', 'secure', '--config', plain]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cannot connect to 127\.0\.0\.1:\d+ \(TLS\): .*certificate/i);
  });
});
