/**
 * @module bench/redis/run
 * Redis backup and restore benchmark: a throwaway server filled with ~2 M keys (strings from
 * DEBUG POPULATE plus hashes, lists and sorted sets written by a pipelined script), then
 *   backup:  `lifeboat backup` vs `redis-cli --rdb` (the same replication transfer, to a file)
 *   restore: `lifeboat restore` (pipelined RESTORE) vs a server restarted on the RDB file
 * with wall time and peak RSS of each, the restored data checked (DBSIZE, DEBUG DIGEST), and
 * the ratios printed.
 *
 * Usage: npm run build && node dist/bench/redis/run.js [--keys N] [--value-size BYTES]
 *        (or LIFEBOAT_BENCH_REDIS_KEYS, LIFEBOAT_BENCH_REDIS_VALUE_SIZE)
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRespError, type RedisConnection } from '../../src/sources/redis/redis-connection.js';
import { RespWriter } from '../../src/sources/redis/resp-writer.js';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import { checkGnuTime, measure, type Sample } from '../measure.js';

const BIN = fileURLToPath(new URL('../../../bin/lifeboat.js', import.meta.url));

/** `--profile DIR`: lifeboat's runs write V8 CPU profiles there (see bench/cpuprofile-top.ts). */
function profileArgs(): string[] {
  const i = process.argv.indexOf('--profile');
  const dir = i >= 0 ? process.argv[i + 1] : process.env.LIFEBOAT_BENCH_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

function option(name: string, envName: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const text = i >= 0 ? process.argv[i + 1] : process.env[envName];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} expects a positive integer, got "${text}"`);
  return n;
}

async function call(conn: RedisConnection, args: string[]): Promise<unknown> {
  const r = await conn.call(args);
  if (isRespError(r)) throw new Error(`${args[0]} failed: ${r.message}`);
  return r;
}

/** Hashes, lists and sorted sets of ~10 fields each, pipelined 1,000 commands at a time. */
async function populateCollections(conn: RedisConnection, count: number): Promise<void> {
  for (let start = 0; start < count; start += 1000) {
    const w = new RespWriter();
    const n = Math.min(1000, count - start);
    for (let k = start; k < start + n; k++) {
      const fields = Array.from({ length: 10 }, (_, f) => [`f${f}`, `value-${k}-${f}`]).flat();
      if (k % 3 === 0) w.command(['HSET', `hash:${k}`, ...fields]);
      else if (k % 3 === 1) w.command(['RPUSH', `list:${k}`, ...fields]);
      else
        w.command([
          'ZADD',
          `zset:${k}`,
          ...Array.from({ length: 10 }, (_, f) => [String(f * 1.5), `m${k}-${f}`]).flat(),
        ]);
    }
    await conn.write(w.take());
    for (let i = 0; i < n; i++) {
      const r = await conn.readReply();
      if (isRespError(r)) throw new Error(r.message);
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

function line(label: string, s: Sample): string {
  return `${label.padEnd(34)} ${s.wall.toFixed(2).padStart(7)} s   peak RSS ${mib(s.maxRss).padStart(8)}`;
}

async function main(): Promise<void> {
  const missing = redisUnavailable() ?? checkGnuTime();
  if (missing) throw new Error(missing);
  const keys = option('keys', 'LIFEBOAT_BENCH_REDIS_KEYS', 2_000_000);
  const valueSize = option('value-size', 'LIFEBOAT_BENCH_REDIS_VALUE_SIZE', 100);
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-bench-redis-'));
  const servers: RedisServer[] = [];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LIFEBOAT_REPO: join(dir, 'repo'),
    LIFEBOAT_PASSWORD: 'bench-password',
  };
  delete env.LIFEBOAT_CONFIG;
  try {
    const source = await startRedis({ args: ['--enable-debug-command', 'yes'] });
    servers.push(source);
    const conn = await source.connect();
    const collections = Math.floor(keys / 20);
    const strings = keys - collections;
    process.stderr.write(
      `populating ${keys} keys (${strings} strings of ${valueSize} B, ${collections} hashes/lists/zsets)...\n`,
    );
    await call(conn, ['DEBUG', 'POPULATE', String(strings), 'key', String(valueSize)]);
    await populateCollections(conn, collections);
    const digest = String(await call(conn, ['DEBUG', 'DIGEST']));
    const dbsize = Number(await call(conn, ['DBSIZE']));
    await conn.close();

    await measure(process.execPath, [BIN, 'init'], { env, cwd: dir });
    process.stderr.write('lifeboat backup...\n');
    const backup = await measure(
      process.execPath,
      [...profileArgs(), BIN, 'backup', '--type', 'redis', '--name', 'bench', '--url', source.url],
      { env, cwd: dir },
    );
    process.stderr.write('redis-cli --rdb...\n');
    const rdbFile = join(dir, 'cli.rdb');
    const cliRdb = await measure(
      'redis-cli',
      ['-h', source.host, '-p', String(source.port), '--rdb', rdbFile],
      { cwd: dir },
    );
    const rdbBytes = statSync(rdbFile).size;

    process.stderr.write('lifeboat restore...\n');
    const target = await startRedis({ args: ['--enable-debug-command', 'yes'] });
    servers.push(target);
    const restore = await measure(
      process.execPath,
      [...profileArgs(), BIN, 'restore', 'latest', '--to', target.url],
      {
        env,
        cwd: dir,
      },
    );
    const t = await target.connect();
    const restoredSize = Number(await call(t, ['DBSIZE']));
    const restoredDigest = String(await call(t, ['DEBUG', 'DIGEST']));
    await t.close();
    await target.stop();

    process.stderr.write('server restart on the RDB file...\n');
    const started = process.hrtime.bigint();
    const replay = await startRedis({ rdbFile, args: ['--enable-debug-command', 'yes'] });
    const replayWall = Number(process.hrtime.bigint() - started) / 1e9;
    servers.push(replay);
    const r = await replay.connect();
    const replayDigest = String(await call(r, ['DEBUG', 'DIGEST']));
    const replayRss = Number(
      /used_memory_rss:(\d+)/.exec(String(await call(r, ['INFO', 'memory'])))?.[1] ?? 0,
    );
    await r.close();

    const ok = restoredSize === dbsize && restoredDigest === digest && replayDigest === digest;
    const out = [
      `redis benchmark: ${dbsize} keys, RDB ${mib(rdbBytes)} (redis-server ${process.env.LIFEBOAT_BENCH_LABEL ?? 'local'})`,
      line('backup:  lifeboat backup', backup),
      line('backup:  redis-cli --rdb', cliRdb),
      line('restore: lifeboat restore (RESTORE)', restore),
      `${'restore: server restart on the RDB'.padEnd(34)} ${replayWall.toFixed(2).padStart(7)} s   server RSS ${mib(replayRss).padStart(6)}`,
      `ratio backup  lifeboat / redis-cli --rdb:      ${(backup.wall / cliRdb.wall).toFixed(2)}x time, ${(backup.maxRss / cliRdb.maxRss).toFixed(1)}x peak RSS`,
      `ratio restore lifeboat / restart on the RDB:   ${(restore.wall / replayWall).toFixed(2)}x time`,
      `throughput: backup ${(dbsize / backup.wall / 1000).toFixed(0)}k keys/s, restore ${(dbsize / restore.wall / 1000).toFixed(0)}k keys/s`,
      `restored data: ${ok ? 'identical (DBSIZE and DEBUG DIGEST match the source)' : `DIFFERENT: dbsize ${restoredSize}/${dbsize}, digests ${restoredDigest}/${replayDigest}/${digest}`}`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    if (!ok) process.exitCode = 1;
  } finally {
    for (const s of servers) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/redis: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
