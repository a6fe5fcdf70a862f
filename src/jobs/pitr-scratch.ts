/**
 * @module jobs/pitr-scratch
 * A physical PostgreSQL source recovered to a point in a scratch cluster, for whoever needs
 * its data at that point without touching a real server: physical drills (to the end of the
 * archive) and `restore --at TIME --table` (to TIME). The base backup is restored with
 * `restoreToPoint` into a temporary folder, a throwaway postgres (as the unprivileged server
 * user when we are root) replays the WAL and promotes; the caller's cleanup stops it and
 * removes the folder, also when a step fails or the process is interrupted.
 *
 * The scratch server runs as `nobody` when Lifeboat runs as root, and `nobody` can neither
 * read the repository's password nor take its locks; so its restore_command is a small relay
 * that asks this process, over a unix socket in the 0700 scratch folder, for each WAL file,
 * and this process runs the real `lifeboat wal-fetch` (as itself) into a staging folder.
 * The relay keeps wal-fetch's exit codes: 0 fetched, 1 not archived (recovery ends there),
 * 200 any other failure (PostgreSQL aborts recovery instead of promoting early).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { systemClock, type WaitingClock } from '../clock.js';
import { describe, LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import { type PostgresServer, postgresUnavailable, startPostgres } from '../scratch/postgres.js';
import { type PitrOutcome, restoreToPoint } from './pitr.js';

/** How long WAL replay may take before the recovery gives up. */
const RECOVERY_TIMEOUT_MS = 30 * 60_000;

export interface ScratchRecoveryRequest {
  source: string;
  /** As restore --at: a time, "latest", name:, lsn: or xid:. */
  at: string;
  /** The source's configured settings (for the user and database to connect as). */
  configured?: Record<string, unknown>;
  /** argv that runs this Lifeboat with the same config: [node, bin, --config FILE]. */
  lifeboatArgv: string[];
  /** Registers the cleanup of what was made, even when a later step fails. */
  onCleanup(cleanup: () => Promise<void>): void;
  /** Paces the wait for promotion (the system clock by default). */
  clock?: WaitingClock;
  /** The component messages name ("drill", "restore"). */
  component: string;
}

export interface ScratchRecovery {
  server: PostgresServer;
  /** The database URL (unix socket, trust) of the first role the recovered cluster knows. */
  url: string;
  user: string;
  database: string;
  /** The base backup restored and the recovery target. */
  point: PitrOutcome;
  /** Time of the last transaction replayed (pg_last_xact_replay_timestamp), else null. */
  lastTransaction: string | null;
  /** WAL position replay reached. */
  lsn: string | null;
  /** WAL files the scratch server fetched from the repository. */
  fetched: number;
}

