/**
 * @module bench/postgres/run
 * `node dist/bench/postgres/run.js [--scale 15] [--runs 3] [--jobs 2] [--days 0] [--baseline OTHER/bin/lifeboat] [--no-restore] [--workdir DIR] [--keep] [--json]`
 *
 * The PostgreSQL engine against the tools it wraps, on a pgbench database plus a copy of
 * pgbench_accounts (two large tables; scale 15 is about 450 MiB) in a throwaway server:
 * backup time against `pg_dump -Fc > file` (zlib, the default, and -Z0), restore time
 * against plain `pg_restore` of that file, Lifeboat streamed and with jobs. Every step runs
 * once per round, rounds interleaved, under GNU time; each figure is the median, and the
 * load average at each round's start is printed with the ratios. With --days N, N "days"
 * follow, each updating a random 1% of pgbench_accounts, backed up by Lifeboat and by restic
 * fed the same (uncompressed) dumps with `restic backup --stdin`; the repository sizes.
 * --no-restore measures the backups only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { type PostgresServer, startPostgres } from '../../src/testing/servers/postgres.js';
import { LIFEBOAT_COMMAND, lifeboatArgv } from '../lifeboat-command.js';
import { checkGnuTime, diskUsage, measure, run, type Sample } from '../measure.js';

export interface PostgresBenchOptions {
  /** pgbench scale factor: 100 is about 1.5 GiB (10 million accounts). */
  scale: number;
  /** Days of ~1% changes after the first backup (0: none). */
  days: number;
  /** Rounds of every step; each step's figure is the median. */
  runs: number;
  /** pg_restore -j for the parallel restores. */
  jobs: number;
  workdir?: string;
  /** Another build's command (OTHER/bin/lifeboat, or a .js entry run by node), measured in the same rounds ("[baseline]" steps). */
  baseline?: string;
  /** Backups only: no restore steps. */
  noRestore?: boolean;
  keep: boolean;
  log: (line: string) => void;
}

export interface PostgresBenchResult {
  scale: number;
  runs: number;
  /** The 1-minute load average at the start of each round. */
  loads: number[];
  databaseBytes: number;
  steps: Record<string, Sample & { bytes?: number }>;
  days: { day: number; lifeboat: number; restic: number; lifeboatZ6?: number }[];
  ratios: Record<string, number>;
}

const LIFEBOAT_BIN = LIFEBOAT_COMMAND;
const PASSWORD = 'bench';

export async function runPostgresBench(
  options: Partial<PostgresBenchOptions> = {},
): Promise<PostgresBenchResult> {
  const o: PostgresBenchOptions = {
    scale: 15,
    days: 0,
    runs: 3,
    jobs: 2,
    keep: false,
    log: (line) => process.stderr.write(`[bench:postgres] ${line}\n`),
    ...options,
  };
  const gnu = checkGnuTime();
  if (gnu) throw new Error(gnu);
  const work = o.workdir ?? mkdtempSync(join(tmpdir(), 'lifeboat-pgbench-'));
  mkdirSync(work, { recursive: true });
  const server = await startPostgres({
    settings: {
      shared_buffers: '256MB',
      max_wal_size: '4GB',
      checkpoint_timeout: '30min',
      autovacuum: 'off',
    },
  });
  try {
    return await benchOn(server, work, o);
  } finally {
    await server.stop();
    if (!o.keep) rmSync(work, { recursive: true, force: true });
  }
}

