/**
 * @module bench/pitr/run
 * `node dist/bench/pitr/run.js [--scale 100] [--seconds 30] [--restores 3] [--workdir DIR] [--keep] [--json]`
 *
 * PostgreSQL PITR, Lifeboat against pgBackRest (Debian's pgbackrest), each on its own fresh
 * throwaway cluster fed the same work:
 *  1. archiving throughput: `pgbench -i -s SCALE` runs with archive_command empty (the
 *     server keeps its WAL), then archive_command is set to the tool and the real archiver
 *     drains the backlog; segments per second = backlog / time to drain, and the same after
 *     the first file is archived (once the tool has started: what a busy server sees);
 *  2. a base backup (timed);
 *  3. `pgbench -T SECONDS` with archiving live, then a switch and a wait for the archive;
 *  4. the server is stopped; then, RESTORES times (default 3), each tool in turn restores
 *     to the end of its archive into a new data directory, PostgreSQL starts on it and
 *     replays; RTO = restore + recovery until promoted. The restored cluster's
 *     pgbench_accounts sum must equal the original's. The tools alternate (which goes first
 *     swaps every round) and the table gives medians: one restore of each was too noisy on
 *     these machines to compare (±0.5 s of an 8 s RTO from one run to the next).
 * Both tools encrypt (pgBackRest: aes-256-cbc) and compress with zstd (pgBackRest:
 * compress-type=zst, its level 3; Lifeboat: level 3 for base backups, -1 for WAL).
 * pgBackRest archives asynchronously (archive-async, process-max 2), its fast mode.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { stringify } from 'yaml';
import { type PostgresServer, serverUserArgv, startPostgres } from '../../src/testing/servers/postgres.js';
import { checkGnuTime, run } from '../measure.js';

const FRONT = fileURLToPath(new URL('../../../bin/lifeboat', import.meta.url));
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

interface Options {
  scale: number;
  seconds: number;
  /** Restores (with recovery) of each tool, alternated; the table gives medians. */
  restores: number;
  /** Seconds of steady writes for the RPO measurement (0: skip it). */
  rpo: number;
  workdir?: string;
  keep: boolean;
  json: boolean;
}

interface ToolResult {
  tool: string;
  backlogSegments: number;
  drainSeconds: number;
  segmentsPerSecond: number;
  /** Segments per second from the first archived file to the last. */
  sustainedPerSecond: number;
  baseBackupSeconds: number;
  /** Medians over the restores. */
  restoreSeconds: number;
  recoverySeconds: number;
  rtoSeconds: number;
  /** Every restore, in the order run. */
  restores: RestoreTiming[];
  repositoryBytes: number;
}

interface RestoreTiming {
  restoreSeconds: number;
  recoverySeconds: number;
}

/** A tool whose cluster is archived, backed up, loaded and stopped: ready to restore. */
interface Prepared {
  tool: Tool;
  result: Omit<ToolResult, 'restoreSeconds' | 'recoverySeconds' | 'rtoSeconds' | 'restores'>;
  /** The pgbench_accounts sum and count the restored cluster must show. */
  expected: string;
}

const log = (line: string) => process.stderr.write(`[bench:pitr] ${line}\n`);

function parse(argv: string[]): Options {
  const o: Options = { scale: 100, seconds: 30, restores: 3, rpo: 0, keep: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--scale') o.scale = Number(argv[++i]);
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--restores') o.restores = Number(argv[++i]);
    else if (a === '--rpo') o.rpo = Number(argv[++i]);
    else if (a === '--workdir') o.workdir = argv[++i];
    else if (a === '--keep') o.keep = true;
    else if (a === '--json') o.json = true;
    else
      throw new Error(
        `unknown option ${a}\nusage: node dist/bench/pitr/run.js [--scale 100] [--seconds 30] [--restores 3] [--rpo SECONDS] [--workdir DIR] [--keep] [--json]`,
      );
  }
  if (!(o.scale > 0) || !(o.seconds > 0)) throw new Error('--scale and --seconds take positive numbers');
  if (!Number.isInteger(o.restores) || o.restores < 1)
    throw new Error('--restores takes a whole number from 1');
  return o;
}

