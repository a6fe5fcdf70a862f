/**
 * @module scratch/postgres
 * A throwaway PostgreSQL server, for restore drills and tests: initdb into a temporary folder,
 * then postgres on a free loopback port with its unix socket in that folder, fsync off, and
 * password (SCRAM) authentication for a superuser ("lbtest" unless told), so the password-handling path is the
 * real one. PostgreSQL refuses to run as root: as root, the folder is given to `nobody` and
 * the server runs as that user through setpriv. It never touches the machine's own server.
 * (The password is fixed: the server listens on loopback only and lives as long
 * as the drill or test.)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export interface PostgresServer {
  /** postgres://USER:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  /** The folder holding the data directory (`data/`) and the socket. */
  dir: string;
  dataDir: string;
  socketDir: string;
  /** Folder of the server binaries used (initdb, postgres, pg_dump, ...). */
  binDir: string;
  /** Major version of the server binaries. */
  major: number;
  /** The postmaster's pid. */
  pid: number;
  /** The same URL with another database. */
  urlFor(database: string): string;
  /** Fast shutdown, then removes the folder. Safe to call twice, and after kill(). */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster (a crash); the folder stays until stop(). */
  kill(): Promise<void>;
}

const TEST_USER = 'lbtest';
/** Characters that need care in URLs and passfiles, to exercise the escaping. */
const TEST_PASSWORD = 'pw:S3cret@x/y%z';

/** The newest /usr/lib/postgresql/NN/bin holding initdb, or a folder on PATH holding it. */
export function findPostgresBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const majors = readdirSync(base)
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(b) - Number(a));
    for (const m of majors) if (existsSync(join(base, m, 'bin', 'initdb'))) return join(base, m, 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  return null;
}

/** Null when a server can be started here, else why not (for `t.skip`). */
export function postgresUnavailable(): string | null {
  if (!findPostgresBinDir()) return 'initdb not found: apt-get install postgresql';
  if (isRoot() && !existsSync('/usr/bin/setpriv'))
    return 'setpriv not found (needed to run postgres as nobody): apt-get install util-linux';
  return null;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

const NOBODY = { uid: 65534, gid: 65534 };

/** argv prefix that runs a command as `nobody` when we are root. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (!isRoot()) return [command, args];
  return [
    '/usr/bin/setpriv',
    [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', '--', command, ...args],
  ];
}

export async function startPostgres(
  options: {
    settings?: Record<string, string>;
    /** A folder already holding `data/` (e.g. a restored base backup): no initdb; removed by stop(). */
    existingDir?: string;
    /** How long start-up may take (recovery of a restored base backup included); default 30 s. */
    readyTimeoutMs?: number;
    /** The cluster's superuser, made by initdb (default "lbtest"); "postgres" for a cluster as most are deployed. */
    superuser?: string;
  } = {},
): Promise<PostgresServer> {
  const binDir = findPostgresBinDir();
  if (!binDir) throw new Error('initdb not found: apt-get install postgresql');
  const major = Number(/postgresql\/(\d+)\//.exec(`${binDir}/`)?.[1] ?? versionOf(binDir));
  const dir = options.existingDir ?? (await mkdtemp(join(tmpdir(), 'lifeboat-pg-')));
  const dataDir = join(dir, 'data');
  const socketDir = dir;
  const user = options.superuser ?? TEST_USER;
  if (options.existingDir) {
    if (isRoot()) {
      spawnSync('chown', ['-R', `${NOBODY.uid}:${NOBODY.gid}`, dir]);
      await chmod(dir, 0o700);
      await chmod(dataDir, 0o700);
    }
  } else {
    await initCluster(binDir, dir, dataDir, user);
  }
  return launch(
    binDir,
    major,
    dir,
    dataDir,
    socketDir,
    user,
    options.settings,
    options.readyTimeoutMs ?? 30_000,
  );
}

/** Runs the PostgreSQL server as the unprivileged server user when root (argv prefix). */
export function serverUserArgv(command: string, args: string[]): [string, string[]] {
  return asServerUser(command, args);
}

async function initCluster(binDir: string, dir: string, dataDir: string, user: string): Promise<void> {
  if (isRoot()) {
    await chown(dir, NOBODY.uid, NOBODY.gid);
    await chmod(dir, 0o700);
  }
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${TEST_PASSWORD}\n`, { mode: 0o600 });
  if (isRoot()) await chown(pwfile, NOBODY.uid, NOBODY.gid);

  const [initCmd, initArgs] = asServerUser(join(binDir, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    user,
    `--pwfile=${pwfile}`,
    '--auth=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', cwd: dir });
  await rm(pwfile, { force: true });
  if (init.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (exit ${init.status}): ${init.stderr || init.stdout}`);
  }
}

async function launch(
  binDir: string,
  major: number,
  dir: string,
  dataDir: string,
  socketDir: string,
  user: string,
  extra: Record<string, string> | undefined,
  readyTimeoutMs: number,
): Promise<PostgresServer> {
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: socketDir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '40',
    shared_buffers: '64MB',
    logging_collector: 'off',
    ...extra,
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const [cmd, cmdArgs] = asServerUser(join(binDir, 'postgres'), args);
  const child = spawn(cmd, cmdArgs, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    log = (log + d).slice(-8000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitReady(binDir, socketDir, port, child, () => log, readyTimeoutMs);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const host = '127.0.0.1';
  const auth = `${encodeURIComponent(user)}:${encodeURIComponent(TEST_PASSWORD)}`;
  const urlFor = (database: string) => `postgres://${auth}@${host}:${port}/${encodeURIComponent(database)}`;
  let stopped = false;
  return {
    url: urlFor('postgres'),
    host,
    port,
    user,
    password: TEST_PASSWORD,
    dir,
    dataDir,
    socketDir,
    binDir,
    major,
    pid: child.pid ?? 0,
    urlFor,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT'); // fast shutdown
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function versionOf(binDir: string): string {
  const r = spawnSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' });
  return /(\d+)/.exec(r.stdout ?? '')?.[1] ?? '0';
}

async function waitReady(
  binDir: string,
  socketDir: string,
  port: number,
  child: ChildProcess,
  log: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`postgres exited during start-up: ${log()}`);
    }
    const r = spawnSync(join(binDir, 'pg_isready'), ['-q', '-h', socketDir, '-p', String(port)]);
    if (r.status === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`postgres did not become ready within ${Math.round(timeoutMs / 1000)} s: ${log()}`);
}
