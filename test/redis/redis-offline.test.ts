/**
 * @module test/redis/redis-offline
 * Restores for a stopped server and the fast whole restore, through the real CLI: the RDB
 * file written where a server's config says it loads it, a real redis-server started on that
 * folder holding every key with its TTL and the function library; the refusals (a server
 * running on the folder or port, an existing file without --overwrite) and the appendonly
 * note; and a whole restore into an empty running server loaded as a replica, compared key by
 * key, while --pattern still restores key by key.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RedisConnection } from '../../src/sources/redis/redis-connection.js';
import { freePort } from '../../src/testing/servers/free-port.js';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { assertSameKeys, ok, populate, readAll } from './redis-data.js';

const skip = redisUnavailable();
if (skip) console.log(`SKIPPED redis offline restore suite: ${skip}`);

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

describe('redis restore for a stopped server, and as a replica', { skip: skip ?? false }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let source: RedisServer;
  let conn: RedisConnection;
  const servers: RedisServer[] = [];
  let expected: Awaited<ReturnType<typeof readAll>>;

  const cli = (args: string[]) => runCli(args, env, { cwd: dir });
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
  async function sameAsSource(s: RedisServer): Promise<void> {
    const t = await s.connect();
    try {
      assertSameKeys(await readAll(t), expected);
      const echoed = (await ok(t, ['FCALL', 'echo1', '0', 'hi'])) as Buffer;
      assert.equal(echoed.toString(), 'hi', 'the function library was restored');
    } finally {
      await t.close();
    }
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-redis-offline-'));
    env = repoEnv(join(dir, 'repo'), { LIFEBOAT_CONFIG: join(dir, 'lifeboat.yaml') });
    source = await server();
    conn = await source.connect();
    await populate(conn);
    await writeFile(
      join(dir, 'lifeboat.yaml'),
      `sources:\n  cache:\n    type: redis\n    url: "${source.url}"\n`,
    );
    await succeed(['init']);
    await succeed(['backup', 'cache']);
    expected = await readAll(conn);
  });

  after(async () => {
    await conn?.close();
    for (const s of servers) await s.stop();
    await cleanup?.();
  });

  it("writes the RDB file where a stopped server's config says, and the server starts with every key and TTL", async () => {
    const data = join(dir, 'data');
    await mkdir(data);
    const port = await freePort();
    const conf = join(dir, 'redis.conf');
    await writeFile(conf, `port ${port}\ndir "${data}"\ndbfilename restored.rdb\nappendonly no\n`);
    const r = await succeed(['restore', 'latest', '--source', 'cache', '--to', conf]);
    assert.match(r.stdout, new RegExp(`to ${data}/restored\\.rdb: \\d+ keys`));
    assert.deepEqual(await readdir(data), ['restored.rdb'], 'no temporary file is left');

    const started = await server({ args: ['--dir', data, '--dbfilename', 'restored.rdb'] });
    await sameAsSource(started);

    // Now a server runs in that folder: refused, whatever --overwrite says.
    const again = ['restore', 'latest', '--source', 'cache', '--to', data, '--overwrite'];
    const busy = await cli(again);
    assert.equal(busy.code, 1, show(again, busy));
    assert.match(busy.stderr, new RegExp(`redis-server \\(pid ${started.pid}\\) runs in ${data}: stop it`));
  });

  it('refuses an existing file without --overwrite, refuses a port a server answers on, and replaces with --overwrite', async () => {
    const data = join(dir, 'data2');
    await mkdir(data);
    await writeFile(join(data, 'dump.rdb'), 'old');
    const args = ['restore', 'latest', '--source', 'cache', '--to', data];
    const r = await cli(args);
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stderr, /dump\.rdb exists \(pass --overwrite to replace it\)/);

    const conf = join(dir, 'busy.conf');
    await writeFile(conf, `port ${source.port}\ndir ${data}\n`);
    const onPort = await cli(['restore', 'latest', '--source', 'cache', '--to', conf, '--overwrite']);
    assert.equal(onPort.code, 1, onPort.stderr);
    assert.match(onPort.stderr, new RegExp(`a server answers on port ${source.port}: stop it`));

    await succeed([...args, '--overwrite']);
    const started = await server({ args: ['--dir', data] });
    await sameAsSource(started);
  });

  it('says what to do when the config has appendonly yes', async () => {
    const data = join(dir, 'data3');
    await mkdir(data);
    const conf = join(dir, 'aof.conf');
    await writeFile(conf, `port ${await freePort()}\ndir ${data}\nappendonly yes\n`);
    const r = await succeed(['restore', 'latest', '--source', 'cache', '--to', conf]);
    assert.match(r.stdout, /warning: .*appendonly yes: at startup the server loads .*appendonlydir/);
    assert.match(r.stdout, /--appendonly no\), then run redis-cli CONFIG SET appendonly yes/);
    // Following the advice gives the data, and an AOF of it.
    const started = await server({ args: ['--dir', data, '--appendonly', 'no'] });
    await sameAsSource(started);
  });

  it('loads a whole restore into an empty server as a replica; without REPLICAOF, or with --pattern, key by key', async () => {
    const target = await server();
    const whole = await succeed(['restore', 'latest', '--source', 'cache', '--to', target.url, '--json']);
    const report = JSON.parse(whole.stdout) as { items: string[] };
    assert.ok(report.items.includes('loaded as a replica (full resynchronisation)'), whole.stdout);
    await sameAsSource(target);
    const t = await target.connect();
    try {
      const role = String(await ok(t, ['INFO', 'replication']));
      assert.match(role, /^role:master/m, 'the target is a master again');
    } finally {
      await t.close();
    }

    // What a restore killed during the load leaves: the target following this machine's
    // address on a port nobody listens on. Restoring again puts it back in charge.
    const left = await server();
    const l = await left.connect();
    try {
      await ok(l, ['REPLICAOF', '127.0.0.1', String(await freePort())]);
      assert.match(String(await ok(l, ['INFO', 'replication'])), /^role:slave/m);
      await succeed(['restore', 'latest', '--source', 'cache', '--to', left.url]);
      assert.match(String(await ok(l, ['INFO', 'replication'])), /^role:master/m);
    } finally {
      await l.close();
    }
    await sameAsSource(left);

    // A user who may not run REPLICAOF: the same restore, key by key, saying why.
    const guarded = await server({
      aclUser: { name: 'restorer', password: 'pw', rules: ['~*', '&*', '+@all', '-replicaof'] },
    });
    const fallback = await succeed([
      'restore',
      'latest',
      '--source',
      'cache',
      '--to',
      guarded.aclUrl!,
      '--json',
    ]);
    const items = (JSON.parse(fallback.stdout) as { items: string[] }).items;
    assert.ok(
      items.some((i) => /^key by key with RESTORE: REPLICAOF refused: NOPERM/.test(i)),
      fallback.stdout,
    );
    await sameAsSource(guarded);

    const partial = await server();
    const some = await succeed([
      'restore',
      'latest',
      '--source',
      'cache',
      '--to',
      partial.url,
      '--pattern',
      'str:*',
      '--json',
    ]);
    assert.ok(!(JSON.parse(some.stdout) as { items: string[] }).items.some((i) => i.includes('replica')));
  });
});