/** Recovers `source` to `at` in a scratch cluster; `onCleanup` gets what removes it. */
export async function recoverInScratch(
  repo: Repository,
  req: ScratchRecoveryRequest,
): Promise<ScratchRecovery> {
  const clock = req.clock ?? systemClock;
  const why = postgresUnavailable();
  if (why)
    throw new LifeboatError(
      'usage',
      `[${req.component}] no scratch PostgreSQL to recover ${req.source} in: ${why}`,
    );
  const dir = await mkdtemp(join(tmpdir(), `lifeboat-${req.component}-`));
  let server: PostgresServer | undefined;
  let relay: WalRelay | undefined;
  // An interrupted command exits without awaiting anything: the postmaster is told to stop at
  // once and a detached shell removes the folder after it.
  const onExit = () => {
    if (server?.pid) {
      try {
        process.kill(server.pid, 'SIGQUIT');
      } catch {}
    }
    const pid = server?.pid ?? 0;
    spawn(
      '/bin/sh',
      [
        '-c',
        '[ "$1" = 0 ] || for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done; rm -rf "$2"',
        'sh',
        String(pid),
        dir,
      ],
      {
        detached: true,
        stdio: 'ignore',
      },
    ).unref();
  };
  process.once('exit', onExit);
  req.onCleanup(async () => {
    process.removeListener('exit', onExit);
    await server?.stop().catch(() => {});
    await relay?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  // --prefetch 0: the relay's staging folder is no data directory, so a fetch agent has nothing to serve.
  relay = await startWalRelay(dir, [
    ...req.lifeboatArgv,
    '--quiet',
    'wal-fetch',
    '--source',
    req.source,
    '--prefetch',
    '0',
  ]);
  const dataDir = join(dir, 'data');
  const point = await restoreToPoint(repo, {
    source: req.source,
    at: req.at,
    to: dataDir,
    restoreCommand: relay.command,
  });
  // A cluster configured from /etc (Debian) has no postgresql.conf in its data directory.
  if (!existsSync(join(dataDir, 'postgresql.conf'))) await writeFile(join(dataDir, 'postgresql.conf'), '');
  const hba = join(dir, 'scratch_hba.conf');
  await writeFile(hba, 'local all all trust\n');
  const ident = join(dir, 'scratch_ident.conf');
  await writeFile(ident, '');
  try {
    server = await startPostgres({
      existingDir: dir,
      readyTimeoutMs: RECOVERY_TIMEOUT_MS,
      settings: {
        // Only the unix socket in the 0700 scratch folder, with trust: the source's roles and
        // passwords are unknown here, and no other local user may reach the copy.
        listen_addresses: '',
        hba_file: hba,
        ident_file: ident,
        // Ready means promoted: no connections during recovery, and no check that the
        // primary's max_connections and the like are matched.
        hot_standby: 'off',
        // The copy must never archive into the source's WAL archive, nor follow its primary.
        archive_mode: 'off',
        primary_conninfo: '',
        ssl: 'off',
        shared_preload_libraries: '',
      },
    });
  } catch (err) {
    throw new LifeboatError(
      'source_failed',
      `[${req.component}] recovery of ${req.source} to ${point.at} in a scratch cluster failed: ${lastLines(describe(err))} (run \`lifeboat check\`; the archive may end before the target)`,
      { cause: err },
    );
  }
  const { user: users, database } = connectAs(req.configured);
  const { url, user } = await firstUrl(server, users, database, req.component);
  const state = await waitPromoted(url, clock, req.component);
  return {
    server,
    url,
    user,
    database,
    point,
    lastTransaction: state.lastTransaction,
    lsn: state.lsn,
    fetched: relay.fetched,
  };
}

/** The end of a server log: the FATAL that ended start-up, not pages of replay. */
export function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' ').slice(-600);
}

/** The role and database to connect as: the configured source URL's, else postgres/postgres. */
export function connectAs(configured: Record<string, unknown> | undefined): {
  user: string[];
  database: string;
} {
  const users: string[] = [];
  let database = 'postgres';
  if (typeof configured?.url === 'string') {
    try {
      const u = new URL(configured.url);
      if (u.username) users.push(decodeURIComponent(u.username));
      const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
      if (db) database = db;
    } catch {}
  }
  if (!users.includes('postgres')) users.push('postgres');
  return { user: users, database };
}

export function socketUrl(
  server: Pick<PostgresServer, 'socketDir' | 'port'>,
  user: string,
  database: string,
): string {
  return `postgres://${encodeURIComponent(user)}@${encodeURIComponent(server.socketDir)}:${server.port}/${encodeURIComponent(database)}`;
}

/** The first of the candidate roles the restored cluster knows. */
export async function firstUrl(
  server: Pick<PostgresServer, 'socketDir' | 'port'>,
  users: string[],
  database: string,
  component: string,
): Promise<{ url: string; user: string }> {
  const errors: string[] = [];
  for (const user of users) {
    const url = socketUrl(server, user, database);
    try {
      await query(url, 'SELECT 1');
      return { url, user };
    } catch (err) {
      errors.push(`${user}: ${(err as Error).message}`);
    }
  }
  throw new LifeboatError(
    'source_failed',
    `[${component}] cannot connect to the recovered cluster (${errors.join('; ')}); set the source's url to a role that exists in it`,
  );
}