/** A folder the server's user (nobody, when root) owns. */
function ownedDir(path: string): string {
  mkdirSync(path, { recursive: true });
  if (isRoot) chownSync(path, NOBODY, NOBODY);
  chmodSync(path, 0o700);
  return path;
}

/** Runs a command as the server's user; returns its wall time in seconds. */
function asServer(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const [cmd, argv] = serverUserArgv(command, args);
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr}${r.stdout}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tool {
  name: string;
  setup(server: PostgresServer): void;
  archiveCommand: string;
  backup(server: PostgresServer): number;
  /** Writes a recoverable data directory at `dataDir` (to the end of the archive). */
  restore(dataDir: string): number;
  repository: string;
}

function lifeboatTool(work: string, env: NodeJS.ProcessEnv): Tool {
  const repo = join(work, 'lifeboat-repo');
  const config = join(work, 'lifeboat.yaml');
  const passwordFile = join(work, 'lifeboat-password');
  return {
    name: 'lifeboat',
    repository: repo,
    archiveCommand: `LIFEBOAT_NODE='${process.execPath}' '${FRONT}' --config '${config}' --quiet wal-push %p`,
    setup(server) {
      // restore --at notes the password file for restore_command (never LIFEBOAT_PASSWORD).
      writeFileSync(passwordFile, String(env.LIFEBOAT_PASSWORD), { mode: 0o600 });
      if (isRoot) chownSync(passwordFile, NOBODY, NOBODY);
      writeFileSync(
        config,
        stringify({
          repository: { url: repo },
          sources: { db: { type: 'postgres', url: server.url, method: 'physical' } },
        }),
        { mode: 0o644 },
      );
      asServer(FRONT, ['--config', config, 'init'], env);
    },
    backup: () => asServer(FRONT, ['--config', config, '--quiet', 'backup', 'db'], env),
    restore: (dataDir) =>
      asServer(
        FRONT,
        [
          '--config',
          config,
          '--password-file',
          passwordFile,
          '--quiet',
          'restore',
          'latest',
          '--source',
          'db',
          '--at',
          'latest',
          '--to',
          dataDir,
        ],
        env,
      ),
  };
}

function pgbackrestTool(work: string, env: NodeJS.ProcessEnv): Tool {
  const repo = join(work, 'pgbackrest-repo');
  const config = join(work, 'pgbackrest.conf');
  const base = ['--config', config, '--stanza=bench'];
  return {
    name: 'pgbackrest',
    repository: repo,
    archiveCommand: `pgbackrest --config '${config}' --stanza=bench archive-push %p`,
    setup(server) {
      for (const d of ['pgbackrest-repo', 'pgbackrest-log', 'pgbackrest-lock', 'pgbackrest-spool'])
        ownedDir(join(work, d));
      writeFileSync(
        config,
        [
          '[global]',
          `repo1-path=${repo}`,
          'repo1-cipher-type=aes-256-cbc',
          'repo1-cipher-pass=bench-cipher-pass',
          'compress-type=zst',
          'archive-async=y',
          'process-max=2',
          `spool-path=${join(work, 'pgbackrest-spool')}`,
          `log-path=${join(work, 'pgbackrest-log')}`,
          `lock-path=${join(work, 'pgbackrest-lock')}`,
          'log-level-console=warn',
          'start-fast=y',
          '[bench]',
          `pg1-path=${server.dataDir}`,
          `pg1-port=${server.port}`,
          `pg1-socket-path=${server.socketDir}`,
          `pg1-user=${server.user}`,
          '',
        ].join('\n'),
        { mode: 0o644 },
      );
      asServer('pgbackrest', [...base, 'stanza-create'], env);
    },
    backup: () => asServer('pgbackrest', [...base, '--type=full', 'backup'], env),
    restore: (dataDir) => asServer('pgbackrest', [...base, `--pg1-path=${dataDir}`, 'restore'], env),
  };
}

