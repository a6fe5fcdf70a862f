/**
 * @module bench/redis/run
 * Redis backup and restore benchmark: a throwaway server filled with 500 k keys (strings from
 * DEBUG POPULATE plus hashes, lists and sorted sets written by a pipelined script), then per run
 *   backup:  `lifeboat backup` vs `redis-cli --rdb` (the same replication transfer, to a file)
 *   restore: a whole `lifeboat restore` into an empty server (loaded as a replica), the same
 *            key by key (`--pattern '*'`: pipelined RESTORE), and an offline restore into a
 *            data folder (`--to DIR`), each vs a server restarted on the RDB file
 * with wall time and peak RSS (medians of --runs), the load average, the restored data
 * checked (DBSIZE, DEBUG DIGEST), and the ratios printed side by side.
 *
 * Usage: npm run build && node dist/bench/redis/run.js [--keys N] [--value-size BYTES] [--runs N]
 *        [--profile DIR]  (or LIFEBOAT_BENCH_REDIS_KEYS, _VALUE_SIZE, _RUNS, LIFEBOAT_BENCH_PROFILE)
 *        [--baseline OTHER/bin/lifeboat]  another build's backup (its command, or a .js entry), in the same runs
 *        [--backup-only]  no restore steps
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRespError, type RedisConnection } from '../../src/sources/redis/redis-connection.js';
import { RespWriter } from '../../src/sources/redis/resp-writer.js';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import { LIFEBOAT_COMMAND, lifeboatArgv } from '../lifeboat-command.js';
import { checkGnuTime, measure, type Sample } from '../measure.js';

const BIN = LIFEBOAT_COMMAND;

/** `--profile DIR`: lifeboat's runs write V8 CPU profiles there (see bench/cpuprofile-top.ts). */
function profileEnv(): NodeJS.ProcessEnv {
  const i = process.argv.indexOf('--profile');
  const dir = i >= 0 ? process.argv[i + 1] : process.env.LIFEBOAT_BENCH_PROFILE;
  return dir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` } : {};
}

/** `--NAME VALUE` as given, or undefined. */
function textOption(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The median wall time and peak RSS of the runs of one step. */
function med(samples: Sample[]): Sample {
  return {
    wall: median(samples.map((s) => s.wall)),
    user: median(samples.map((s) => s.user)),
    sys: median(samples.map((s) => s.sys)),
    maxRss: median(samples.map((s) => s.maxRss)),
  };
}

/** Median wall time, CPU (user + system, the command's children included) and peak RSS. */
function line(label: string, samples: Sample[], rss = true): string {
  const s = med(samples);
  const cpu = median(samples.map((x) => x.user + x.sys));
  const all = samples.map((x) => x.wall.toFixed(2)).join(' ');
  return `${label.padEnd(40)} ${s.wall.toFixed(2).padStart(6)} s${rss ? `   cpu ${cpu.toFixed(2).padStart(5)} s   peak RSS ${mib(s.maxRss).padStart(8)}` : ' '.repeat(35)}   (runs: ${all})`;
}

function ratio(label: string, a: Sample[], b: Sample[], rss = false): string {
  const x = med(a);
  const y = med(b);
  const r = `${(x.wall / y.wall).toFixed(2)}x time${rss ? `, ${(x.maxRss / y.maxRss).toFixed(1)}x peak RSS` : ''}`;
  return `ratio ${label.padEnd(46)} ${r}`;
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Wall time of a server starting on `dir` until it answers PING with the data loaded. */
async function timedStart(
  options: Parameters<typeof startRedis>[0],
): Promise<{ server: RedisServer; sample: Sample }> {
  const started = process.hrtime.bigint();
  const server = await startRedis(options);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  return { server, sample: { wall, user: 0, sys: 0, maxRss: 0 } };
}

async function digestOf(server: RedisServer): Promise<{ size: number; digest: string }> {
  const c = await server.connect();
  try {
    // A replica load or a start can still be loading: DBSIZE answers -LOADING until done.
    for (;;) {
      const r = await c.call(['DBSIZE']);
      if (!isRespError(r)) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    return { size: Number(await call(c, ['DBSIZE'])), digest: String(await call(c, ['DEBUG', 'DIGEST'])) };
  } finally {
    await c.close();
  }
}

async function main(): Promise<void> {
  const missing = redisUnavailable() ?? checkGnuTime();
  if (missing) throw new Error(missing);
  const keys = option('keys', 'LIFEBOAT_BENCH_REDIS_KEYS', 500_000);
  const valueSize = option('value-size', 'LIFEBOAT_BENCH_REDIS_VALUE_SIZE', 100);
  const runs = option('runs', 'LIFEBOAT_BENCH_REDIS_RUNS', 3);
  const baseline = textOption('baseline');
  const backupOnly = process.argv.includes('--backup-only');
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-bench-redis-'));
  const servers: RedisServer[] = [];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LIFEBOAT_REPO: join(dir, 'repo'),
    LIFEBOAT_PASSWORD: 'bench-password',
  };
  delete env.LIFEBOAT_CONFIG;
  const debug = ['--enable-debug-command', 'yes'];
  const loads: string[] = [`start ${load()}`];
  try {
    const source = await startRedis({ args: debug });
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
    await measure(...lifeboatArgv(BIN, ['init']), { env, cwd: dir });
    // The baseline build writes a repository of its own, so neither deduplicates against the other.
    const baseEnv = { ...env, LIFEBOAT_REPO: join(dir, 'repo-baseline') };
    if (baseline) await measure(...lifeboatArgv(baseline, ['init']), { env: baseEnv, cwd: dir });

    const steps = {
      backup: [] as Sample[],
      cliRdb: [] as Sample[],
      replica: [] as Sample[],
      keyByKey: [] as Sample[],
      restart: [] as Sample[],
      offline: [] as Sample[],
      offlineStart: [] as Sample[],
      startup: [] as Sample[],
      baseBackup: [] as Sample[],
    };
    const problems: string[] = [];
    const check = (what: string, got: { size: number; digest: string }) => {
      if (got.size !== dbsize || got.digest !== digest) {
        problems.push(`${what}: dbsize ${got.size}/${dbsize}, digest ${got.digest}/${digest}`);
      }
    };
    let rdbBytes = 0;
    for (let run = 1; run <= runs; run++) {
      process.stderr.write(
        `run ${run}/${runs} (load ${load()}): lifeboat snapshots, backup, redis-cli --rdb`,
      );
      // The fixed cost of any lifeboat command here: node, the CLI's modules, opening the repository.
      steps.startup.push(await measure(...lifeboatArgv(BIN, ['snapshots', '--json']), { env, cwd: dir }));
      const ours = async () =>
        steps.backup.push(
          await measure(
            ...lifeboatArgv(BIN, ['backup', '--type', 'redis', '--name', 'bench', '--url', source.url]),
            { env: { ...env, ...profileEnv() }, cwd: dir },
          ),
        );
      const theirs = async () =>
        baseline &&
        steps.baseBackup.push(
          await measure(
            ...lifeboatArgv(baseline, ['backup', '--type', 'redis', '--name', 'bench', '--url', source.url]),
            { env: baseEnv, cwd: dir },
          ),
        );
      // This build and the baseline take turns going first, redis-cli between them.
      await (run % 2 === 1 ? ours() : theirs());
      const rdbFile = join(dir, 'cli.rdb');
      steps.cliRdb.push(
        await measure('redis-cli', ['-h', source.host, '-p', String(source.port), '--rdb', rdbFile], {
          cwd: dir,
        }),
      );
      rdbBytes = statSync(rdbFile).size;
      await (run % 2 === 1 ? theirs() : ours());
      if (backupOnly) {
        process.stderr.write('\n');
        loads.push(`run ${run} ${load()}`);
        continue;
      }

      process.stderr.write(', restore (whole, as a replica)');
      const target = await startRedis({ args: debug });
      servers.push(target);
      steps.replica.push(
        await measure(...lifeboatArgv(BIN, ['restore', 'latest', '--to', target.url]), {
          env: { ...env, ...profileEnv() },
          cwd: dir,
        }),
      );
      check('restore as a replica', await digestOf(target));
      await target.stop();

      process.stderr.write(', restore key by key');
      const target2 = await startRedis({ args: debug });
      servers.push(target2);
      steps.keyByKey.push(
        await measure(...lifeboatArgv(BIN, ['restore', 'latest', '--to', target2.url, '--pattern', '*']), {
          env: { ...env, ...profileEnv() },
          cwd: dir,
        }),
      );
      check('restore key by key', await digestOf(target2));
      await target2.stop();

      process.stderr.write(', restart on the RDB');
      const replay = await timedStart({ rdbFile, args: debug });
      servers.push(replay.server);
      check('restart on the RDB', await digestOf(replay.server));
      steps.restart.push(replay.sample);
      await replay.server.stop();

      process.stderr.write(', offline restore\n');
      const data = join(dir, `offline-${run}`);
      mkdirSync(data);
      steps.offline.push(
        await measure(...lifeboatArgv(BIN, ['restore', 'latest', '--to', data]), {
          env: { ...env, ...profileEnv() },
          cwd: dir,
        }),
      );
      const started = await timedStart({ args: [...debug, '--dir', data] });
      servers.push(started.server);
      check('offline restore', await digestOf(started.server));
      steps.offlineStart.push(started.sample);
      await started.server.stop();
      rmSync(data, { recursive: true, force: true });
      loads.push(`run ${run} ${load()}`);
    }
    const offlineTotal = steps.offline.map((s, i) => ({ ...s, wall: s.wall + steps.offlineStart[i].wall }));

    const head = [
      `redis benchmark: ${dbsize} keys, RDB ${mib(rdbBytes)}, median of ${runs} runs (redis-server ${process.env.LIFEBOAT_BENCH_LABEL ?? 'local'})`,
      `load average (1, 5, 15 min): ${loads.join('; ')}`,
      line('lifeboat snapshots (fixed cost of a run)', steps.startup),
      line('backup:  lifeboat backup', steps.backup),
      ...(baseline ? [line('backup:  lifeboat backup [baseline]', steps.baseBackup)] : []),
      line('backup:  redis-cli --rdb', steps.cliRdb),
    ];
    const backupRatios = [
      ratio('backup  lifeboat / redis-cli --rdb:', steps.backup, steps.cliRdb, true),
      ...(baseline
        ? [ratio('backup  baseline / redis-cli --rdb:', steps.baseBackup, steps.cliRdb, true)]
        : []),
    ];
    if (backupOnly) {
      process.stdout.write(`${[...head, ...backupRatios].join('\n')}\n`);
      return;
    }
    const out = [
      ...head,
      line('restore: lifeboat, whole (as a replica)', steps.replica),
      line('restore: lifeboat --pattern * (RESTORE)', steps.keyByKey),
      line('restore: server restart on the RDB', steps.restart, false),
      line('restore: lifeboat offline (--to DIR)', steps.offline),
      line('restore: offline + server start on DIR', offlineTotal, false),
      ...backupRatios,
      ratio('restore whole (replica) / restart on the RDB:', steps.replica, steps.restart),
      ratio('restore key by key / restart on the RDB:', steps.keyByKey, steps.restart),
      ratio('restore offline / restart on the RDB:', steps.offline, steps.restart),
      ratio('restore offline + start / restart on the RDB:', offlineTotal, steps.restart),
      `restored data: ${problems.length === 0 ? 'identical in every run and mode (DBSIZE and DEBUG DIGEST match the source)' : `DIFFERENT: ${problems.join('; ')}`}`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    if (problems.length > 0) process.exitCode = 1;
  } finally {
    for (const s of servers) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/redis: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
