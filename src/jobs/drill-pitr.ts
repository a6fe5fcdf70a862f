/**
 * @module jobs/drill-pitr
 * Drills of physical PostgreSQL sources (point-in-time recovery): the newest base backup is
 * restored with every archived WAL file (`restoreToPoint` at "latest") into a scratch data
 * directory, a throwaway postgres (as the unprivileged server user when we are root) replays
 * the WAL until the archive ends and promotes, and the drill records what it recovered: the
 * time of the last transaction replayed and so the data-loss window (RPO) achieved.
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
import { LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { type PostgresServer, postgresUnavailable, startPostgres } from '../scratch/postgres.js';
import { type DrillCheckResult, pgAmcheck } from './drill-integrity.js';
import { recoveryWindow, restoreToPoint } from './pitr.js';

/** What a physical drill recovered, for the report. */
export interface DrillRecovery {
  /** Time of the last transaction replayed (pg_last_xact_replay_timestamp), else null. */
  lastTransaction: string | null;
  /** The point the data is known to be recovered to: lastTransaction, else the base backup's end. */
  recoveredTo: string;
  /** Data-loss window achieved: drill start minus recoveredTo, in milliseconds (an upper bound). */
  rpoMs: number;
  /** Time the newest archived WAL file was stored (the archive's recoverable window end). */
  archiveEnd: string | null;
  /** WAL files the scratch server fetched from the repository. */
  walFetched: number;
  /** Base backup restored (snapshot id). */
  base: string;
  /** WAL position replay reached. */
  replayLsn: string | null;
}

export interface PhysicalDrillRequest {
  repo: Repository;
  snapshotId: string;
  snapshot: Snapshot;
  /** The source's configured settings (for the user and database to connect as). */
  configured?: Record<string, unknown>;
  /** argv that runs this Lifeboat with the same config: [node, bin, --config FILE]. */
  lifeboatArgv: string[];
  /** When the drill started (the RPO is measured from it). */
  started: Date;
  /** Registers the cleanup of what was made, even when a later step fails. */
  onCleanup(cleanup: () => Promise<void>): void;
  /** Measures the restore and paces the wait for promotion (the system clock by default). */
  clock?: WaitingClock;
}

export interface PhysicalDrillResult {
  /** The scratch database URL (unix socket) checks run against. */
  url: string;
  restoreMs: number;
  recovery: DrillRecovery;
  checks: DrillCheckResult[];
}

/** How long WAL replay may take before the drill gives up. */
const RECOVERY_TIMEOUT_MS = 30 * 60_000;