async function prepareTool(tool: Tool, o: Options, env: NodeJS.ProcessEnv): Promise<Prepared> {
  const server = await startPostgres({
    settings: {
      wal_level: 'replica',
      archive_mode: 'on',
      full_page_writes: 'on',
      max_wal_senders: '4',
      max_wal_size: '8GB',
      shared_buffers: '256MB',
      autovacuum: 'off',
    },
  });
  env.PGPASSWORD = server.password;
  const bin = (name: string) => join(server.binDir, name);
  const conn = ['-h', server.host, '-p', String(server.port), '-U', server.user];
  const psql = (sql: string) =>
    run(bin('psql'), [...conn, '-X', '-q', '-At', '-d', 'postgres', '-c', sql], { env }).trim();
  /**
   * Waits until everything written so far is archived; returns when the first file was
   * (hrtime). Polls over one connection: a psql process every 20 ms took a third of a core
   * from the tools being measured.
   */
  const waitArchived = async () => {
    const wal = psql('SELECT pg_walfile_name(pg_current_wal_lsn()) FROM (SELECT pg_switch_wal()) s');
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      let first: bigint | undefined;
      for (;;) {
        const { rows } = await client.query<{ last: string; failed: string; count: string }>(
          "SELECT coalesce(last_archived_wal, '') AS last, failed_count AS failed, archived_count AS count FROM pg_stat_archiver",
        );
        const { last, failed, count } = rows[0];
        if (first === undefined && Number(count) > 0) first = process.hrtime.bigint();
        if (last >= wal) return first ?? process.hrtime.bigint();
        if (Number(failed) > 20)
          throw new Error(`${tool.name}: archiving keeps failing (see the server log)`);
        await sleep(20);
      }
    } finally {
      await client.end();
    }
  };
  try {
    tool.setup(server);
    log(`${tool.name}: pgbench -i -s ${o.scale} (WAL kept, not archived)`);
    run(bin('pgbench'), [...conn, '-i', '-s', String(o.scale), '-q', 'postgres'], { env });
    psql('CHECKPOINT');
    // The throwaway server runs with fsync off: flush what the load left, as a checkpoint
    // would on a real server, so the tools' own fsyncs do not wait behind it.
    spawnSync('sync');
    // Close the current segment so it joins the backlog, then count what waits.
    psql('SELECT pg_switch_wal()');
    const backlog = readdirSync(join(server.dataDir, 'pg_wal', 'archive_status')).filter((n) =>
      n.endsWith('.ready'),
    ).length;
    log(`${tool.name}: ${backlog} segments wait; archive_command = ${tool.name}`);
    const drainStart = process.hrtime.bigint();
    psql(`ALTER SYSTEM SET archive_command = '${tool.archiveCommand.replace(/'/g, "''")}'`);
    psql('SELECT pg_reload_conf()');
    const firstArchived = await waitArchived();
    const drainEnd = process.hrtime.bigint();
    const drainSeconds = Number(drainEnd - drainStart) / 1e9;
    // After the first file: the rate once the tool has started (its start-up is paid once).
    const sustained = (backlog - 1) / (Number(drainEnd - firstArchived) / 1e9);
    log(
      `${tool.name}: drained in ${drainSeconds.toFixed(1)} s (${(backlog / drainSeconds).toFixed(1)} segments/s; ${sustained.toFixed(1)}/s after the first)`,
    );

    const baseBackupSeconds = tool.backup(server);
    log(`${tool.name}: base backup ${baseBackupSeconds.toFixed(1)} s`);
    run(bin('pgbench'), [...conn, '-T', String(o.seconds), '-c', '2', '-n', 'postgres'], { env });
    await waitArchived();
    const expected = psql('SELECT sum(abalance)::text || count(*)::text FROM pgbench_accounts');
    await server.stop();
    const du = spawnSync('du', ['-sb', tool.repository], { encoding: 'utf8' });
    return {
      tool,
      expected,
      result: {
        tool: tool.name,
        backlogSegments: backlog,
        drainSeconds,
        segmentsPerSecond: backlog / drainSeconds,
        sustainedPerSecond: sustained,
        baseBackupSeconds,
        repositoryBytes: Number(du.stdout.split(/\s/)[0]),
      },
    };
  } finally {
    await server.stop();
  }
}