async function benchOn(
  server: PostgresServer,
  work: string,
  o: PostgresBenchOptions,
): Promise<PostgresBenchResult> {
  const bin = (name: string) => join(server.binDir, name);
  const pgEnv = { ...process.env, PGPASSWORD: server.password };
  const conn = ['-h', server.host, '-p', String(server.port), '-U', server.user];
  const psql = (db: string, sql: string) =>
    run(bin('psql'), [...conn, '-X', '-q', '-At', '-d', db, '-c', sql], { env: pgEnv });
  o.log(`pgbench -i -s ${o.scale} in ${server.dir}, plus a copy of pgbench_accounts`);
  psql('postgres', 'CREATE DATABASE bench');
  run(bin('pgbench'), [...conn, '-i', '-s', String(o.scale), '-q', 'bench'], { env: pgEnv });
  // A second large table: pg_restore -j loads one table per worker.
  psql(
    'bench',
    'CREATE TABLE accounts_copy AS SELECT * FROM pgbench_accounts; ALTER TABLE accounts_copy ADD PRIMARY KEY (aid)',
  );
  psql('bench', 'CHECKPOINT');
  const databaseBytes = Number(psql('bench', "SELECT pg_database_size('bench')").trim());
  o.log(`database: ${mib(databaseBytes)}`);

  const dumpZ = join(work, 'bench.Z.pgdump');
  const dump0 = join(work, 'bench.Z0.pgdump');
  const url = server.urlFor('bench');
  const fresh = (db: string) => {
    psql('postgres', `DROP DATABASE IF EXISTS ${db}`);
    psql('postgres', `CREATE DATABASE ${db}`);
  };
  // Every step once per round, rounds interleaved so that a busy moment of a shared machine
  // falls on all of them alike; each step's figure is its median.
  const samples: Record<string, (Sample & { bytes?: number })[]> = {};
  const step = async (name: string, p: Promise<Sample>, bytes?: () => number) => {
    const s = await p;
    const b = bytes?.();
    samples[name] = [...(samples[name] ?? []), { ...s, ...(b === undefined ? {} : { bytes: b }) }];
    o.log(
      `${name}: ${s.wall.toFixed(2)} s, peak RSS ${(s.maxRss / 2 ** 20).toFixed(0)} MiB${b === undefined ? '' : `, ${mib(b)}`}`,
    );
  };
  let lb = setupLifeboat(work, 'lb-0', { type: 'postgres', url });
  let lbZ6 = lb;
  const loads: number[] = [];
  for (let round = 1; round <= o.runs; round++) {
    loads.push(loadavg()[0]);
    o.log(`round ${round} of ${o.runs} (load average ${loadavg()[0].toFixed(2)})`);
    rmSync(dumpZ, { force: true });
    rmSync(dump0, { force: true });
    await step(
      'pg_dump -Fc > file',
      measure('/bin/sh', ['-c', `"${bin('pg_dump')}" ${conn.join(' ')} -Fc bench > "${dumpZ}"`], {
        env: pgEnv,
        cwd: work,
      }),
      () => statSync(dumpZ).size,
    );
    await step(
      'pg_dump -Fc -Z0 > file',
      measure('/bin/sh', ['-c', `"${bin('pg_dump')}" ${conn.join(' ')} -Fc -Z0 bench > "${dump0}"`], {
        env: pgEnv,
        cwd: work,
      }),
      () => statSync(dump0).size,
    );
    // Lifeboat -Z0 (its default) and -Z6 (pg_dump's own compression), each into a new repository.
    lb = setupLifeboat(work, `lb-${round}`, { type: 'postgres', url });
    if (round > 1) rmSync(lbZ6.repo, { recursive: true, force: true });
    lbZ6 = setupLifeboat(work, `lbz6-${round}`, { type: 'postgres', url, compression: 6 });
    // The dump files' dirty pages are written out first, not during the next step's fsyncs.
    run('sync', []);
    const base = o.baseline && setupLifeboat(work, `base-${round}`, { type: 'postgres', url }, o.baseline);
    const baseZ6 =
      o.baseline &&
      setupLifeboat(work, `basez6-${round}`, { type: 'postgres', url, compression: 6 }, o.baseline);
    // With a baseline, each of its backups runs beside the same one of this build, and the
    // two take turns going first.
    const pairs: [string, () => Promise<Sample>][][] = [
      [['lifeboat backup (Z0)', lb.backup]],
      [['lifeboat backup (Z6)', lbZ6.backup]],
    ];
    if (base && baseZ6) {
      pairs[0].push(['lifeboat backup (Z0) [baseline]', base.backup]);
      pairs[1].push(['lifeboat backup (Z6) [baseline]', baseZ6.backup]);
      if (round % 2 === 0) for (const pair of pairs) pair.reverse();
    }
    for (const pair of pairs) for (const [name, backup] of pair) await step(name, backup());

    if (base && baseZ6) {
      if (!o.noRestore) {
        for (const [name, jobs] of [
          ['lifeboat restore (stream) [baseline]', 1],
          [`lifeboat restore (jobs ${o.jobs}) [baseline]`, o.jobs],
        ] as const) {
          psql('postgres', 'DROP DATABASE IF EXISTS r2');
          await step(name, base.restore(server.urlFor('r2'), jobs));
        }
        psql('postgres', 'DROP DATABASE IF EXISTS r2');
      }
      rmSync(base.repo, { recursive: true, force: true });
      rmSync(baseZ6.repo, { recursive: true, force: true });
    }
    if (o.noRestore) continue;
    // Restores into a fresh database: pg_restore of pg_dump's own (seekable) file.
    fresh('r1');
    await step(
      'pg_restore (zlib file)',
      measure(bin('pg_restore'), [...conn, '-d', 'r1', dumpZ], { env: pgEnv, cwd: work }),
    );
    fresh('r1');
    await step(
      `pg_restore -j ${o.jobs} (zlib file)`,
      measure(bin('pg_restore'), [...conn, '-j', String(o.jobs), '-d', 'r1', dumpZ], {
        env: pgEnv,
        cwd: work,
      }),
    );
    psql('postgres', 'DROP DATABASE IF EXISTS r1');
    for (const [name, jobs] of [
      ['lifeboat restore (stream)', 1],
      [`lifeboat restore (jobs ${o.jobs})`, o.jobs],
    ] as const) {
      psql('postgres', 'DROP DATABASE IF EXISTS r2');
      await step(name, lb.restore(server.urlFor('r2'), jobs));
    }
    psql('postgres', 'DROP DATABASE IF EXISTS r2');
  }
  // Days: ~1% of accounts change; Lifeboat backs up, restic takes the same dump on stdin.
  const restic = o.days > 0 ? resticAvailable() : null;
  const resticRepo = join(work, 'restic');
  const resticEnv = {
    ...process.env,
    RESTIC_REPOSITORY: resticRepo,
    RESTIC_PASSWORD: PASSWORD,
    RESTIC_CACHE_DIR: join(work, 'restic-cache'),
  };
  if (restic) {
    run(restic, ['init', '--quiet'], { env: resticEnv });
    await step(
      'restic backup --stdin (day 0)',
      measure(
        '/bin/sh',
        ['-c', `"${restic}" backup --quiet --stdin --stdin-filename bench.pgdump < "${dump0}"`],
        {
          env: resticEnv,
          cwd: work,
        },
      ),
    );
  } else if (o.days > 0) o.log('restic not installed (apt-get install restic): no comparison');
  const days: PostgresBenchResult['days'] = [
    {
      day: 0,
      lifeboat: diskUsage(lb.repo).allocated,
      lifeboatZ6: diskUsage(lbZ6.repo).allocated,
      restic: restic ? diskUsage(resticRepo).allocated : 0,
    },
  ];
  const accounts = o.scale * 100_000;
  for (let day = 1; day <= o.days; day++) {
    psql(
      'bench',
      `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid IN (SELECT 1 + floor(random() * ${accounts})::int FROM generate_series(1, ${accounts / 100}))`,
    );
    await step(`lifeboat backup (day ${day})`, lb.backup());
    const entry: PostgresBenchResult['days'][number] = {
      day,
      lifeboat: diskUsage(lb.repo).allocated,
      restic: 0,
    };
    if (day === 1) {
      await step('lifeboat backup Z6 (day 1)', lbZ6.backup());
      entry.lifeboatZ6 = diskUsage(lbZ6.repo).allocated;
    }
    if (restic) {
      run(bin('pg_dump'), [...conn, '-Fc', '-Z0', '-f', dump0, 'bench'], { env: pgEnv });
      await step(
        `restic backup --stdin (day ${day})`,
        measure(
          '/bin/sh',
          ['-c', `"${restic}" backup --quiet --stdin --stdin-filename bench.pgdump < "${dump0}"`],
          {
            env: resticEnv,
            cwd: work,
          },
        ),
      );
      entry.restic = diskUsage(resticRepo).allocated;
    }
    days.push(entry);
    o.log(`day ${day}: lifeboat repo ${mib(entry.lifeboat)}, restic repo ${mib(entry.restic)}`);
  }

  const steps: PostgresBenchResult['steps'] = {};
  for (const [name, list] of Object.entries(samples)) steps[name] = median(list);

  const last = days[days.length - 1];
  const wall = (name: string) => steps[name].wall;
  const ratios: Record<string, number> = {
    'backup: lifeboat (Z0) / pg_dump -Fc > file': wall('lifeboat backup (Z0)') / wall('pg_dump -Fc > file'),
    'backup: lifeboat (Z0) / pg_dump -Fc -Z0 > file':
      wall('lifeboat backup (Z0)') / wall('pg_dump -Fc -Z0 > file'),
    'backup: lifeboat (Z6) / pg_dump -Fc > file': wall('lifeboat backup (Z6)') / wall('pg_dump -Fc > file'),
  };
  if (o.baseline) {
    ratios['baseline backup (Z0) / pg_dump -Fc > file'] =
      wall('lifeboat backup (Z0) [baseline]') / wall('pg_dump -Fc > file');
    ratios['baseline backup (Z6) / pg_dump -Fc > file'] =
      wall('lifeboat backup (Z6) [baseline]') / wall('pg_dump -Fc > file');
  }
  if (!o.noRestore)
    Object.assign(ratios, {
      'restore: lifeboat stream / pg_restore (zlib file)':
        wall('lifeboat restore (stream)') / wall('pg_restore (zlib file)'),
      [`restore: lifeboat jobs ${o.jobs} / pg_restore (zlib file)`]:
        wall(`lifeboat restore (jobs ${o.jobs})`) / wall('pg_restore (zlib file)'),
      [`restore: lifeboat jobs ${o.jobs} / lifeboat stream`]:
        wall(`lifeboat restore (jobs ${o.jobs})`) / wall('lifeboat restore (stream)'),
    });
  if (o.baseline && !o.noRestore) {
    ratios['baseline restore stream / pg_restore (zlib file)'] =
      wall('lifeboat restore (stream) [baseline]') / wall('pg_restore (zlib file)');
    ratios[`baseline restore jobs ${o.jobs} / baseline stream`] =
      wall(`lifeboat restore (jobs ${o.jobs}) [baseline]`) / wall('lifeboat restore (stream) [baseline]');
  }
  if (restic) ratios[`repository after ${o.days} days: lifeboat / restic`] = last.lifeboat / last.restic;
  return { scale: o.scale, runs: o.runs, loads, databaseBytes, steps, days, ratios };
}