export async function physicalDrill(req: PhysicalDrillRequest): Promise<PhysicalDrillResult> {
  const { repo, snapshot } = req;
  const clock = req.clock ?? systemClock;
  const now = () => clock.now().getTime();
  const why = postgresUnavailable();
  if (why) throw new LifeboatError('usage', `[drill] no scratch PostgreSQL for a physical drill: ${why}`);
  const source = snapshot.source;
  const window = await recoveryWindow(repo, (await repo.scanSnapshots()).snapshots, source);
  const newest = window.bases.at(-1);
  if (newest && newest.id !== req.snapshotId) {
    throw new LifeboatError(
      'usage',
      `[drill] ${source} is a physical source: a drill restores its newest base backup (${newest.id.slice(0, 8)}) and replays every archived WAL file; snapshot ${req.snapshotId.slice(0, 8)} is an older base backup`,
    );
  }

  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-drill-'));
  let server: PostgresServer | undefined;
  let relay: WalRelay | undefined;
  req.onCleanup(async () => {
    await server?.stop().catch(() => {});
    await relay?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  const t0 = now();
  // --prefetch 0: the relay's staging folder is no data directory, so a fetch agent has nothing to serve.
  relay = await startWalRelay(dir, [
    ...req.lifeboatArgv,
    '--quiet',
    'wal-fetch',
    '--source',
    source,
    '--prefetch',
    '0',
  ]);
  const dataDir = join(dir, 'data');
  await restoreToPoint(repo, { source, at: 'latest', to: dataDir, restoreCommand: relay.command });
  // A cluster configured from /etc (Debian) has no postgresql.conf in its data directory.
  if (!existsSync(join(dataDir, 'postgresql.conf'))) await writeFile(join(dataDir, 'postgresql.conf'), '');
  const hba = join(dir, 'drill_hba.conf');
  await writeFile(hba, 'local all all trust\n');
  const ident = join(dir, 'drill_ident.conf');
  await writeFile(ident, '');
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
  const { user, database } = connectAs(req.configured);
  const url = await firstUrl(server, user, database);
  const state = await waitPromoted(url, clock);
  const restoreMs = now() - t0;

  const baseEnd = String(window.bases.at(-1)?.snapshot.meta.endTime ?? snapshot.time);
  const recoveredTo = state.lastTransaction ?? baseEnd;
  const recovery: DrillRecovery = {
    lastTransaction: state.lastTransaction,
    recoveredTo,
    rpoMs: Math.max(0, req.started.getTime() - Date.parse(recoveredTo)),
    archiveEnd: window.to ?? null,
    walFetched: relay.fetched,
    base: req.snapshotId,
    replayLsn: state.lsn,
  };
  const checks: DrillCheckResult[] = [
    {
      name: 'recovery finished',
      ok: true,
      detail: `promoted after replaying ${relay.fetched} WAL file(s) to ${state.lsn ?? '?'}; last transaction ${state.lastTransaction ?? 'none after the base backup'}`,
      ms: restoreMs,
    },
    await pgAmcheck(url, { allDatabases: true }),
  ];
  return { url, restoreMs, recovery, checks };
}

/** The role and database to connect as: the configured source URL's, else postgres/postgres. */
function connectAs(configured: Record<string, unknown> | undefined): { user: string[]; database: string } {
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

function socketUrl(server: PostgresServer, user: string, database: string): string {
  return `postgres://${encodeURIComponent(user)}@${encodeURIComponent(server.socketDir)}:${server.port}/${encodeURIComponent(database)}`;
}

/** The first of the candidate roles the restored cluster knows. */
async function firstUrl(server: PostgresServer, users: string[], database: string): Promise<string> {
  const errors: string[] = [];
  for (const user of users) {
    const url = socketUrl(server, user, database);
    try {
      await query(url, 'SELECT 1');
      return url;
    } catch (err) {
      errors.push(`${user}: ${(err as Error).message}`);
    }
  }
  throw new LifeboatError(
    'source_failed',
    `[drill] cannot connect to the recovered cluster (${errors.join('; ')}); set the source's url to a role that exists in it`,
  );
}

async function waitPromoted(
  url: string,
  clock: WaitingClock,
): Promise<{ lastTransaction: string | null; lsn: string | null }> {
  const deadline = clock.now().getTime() + RECOVERY_TIMEOUT_MS;
  for (;;) {
    const [row] = await query<{ rec: boolean; ts: Date | null; lsn: string | null }>(
      url,
      'SELECT pg_is_in_recovery() AS rec, pg_last_xact_replay_timestamp() AS ts, pg_last_wal_replay_lsn()::text AS lsn',
    );
    if (!row.rec) return { lastTransaction: row.ts ? new Date(row.ts).toISOString() : null, lsn: row.lsn };
    if (clock.now().getTime() > deadline)
      throw new LifeboatError('source_failed', '[drill] recovery did not finish in time');
    await clock.sleep(200);
  }
}

async function query<T>(url: string, text: string): Promise<T[]> {
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

const RELAY_CLIENT = `// Written by lifeboat drill: PostgreSQL's restore_command; asks the drill for one WAL file.
import { copyFileSync } from 'node:fs';
import { connect } from 'node:net';
const [socket, name, dest] = process.argv.slice(2);
let reply = '';
const fail = (why) => { process.stderr.write('lifeboat drill relay: ' + why + '\\n'); process.exit(200); };
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