/** Restores to the end of the archive into a new data directory, then recovers and checks it. */
async function restoreOnce(p: Prepared, work: string, env: NodeJS.ProcessEnv): Promise<RestoreTiming> {
  const { tool } = p;
  const target = ownedDir(mkdtempSync(join(work, `restore-${tool.name}-`)));
  ownedDir(join(target, 'data'));
  // As before archiving: the servers run with fsync off, so a stopped one (or the previous
  // restore) left dirty pages that would otherwise be written back during this restore.
  spawnSync('sync');
  const restoreSeconds = tool.restore(join(target, 'data'));
  const recoveryStart = process.hrtime.bigint();
  const restored = await startPostgres({ existingDir: target });
  try {
    const rconn = ['-h', restored.host, '-p', String(restored.port), '-U', restored.user];
    const rpsql = (sql: string) =>
      run(join(restored.binDir, 'psql'), [...rconn, '-X', '-q', '-At', '-d', 'postgres', '-c', sql], {
        env,
      }).trim();
    while (rpsql('SELECT pg_is_in_recovery()') !== 'f') await sleep(50);
    const recoverySeconds = Number(process.hrtime.bigint() - recoveryStart) / 1e9;
    const got = rpsql('SELECT sum(abalance)::text || count(*)::text FROM pgbench_accounts');
    if (got !== p.expected) throw new Error(`${tool.name}: restored data differs (${got} vs ${p.expected})`);
    log(
      `${tool.name}: restore ${restoreSeconds.toFixed(1)} s + recovery ${recoverySeconds.toFixed(1)} s, data verified`,
    );
    return { restoreSeconds, recoverySeconds };
  } finally {
    await restored.stop(); // removes the restored directory
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The data-loss window actually achieved with archive_timeout = 60: steady small writes for
 * `seconds`, then the server is killed (SIGKILL: its unarchived WAL is the loss), the
 * archive restored to its end, and RPO = kill time - newest row recovered.
 */
async function measureRpo(work: string, seconds: number, env: NodeJS.ProcessEnv): Promise<number> {
  const tool = lifeboatTool(join(work, 'rpo'), env);
  ownedDir(join(work, 'rpo'));
  chmodSync(join(work, 'rpo'), 0o755);
  const server = await startPostgres({
    settings: { wal_level: 'replica', archive_mode: 'on', archive_timeout: '60', max_wal_senders: '4' },
  });
  env.PGPASSWORD = server.password;
  let restored: PostgresServer | undefined;
  try {
    const bin = (name: string) => join(server.binDir, name);
    const conn = ['-h', server.host, '-p', String(server.port), '-U', server.user];
    const psql = (sql: string) =>
      run(bin('psql'), [...conn, '-X', '-q', '-At', '-d', 'postgres', '-c', sql], { env }).trim();
    tool.setup(server);
    psql(`ALTER SYSTEM SET archive_command = '${tool.archiveCommand.replace(/'/g, "''")}'`);
    psql('SELECT pg_reload_conf()');
    psql('CREATE TABLE ticks (t timestamptz)');
    tool.backup(server);
    const script = join(work, 'rpo', 'tick.sql');
    writeFileSync(script, 'INSERT INTO ticks VALUES (clock_timestamp());\n', { mode: 0o644 });
    log(`rpo: ${seconds} s of 10 writes/s with archive_timeout = 60, then SIGKILL`);
    run(bin('pgbench'), [...conn, '-n', '-f', script, '-R', '10', '-T', String(seconds), 'postgres'], {
      env,
    });
    const killedAt = Date.now();
    await server.kill();
    const target = ownedDir(mkdtempSync(join(work, 'rpo-restore-')));
    ownedDir(join(target, 'data'));
    tool.restore(join(target, 'data'));
    restored = await startPostgres({ existingDir: target });
    const rconn = ['-h', restored.host, '-p', String(restored.port), '-U', restored.user];
    const rpsql = (sql: string) =>
      run(bin('psql'), [...rconn, '-X', '-q', '-At', '-d', 'postgres', '-c', sql], { env }).trim();
    while (rpsql('SELECT pg_is_in_recovery()') !== 'f') await sleep(100);
    const newest = Number(rpsql('SELECT extract(epoch FROM max(t)) * 1000 FROM ticks'));
    const rpo = (killedAt - newest) / 1000;
    log(
      `rpo: newest recovered row ${new Date(newest).toISOString()}, killed ${new Date(killedAt).toISOString()}: ${rpo.toFixed(1)} s lost`,
    );
    return rpo;
  } finally {
    await restored?.stop();
    await server.stop();
  }
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  const gnu = checkGnuTime();
  if (gnu) throw new Error(gnu);
  if (spawnSync('pgbackrest', ['version']).status !== 0)
    throw new Error('pgbackrest not found: apt-get install pgbackrest');
  const work = ownedDir(o.workdir ?? mkdtempSync(join(tmpdir(), 'lifeboat-pitr-bench-')));
  chmodSync(work, 0o755);
  const env: NodeJS.ProcessEnv = { ...process.env, LIFEBOAT_PASSWORD: 'bench-password' };
  // The archiver runs as the server, with the server's environment: the password goes there.
  Object.assign(process.env, { LIFEBOAT_PASSWORD: env.LIFEBOAT_PASSWORD });
  try {
    const prepared: Prepared[] = [];
    for (const tool of [lifeboatTool(work, env), pgbackrestTool(work, env)])
      prepared.push(await prepareTool(tool, o, env));
    const timings = prepared.map(() => [] as RestoreTiming[]);
    for (let round = 0; round < o.restores; round++) {
      // Which tool goes first swaps every round: neither always follows the other's clean-up.
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) timings[i].push(await restoreOnce(prepared[i], work, env));
    }
    const results: ToolResult[] = prepared.map((p, i) => {
      const runs = timings[i];
      return {
        ...p.result,
        restoreSeconds: median(runs.map((r) => r.restoreSeconds)),
        recoverySeconds: median(runs.map((r) => r.recoverySeconds)),
        rtoSeconds: median(runs.map((r) => r.restoreSeconds + r.recoverySeconds)),
        restores: runs,
      };
    });
    const [lb, br] = results;
    const rpoSeconds = o.rpo > 0 ? await measureRpo(work, o.rpo, env) : undefined;
    if (o.json) {
      process.stdout.write(
        `${JSON.stringify({ scale: o.scale, seconds: o.seconds, results, rpoSeconds }, null, 2)}\n`,
      );
      return 0;
    }
    const each = (r: ToolResult) =>
      r.restores.map((t) => (t.restoreSeconds + t.recoverySeconds).toFixed(1)).join(', ');
    const row = (label: string, f: (r: ToolResult) => number, digits = 1, ratio = true) =>
      `| ${label} | ${f(lb).toFixed(digits)} | ${f(br).toFixed(digits)} | ${ratio ? (f(lb) / f(br)).toFixed(2) : ''} |`;
    process.stdout.write(
      [
        `PITR, pgbench scale ${o.scale}, ${o.seconds} s of pgbench after the base backup; restore, recovery and RTO: medians of ${o.restores} alternated restores`,
        '',
        '| | lifeboat | pgbackrest | ratio |',
        '|---|---|---|---|',
        row('WAL backlog (segments)', (r) => r.backlogSegments, 0, false),
        row('archiving: segments/s', (r) => r.segmentsPerSecond),
        row('archiving after the first segment: segments/s', (r) => r.sustainedPerSecond),
        row('base backup (s)', (r) => r.baseBackupSeconds),
        row('restore (s)', (r) => r.restoreSeconds),
        row('recovery until promoted (s)', (r) => r.recoverySeconds),
        row('RTO: restore + recovery (s)', (r) => r.rtoSeconds),
        row('repository (MiB)', (r) => r.repositoryBytes / 2 ** 20, 0),
        '',
        `RTO of each restore (s): lifeboat ${each(lb)}; pgbackrest ${each(br)}`,
        '',
        ...(rpoSeconds === undefined
          ? []
          : [
              `lifeboat RPO with archive_timeout = 60 (killed after ${o.rpo} s of writes): ${rpoSeconds.toFixed(1)} s`,
              '',
            ]),
      ].join('\n'),
    );
    return 0;
  } finally {
    if (!o.keep) rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench:pitr failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
