/**
 * @module jobs/pitr-verify
 * Proof that a data directory restored to a point (jobs/pitr restoreToPoint) recovers to it:
 * PostgreSQL is started on it, as the directory's owner, on a free port with only a unix
 * socket in a private folder; it replays the WAL with the directory's own restore_command,
 * stops at the target and promotes (recovery_target_action); the drill's checks then run
 * (jobs/drill-pitr), the moment actually recovered is read from the server, and the server
 * is stopped cleanly: the directory is left promoted, ready for the user to start.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type WaitingClock } from '../clock.js';
import { LifeboatError } from '../errors.js';
import { freePort } from '../scratch/free-port.js';
import { findPostgresBinDir } from '../scratch/postgres.js';
import { segmentName, segmentNumber, segmentsPerLog, timelineOf } from '../sources/postgres/wal-names.js';
import { type DrillCheckResult, pgAmcheck } from './drill-integrity.js';
import { connectAs, firstUrl, lastLines, query, socketUrl, waitPromoted } from './pitr-scratch.js';

/** How long WAL replay may take before the verification gives up. */
const RECOVERY_TIMEOUT_MS = 30 * 60_000;
/** Tables counted per database (the report lists each). */
const MAX_TABLES = 200;

export interface RecoveryVerifyRequest {
  dataDir: string;
  /** The target as restored: an ISO time for a time target, else "latest", name:, lsn:, xid:. */
  at: string;
  /** When the base backup ended: the data's moment when no transaction is replayed after it. */
  baseEnd?: string;
  /** The source's configured settings (for the role and database to connect as). */
  configured?: Record<string, unknown>;
  clock?: WaitingClock;
  /** The component messages name ("restore", "app"). */
  component: string;
}

export interface RecoveryVerifyOutcome {
  /** The moment recovered: the last transaction replayed, else the base backup's end. */
  recoveredTo: string;
  /** pg_last_xact_replay_timestamp() after promotion, else null (none after the base backup). */
  lastTransaction: string | null;
  lsn: string | null;
  /** Rows per table ("database.schema.table") of the recovered cluster. */
  rows: Record<string, number>;
  checks: DrillCheckResult[];
  ms: number;
}