export async function waitPromoted(
  url: string,
  clock: WaitingClock,
  component: string,
): Promise<{ lastTransaction: string | null; lsn: string | null }> {
  const deadline = clock.now().getTime() + RECOVERY_TIMEOUT_MS;
  for (;;) {
    const [row] = await query<{ rec: boolean; ts: Date | null; lsn: string | null }>(
      url,
      'SELECT pg_is_in_recovery() AS rec, pg_last_xact_replay_timestamp() AS ts, pg_last_wal_replay_lsn()::text AS lsn',
    );
    if (!row.rec) return { lastTransaction: row.ts ? new Date(row.ts).toISOString() : null, lsn: row.lsn };
    if (clock.now().getTime() > deadline)
      throw new LifeboatError('source_failed', `[${component}] recovery did not finish in time`);
    await clock.sleep(200);
  }
}

export async function query<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end().catch(() => {});
  }
}

interface WalRelay {
  /** The restore_command to give PostgreSQL. */
  command: string;
  /** WAL files handed over so far. */
  readonly fetched: number;
  close(): Promise<void>;
}

const RELAY_CLIENT = `// Written by lifeboat: PostgreSQL's restore_command in a scratch cluster; asks lifeboat for one WAL file.
import { copyFileSync } from 'node:fs';
import { connect } from 'node:net';
const [socket, name, dest] = process.argv.slice(2);
let reply = '';
const fail = (why) => { process.stderr.write('lifeboat relay: ' + why + '\\n'); process.exit(200); };
const c = connect(socket);
c.setEncoding('utf8');
c.on('error', (e) => fail(e.message));
c.on('data', (d) => { reply += d; });
c.on('end', () => {
  const [status, arg] = reply.trim().split('\\t');
  if (status === 'missing') process.exit(1);
  if (status !== 'ok') fail(arg || 'no answer');
  try { copyFileSync(arg, dest); } catch (e) { fail(e.message); }
  process.exit(0);
});
c.write(name + '\\n');
`;

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function startWalRelay(dir: string, fetchArgv: string[]): Promise<WalRelay> {
  const stage = join(dir, 'wal-stage');
  await mkdir(stage);
  const client = join(dir, 'wal-relay.mjs');
  await writeFile(client, RELAY_CLIENT, { mode: 0o644 });
  const socket = join(dir, 'wal.sock');
  let fetched = 0;
  let seq = 0;
  const server: Server = createServer((conn) => {
    let line = '';
    let staged: string | undefined;
    conn.setEncoding('utf8');
    conn.on('error', () => {});
    conn.on('close', () => {
      if (staged) void rm(staged, { force: true });
    });
    conn.on('data', (d: string) => {
      line += d;
      if (!line.includes('\n')) return;
      const name = line.slice(0, line.indexOf('\n')).trim();
      line = '';
      if (!/^[0-9A-Za-z._-]{1,64}$/.test(name)) {
        conn.end(`error\tnot a WAL file name: ${name.slice(0, 80)}\n`);
        return;
      }
      staged = join(stage, `${++seq}-${name}`);
      const path = staged;
      void runFetch(fetchArgv, name, path).then(async (r) => {
        if (r.code === 0) {
          await chmod(path, 0o644).catch(() => {});
          fetched++;
          conn.end(`ok\t${path}\n`);
        } else if (r.code === 1) {
          conn.end('missing\n');
        } else {
          conn.end(`error\twal-fetch exited ${r.code}: ${r.stderr.trim().split('\n').at(-1) ?? ''}\n`);
        }
      });
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolveListen());
  });
  await chmod(socket, 0o666);
  return {
    command: `${shQuote(process.execPath)} ${shQuote(client)} ${shQuote(socket)} %f %p`,
    get fetched() {
      return fetched;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function runFetch(argv: string[], name: string, path: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(argv[0], [...argv.slice(1), name, path], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    child.on('error', (err) => resolveRun({ code: 127, stderr: err.message }));
    child.on('close', (code) => resolveRun({ code: code ?? 200, stderr }));
  });
}
