/**
 * @module scratch/mariadb
 * A throwaway MariaDB server, for restore drills and tests: mariadb-install-db into a
 * temporary folder, then mariadbd (with --no-defaults, so the machine's own my.cnf and server
 * are never involved) on a free loopback port, its socket in that folder, small InnoDB
 * settings, no binary log, and real password authentication for a test user whose password
 * needs escaping everywhere.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export interface MariadbServer {
  /** mysql://USER:PASSWORD@127.0.0.1:PORT/ (no database; see urlFor). */
  url: string;
  host: string;
  port: number;
  socket: string;
  user: string;
  password: string;
  /** The folder holding the data directory, socket and logs. */
  dir: string;
  dataDir: string;
  /** mariadbd's pid. */
  pid: number;
  /** The URL naming `database`, over TCP. */
  urlFor(database: string): string;
  /** The URL naming `database`, over the unix socket. */
  socketUrlFor(database: string): string;
  /** Runs SQL as root over the socket (no password: root exists only for the harness). */
  rootSql(sql: string): string;
  /** Clean shutdown, then removes the folder. Safe to call twice, and after kill(). */
  stop(): Promise<void>;
  /** SIGKILL to mariadbd (a crash); the folder stays until stop(). */
  kill(): Promise<void>;
}

export const MARIADB_TEST_USER = 'lbtest';
/** Characters that need care in URLs, SQL and option files (#, quotes, backslash, space). */
export const MARIADB_TEST_PASSWORD = `pw#S3"cr\\e't x$@:/%`;

const SERVER_CANDIDATES = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld', '/usr/libexec/mariadbd'];

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

function serverBinary(): string | null {
  return SERVER_CANDIDATES.find((p) => existsSync(p)) ?? onPath('mariadbd') ?? onPath('mysqld');
}

/** Null when a server can be started here, else why not (for SKIPPED). */
export function mariadbUnavailable(): string | null {
  if (!serverBinary()) return 'mariadbd not found: apt-get install mariadb-server';
  if (!onPath('mariadb-install-db') && !onPath('mysql_install_db'))
    return 'mariadb-install-db not found: apt-get install mariadb-server';
  if (!onPath('mariadb') && !onPath('mysql'))
    return 'mariadb client not found: apt-get install mariadb-client';
  if (!onPath('mariadb-dump') && !onPath('mysqldump'))
    return 'mariadb-dump not found: apt-get install mariadb-client';
  return null;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function clientBinary(): string {
  return onPath('mariadb') ?? 'mysql';
}

export async function startMariadb(): Promise<MariadbServer> {
  const why = mariadbUnavailable();
  if (why) throw new Error(`cannot start MariaDB: ${why}`);
  const server = serverBinary()!;
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-mariadb-'));
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const small = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=8M', '--skip-log-bin'];
  const asUser = isRoot() ? ['--user=root'] : [];
  try {
    const install = spawnSync(
      onPath('mariadb-install-db') ?? 'mysql_install_db',
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        // Its own temporary folder, as the server gets: bootstrap temp tables in a shared
        // /tmp once failed to be deleted while other servers started beside it.
        `--tmpdir=${dir}`,
        ...asUser,
        ...small,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (install.status !== 0) {
      throw new Error(`mariadb-install-db failed (${install.status}): ${install.stderr || install.stdout}`);
    }
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const errorLog = join(dir, `error-${attempt}.log`);
      const child = spawn(
        server,
        [
          '--no-defaults',
          `--datadir=${dataDir}`,
          `--socket=${socket}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--pid-file=${join(dir, 'mariadbd.pid')}`,
          `--log-error=${errorLog}`,
          `--tmpdir=${dir}`,
          '--skip-name-resolve',
          '--character-set-server=utf8mb4',
          '--collation-server=utf8mb4_general_ci',
          '--innodb-flush-log-at-trx-commit=2',
          '--innodb-doublewrite=0',
          ...asUser,
          ...small,
        ],
        { stdio: 'ignore' },
      );
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const killOnExit = () => child.kill('SIGKILL');
      process.once('exit', killOnExit);
      const ready = await waitReady(child, socket, exited);
      if (!ready) {
        lastError = await readFile(errorLog, 'utf8').catch(() => '');
        child.kill('SIGKILL');
        await exited;
        process.removeListener('exit', killOnExit);
        if (/bind|address already in use/i.test(lastError)) continue;
        throw new Error(`mariadbd did not start: ${lastError.slice(-2000)}`);
      }
      return finish(child, exited, killOnExit, { dir, dataDir, socket, port });
    }
    throw new Error(`mariadbd did not start after 3 tries: ${lastError.slice(-2000)}`);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function waitReady(child: ChildProcess, socket: string, exited: Promise<void>): Promise<boolean> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !gone) {
    if (existsSync(socket)) {
      const r = spawnSync(
        clientBinary(),
        ['--no-defaults', '-uroot', `--socket=${socket}`, '-e', 'SELECT 1'],
        {
          encoding: 'utf8',
          timeout: 10_000,
        },
      );
      if (r.status === 0) return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!gone) child.kill('SIGKILL');
  return false;
}

function sqlLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function finish(
  child: ChildProcess,
  exited: Promise<void>,
  killOnExit: () => void,
  where: { dir: string; dataDir: string; socket: string; port: number },
): MariadbServer {
  const { dir, dataDir, socket, port } = where;
  const rootSql = (sql: string): string => {
    const r = spawnSync(
      clientBinary(),
      [
        '--no-defaults',
        '-uroot',
        `--socket=${socket}`,
        '--default-character-set=utf8mb4',
        '--batch',
        '--skip-column-names',
      ],
      { input: sql, encoding: 'utf8', timeout: 120_000 },
    );
    if (r.status !== 0) throw new Error(`SQL as root failed: ${r.stderr}`);
    return r.stdout;
  };
  const pw = sqlLiteral(MARIADB_TEST_PASSWORD);
  rootSql(
    [`'${MARIADB_TEST_USER}'@'%'`, `'${MARIADB_TEST_USER}'@'localhost'`]
      .map(
        (u) => `CREATE USER ${u} IDENTIFIED BY ${pw}; GRANT ALL PRIVILEGES ON *.* TO ${u} WITH GRANT OPTION;`,
      )
      .join('\n'),
  );
  const auth = `${encodeURIComponent(MARIADB_TEST_USER)}:${encodeURIComponent(MARIADB_TEST_PASSWORD)}`;
  let stopped = false;
  const waitExit = async (ms: number): Promise<boolean> => {
    if (child.exitCode !== null || child.signalCode !== null) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    });
    try {
      return await Promise.race([exited.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    url: `mysql://${auth}@127.0.0.1:${port}/`,
    host: '127.0.0.1',
    port,
    socket,
    user: MARIADB_TEST_USER,
    password: MARIADB_TEST_PASSWORD,
    dir,
    dataDir,
    pid: child.pid ?? 0,
    urlFor: (database) => `mysql://${auth}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    socketUrlFor: (database) =>
      `mysql://${auth}@localhost/${encodeURIComponent(database)}?socket=${encodeURIComponent(socket)}`,
    rootSql,
    async kill() {
      child.kill('SIGKILL');
      await waitExit(30_000);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!(await waitExit(0))) {
        child.kill('SIGTERM');
        if (!(await waitExit(30_000))) {
          child.kill('SIGKILL');
          await waitExit(10_000);
        }
      }
      process.removeListener('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