/** Starts PostgreSQL on `dataDir`, lets it recover and promote, checks it, stops it. */
export async function verifyRecovery(req: RecoveryVerifyRequest): Promise<RecoveryVerifyOutcome> {
  const clock = req.clock ?? systemClock;
  const t0 = clock.now().getTime();
  const binDir = findPostgresBinDir();
  if (!binDir)
    throw new LifeboatError(
      'usage',
      `[${req.component}] cannot verify ${req.dataDir}: no PostgreSQL server binaries found (install postgresql, or restore with --no-verify)`,
    );
  const owner = await stat(join(req.dataDir, 'PG_VERSION'));
  const uid = process.getuid?.() ?? owner.uid;
  if (uid !== 0 && uid !== owner.uid) {
    throw new LifeboatError(
      'usage',
      `[${req.component}] cannot verify ${req.dataDir}: PostgreSQL runs as the data directory's owner (uid ${owner.uid}); run lifeboat as that user or as root, or restore with --no-verify`,
    );
  }
  if (owner.uid === 0) {
    throw new LifeboatError(
      'usage',
      `[${req.component}] cannot verify ${req.dataDir}: it is owned by root, and PostgreSQL does not run as root; restore as the user PostgreSQL runs as (or chown -R that user's uid the folder first), or restore with --no-verify`,
    );
  }
  const label = await readFile(join(req.dataDir, 'backup_label'), 'utf8').catch(() => '');
  const dir = await mkdtemp(join(tmpdir(), `lifeboat-verify-`));
  let child: ChildProcess | undefined;
  const onExit = () => child?.kill('SIGINT');
  process.once('exit', onExit);
  try {
    if (uid === 0) await chown(dir, owner.uid, owner.gid);
    const own = async (name: string, text: string) => {
      await writeFile(join(dir, name), text, { mode: 0o600 });
      if (uid === 0) await chown(join(dir, name), owner.uid, owner.gid);
    };
    await own('verify_hba.conf', 'local all all trust\n');
    await own('verify_ident.conf', '');
    const settings: Record<string, string> = {
      port: String(await freePort()),
      // Only the unix socket in the private folder, with trust: the source's roles and
      // passwords are unknown here, and nobody else may connect before the user starts it.
      listen_addresses: '',
      unix_socket_directories: dir,
      hba_file: join(dir, 'verify_hba.conf'),
      ident_file: join(dir, 'verify_ident.conf'),
      // Ready means promoted; the copy never archives into the source's archive nor follows
      // its primary. These hold for this run only: nothing is written into the directory.
      hot_standby: 'off',
      archive_mode: 'off',
      primary_conninfo: '',
      ssl: 'off',
      shared_preload_libraries: '',
      logging_collector: 'off',
    };
    // A cluster configured from /etc (Debian) has no postgresql.conf in its data directory.
    if (!existsSync(join(req.dataDir, 'postgresql.conf'))) {
      await own('postgresql.conf', '');
      settings.config_file = join(dir, 'postgresql.conf');
    }
    const args = ['-D', req.dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const postgres = join(binDir, 'postgres');
    const [cmd, argv] =
      uid === 0
        ? [
            '/usr/bin/setpriv',
            [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--clear-groups', '--', postgres, ...args],
          ]
        : [postgres, args];
    const server = spawn(cmd, argv, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    child = server;
    let log = '';
    server.stderr?.setEncoding('utf8').on('data', (d: string) => {
      log = (log + d).slice(-64_000);
    });
    const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    let spawnError: string | undefined;
    server.once('error', (err) => {
      spawnError = `cannot start ${cmd}: ${err.message}`;
    });
    const ended = () =>
      spawnError ?? (server.exitCode !== null || server.signalCode !== null ? log : undefined);
    const target = { socketDir: dir, port: Number(settings.port) };
    await waitAccepting(binDir, target, ended, clock, req);
    const { user: users, database } = connectAs(req.configured);
    const { url, user } = await firstUrl(target, users, database, req.component);
    const state = await waitPromoted(url, clock, req.component);
    const recoveryMs = clock.now().getTime() - t0;
    const baseEnd = req.baseEnd ?? /^START TIME: (.*)$/m.exec(label)?.[1];
    const recoveredTo = state.lastTransaction ?? baseEnd ?? 'unknown';
    const checks: DrillCheckResult[] = [
      {
        name: 'recovery finished',
        ok: true,
        detail: `promoted at ${state.lsn ?? '?'}; last transaction ${state.lastTransaction ?? `none after the base backup (ended ${baseEnd ?? '?'})`}`,
        ms: recoveryMs,
      },
      targetCheck(req.at, state.lastTransaction, log),
    ];
    const { rows, amcheckBefore } = await countRows(target, user, url);
    checks.push(await pgAmcheck(url, { allDatabases: true }));
    // pg_amcheck installs amcheck where it is missing: what it added goes again.
    for (const db of Object.keys(amcheckBefore).filter((d) => !amcheckBefore[d]))
      await query(socketUrl(target, user, db), 'DROP EXTENSION IF EXISTS amcheck').catch(() => {});
    checks.push(rowsCheck(rows));
    server.kill('SIGINT'); // fast shutdown: a checkpoint, then a clean stop
    const code = await exited;
    child = undefined;
    if (code !== 0)
      throw new LifeboatError(
        'source_failed',
        `[${req.component}] PostgreSQL on ${req.dataDir} did not stop cleanly after recovery (exit ${code}): ${lastLines(log)}`,
      );
    return {
      recoveredTo,
      lastTransaction: state.lastTransaction,
      lsn: state.lsn,
      rows,
      checks,
      ms: clock.now().getTime() - t0,
    };
  } finally {
    process.removeListener('exit', onExit);
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGINT');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** The rows of the recovered cluster, for the report (a base backup records no counts to compare). */
export function rowsCheck(rows: Record<string, number>): DrillCheckResult {
  const detail = Object.entries(rows)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  return { name: 'rows', ok: true, detail: detail || 'no tables', ms: 0 };
}

/** A time target is reached when no transaction after it was replayed. */
export function targetCheck(at: string, lastTransaction: string | null, log: string): DrillCheckResult {
  const stop = /recovery stopping before (.*)$/m.exec(log)?.[1];
  const t = Date.parse(at);
  if (Number.isNaN(t) || !/^\d{4}-/.test(at)) {
    return {
      name: 'recovery target',
      ok: true,
      detail: `${at}${stop ? `: stopped before ${stop}` : ''}`,
      ms: 0,
    };
  }
  const ok = lastTransaction === null || Date.parse(lastTransaction) <= t;
  return {
    name: 'recovery target',
    ok,
    detail: `${ok ? 'reached' : 'PASSED'} ${at}: last transaction replayed ${lastTransaction ?? 'none'}${stop ? `; stopped before ${stop}` : ''}`,
    ms: 0,
  };
}

/** Waits until the server accepts connections (hot_standby off: once promoted). */
async function waitAccepting(
  binDir: string,
  target: { socketDir: string; port: number },
  /** The server's log once it has ended (or why it could not start), else undefined. */
  ended: () => string | undefined,
  clock: WaitingClock,
  req: RecoveryVerifyRequest,
): Promise<void> {
  const deadline = clock.now().getTime() + RECOVERY_TIMEOUT_MS;
  for (;;) {
    const log = ended();
    if (log !== undefined) {
      const missing = missingSegment(log, req.dataDir, binDir);
      throw new LifeboatError(
        'source_failed',
        `[${req.component}] PostgreSQL on ${req.dataDir} could not recover to ${req.at}: ${reasonOf(log)}${missing ? ` (WAL ${missing} is not in the repository: run \`lifeboat check\`)` : ''}`,
      );
    }
    const r = spawnSync(join(binDir, 'pg_isready'), [
      '-q',
      '-h',
      target.socketDir,
      '-p',
      String(target.port),
    ]);
    if (r.status === 0) return;
    if (clock.now().getTime() > deadline)
      throw new LifeboatError(
        'source_failed',
        `[${req.component}] recovery of ${req.dataDir} did not finish in time`,
      );
    await clock.sleep(200);
  }
}

/** Why the server stopped: its last FATAL or PANIC message, else the end of its log. */
function reasonOf(log: string): string {
  const fatal = [...log.matchAll(/(?:FATAL|PANIC):\s+(.*)$/gm)].at(-1)?.[1];
  return fatal ? fatal.trim() : lastLines(log);
}

/** The segment after the last one restored: where replay ran out of WAL. */
function missingSegment(log: string, dataDir: string, binDir: string): string | undefined {
  const restored = [...log.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].at(-1)?.[1];
  if (!restored) return undefined;
  const control = spawnSync(join(binDir, 'pg_controldata'), ['-D', dataDir], { encoding: 'utf8' });
  const size = Number(/Bytes per WAL segment:\s+(\d+)/.exec(control.stdout ?? '')?.[1] ?? 16 * 1024 * 1024);
  const perLog = segmentsPerLog(size);
  const n = segmentNumber(restored, perLog);
  return n === undefined ? undefined : segmentName(timelineOf(restored), n + 1, perLog);
}

/** Rows of every table of every database (up to MAX_TABLES each), and where amcheck is installed. */
export async function countRows(
  target: { socketDir: string; port: number },
  user: string,
  url: string,
): Promise<{ rows: Record<string, number>; amcheckBefore: Record<string, boolean> }> {
  const rows: Record<string, number> = {};
  const amcheckBefore: Record<string, boolean> = {};
  const dbs = await query<{ datname: string }>(
    url,
    'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname',
  );
  for (const { datname } of dbs) {
    const dbUrl = socketUrl(target, user, datname);
    const [ext] = await query<{ n: string }>(
      dbUrl,
      "SELECT count(*)::text AS n FROM pg_extension WHERE extname = 'amcheck'",
    );
    amcheckBefore[datname] = ext.n !== '0';
    const tables = await query<{ q: string; name: string }>(
      dbUrl,
      `SELECT format('%I.%I', n.nspname, c.relname) AS q, n.nspname || '.' || c.relname AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 2 LIMIT ${MAX_TABLES}`,
    );
    for (const t of tables) {
      const [{ n }] = await query<{ n: string }>(dbUrl, `SELECT count(*)::text AS n FROM ${t.q}`);
      rows[`${datname}.${t.name}`] = Number(n);
    }
  }
  return { rows, amcheckBefore };
}