function setupLifeboat(work: string, name: string, source: Record<string, unknown>, bin = LIFEBOAT_BIN) {
  const repo = join(work, `repo-${name}`);
  const home = join(work, `home-${name}`);
  mkdirSync(home, { recursive: true });
  const config = join(home, 'lifeboat.yaml');
  const write = (extra: Record<string, unknown>) =>
    spawnSync('sh', ['-c', `cat > "${config}"`], {
      input: stringify({ sources: { bench: { ...source, ...extra } } }),
    });
  write({});
  const env = { ...process.env, LIFEBOAT_REPO: repo, LIFEBOAT_PASSWORD: PASSWORD };
  run(...lifeboatArgv(bin, ['init', '--quiet']), { env, cwd: home });
  return {
    repo,
    backup: () =>
      measure(...lifeboatArgv(bin, ['--config', config, 'backup', '--quiet']), { env, cwd: home }),
    restore: (to: string, jobs: number) => {
      write({ jobs });
      return measure(...lifeboatArgv(bin, ['--config', config, 'restore', 'latest', '--quiet', '--to', to]), {
        env,
        cwd: home,
      }).finally(() => write({}));
    },
  };
}

function resticAvailable(): string | null {
  if (existsSync('/usr/bin/restic')) return '/usr/bin/restic';
  const r = spawnSync('sh', ['-c', 'command -v restic'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

export function formatPostgresBench(r: PostgresBenchResult): string {
  const lines = [
    `PostgreSQL engine, pgbench scale ${r.scale} plus a copy of pgbench_accounts (database ${mib(r.databaseBytes)})`,
    `median of ${r.runs} interleaved rounds; load average at each round's start: ${r.loads.map((l) => l.toFixed(2)).join(', ')} (${cpus().length} cores)`,
    '',
  ];
  lines.push(
    `${'step'.padEnd(44)} ${'wall s'.padStart(8)} ${'cpu s'.padStart(8)} ${'peak RSS'.padStart(10)} ${'size'.padStart(12)}`,
  );
  for (const [name, s] of Object.entries(r.steps)) {
    lines.push(
      `${name.padEnd(44)} ${s.wall.toFixed(2).padStart(8)} ${(s.user + s.sys).toFixed(2).padStart(8)} ${`${(s.maxRss / 2 ** 20).toFixed(0)} MiB`.padStart(10)} ${(s.bytes === undefined ? '' : mib(s.bytes)).padStart(12)}`,
    );
  }
  lines.push(
    '',
    `${'day'.padEnd(6)} ${'lifeboat repo'.padStart(14)} ${'restic repo'.padStart(14)} ${'lifeboat Z6 repo'.padStart(17)}`,
  );
  for (const d of r.days) {
    lines.push(
      `${String(d.day).padEnd(6)} ${mib(d.lifeboat).padStart(14)} ${mib(d.restic).padStart(14)} ${(d.lifeboatZ6 === undefined ? '' : mib(d.lifeboatZ6)).padStart(17)}`,
    );
  }
  lines.push('');
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`${k.padEnd(56)} ${v.toFixed(3)}`);
  return lines.join('\n');
}

function parseArgs(argv: string[]): Partial<PostgresBenchOptions> & { json?: boolean } {
  const out: Partial<PostgresBenchOptions> & { json?: boolean } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--scale') out.scale = Number(value());
    else if (a === '--days') out.days = Number(value());
    else if (a === '--runs') out.runs = Number(value());
    else if (a === '--baseline') out.baseline = value();
    else if (a === '--jobs') out.jobs = Number(value());
    else if (a === '--workdir') out.workdir = value();
    else if (a === '--no-restore') out.noRestore = true;
    else if (a === '--keep') out.keep = true;
    else if (a === '--json') out.json = true;
    else
      throw new Error(
        `unknown option ${a} (use --scale N, --runs N, --baseline BIN, --no-restore, --days N, --jobs N, --workdir DIR, --keep, --json)`,
      );
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { json, ...options } = parseArgs(process.argv.slice(2));
  runPostgresBench(options).then(
    (r) => process.stdout.write(`${json ? JSON.stringify(r, null, 2) : formatPostgresBench(r)}\n`),
    (err) => {
      process.stderr.write(`[bench:postgres] failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

function median<T extends Sample>(list: T[]): T {
  const sorted = [...list].sort((a, b) => a.wall - b.wall);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
