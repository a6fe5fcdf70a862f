/**
 * @module sources/mysql/mysql-tools
 * Running mariadb-dump / mysqldump and the mariadb / mysql client through the shared dump
 * runner. The password goes into a private option file passed as `--defaults-extra-file`
 * (the first argument, as the tools require), never on the command line where `ps` shows it.
 */
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, isLifeboatError, LifeboatError } from '../../errors.js';
import { runRestoreTool, type ToolCommand } from '../dump-runner.js';
import { describeServer, type MysqlConnection } from './mysql-url.js';

export const ENGINE = 'mysql';
const PACKAGE = 'mariadb-client';

/** Options every dump takes: one consistent InnoDB snapshot, every object, binary-safe. */
export const DUMP_OPTIONS = [
  '--single-transaction',
  '--routines',
  '--triggers',
  '--events',
  '--hex-blob',
  '--default-character-set=utf8mb4',
  // No tablespace statements: they need the PROCESS privilege and do not belong to one database.
  '--no-tablespaces',
  // Identical data gives an identical dump, so unchanged databases deduplicate completely.
  '--skip-dump-date',
];

/** A login for one job: connection arguments, with the password in a temporary option file. */
export interface MysqlLogin {
  conn: MysqlConnection;
  /** Arguments that select the server and user; `--defaults-extra-file` first when there is one. */
  args: string[];
  secrets: string[];
}

/**
 * Runs `fn` with a login whose option file lives in a private temporary folder (0700, file
 * 0600) that is removed afterwards, whatever happens.
 */
export async function withLogin<T>(conn: MysqlConnection, fn: (login: MysqlLogin) => Promise<T>): Promise<T> {
  const target = conn.socket
    ? [`--socket=${conn.socket}`]
    : [`--host=${conn.host}`, `--port=${conn.port}`, '--protocol=TCP'];
  const user = conn.user ? [`--user=${conn.user}`] : [];
  if (conn.password === undefined) {
    return fn({ conn, args: [...user, ...target], secrets: [] });
  }
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-mysql-'));
  try {
    const file = join(dir, 'client.cnf');
    await writeFile(file, `[client]\npassword=${optionValue(conn.password)}\n`, { mode: 0o600, flag: 'wx' });
    return await fn({
      conn,
      args: [`--defaults-extra-file=${file}`, ...user, ...target],
      secrets: [conn.password],
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A value for an option file: double-quoted (so `#` is not a comment), with the escapes the tools read. */
export function optionValue(value: string): string {
  const escaped = value.replace(/[\\"\n\r\t\b]/g, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      case '\b':
        return '\\b';
      default:
        return `\\${c}`;
    }
  });
  return `"${escaped}"`;
}

export interface MysqlTools {
  dump: string;
  client: string;
}

let cached: Promise<MysqlTools> | undefined;

/**
 * mariadb-dump and mariadb when installed, else mysqldump and mysql. When neither is found the
 * MariaDB names are returned, so the runner's "not found" message names the package.
 */
export function findTools(): Promise<MysqlTools> {
  cached ??= (async () => ({
    dump: (await firstOnPath(['mariadb-dump', 'mysqldump'])) ?? 'mariadb-dump',
    client: (await firstOnPath(['mariadb', 'mysql'])) ?? 'mariadb',
  }))();
  return cached;
}

async function firstOnPath(names: string[]): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d.length > 0);
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {}
    }
  }
  return undefined;
}

export function dumpCommand(
  tools: MysqlTools,
  login: MysqlLogin,
  database: string,
  signal?: AbortSignal,
): ToolCommand {
  return {
    engine: ENGINE,
    command: tools.dump,
    // The tools take no `--`; the source refuses database names that start with "-".
    args: [...login.args, ...DUMP_OPTIONS, database],
    packageHint: PACKAGE,
    secrets: login.secrets,
    signal,
  };
}

/** The client reading SQL on stdin; `database` is its default database. */
export function clientCommand(
  tools: MysqlTools,
  login: MysqlLogin,
  database: string | undefined,
  mode: 'query' | 'load',
): ToolCommand {
  const args = [
    ...login.args,
    '--default-character-set=utf8mb4',
    '--connect-timeout=15',
    ...(mode === 'query'
      ? ['--batch', '--skip-column-names']
      : // A dump may hold NUL bytes and DELIMITER blocks; rows up to 1 GiB (the server's own
        // max_allowed_packet still applies).
        ['--binary-mode', '--max-allowed-packet=1G']),
  ];
  if (database !== undefined) args.push(`--database=${database}`);
  return { engine: ENGINE, command: tools.client, args, packageHint: PACKAGE, secrets: login.secrets };
}

/** Runs SQL through the client and returns its rows, tab-separated fields. */
export async function query(login: MysqlLogin, sql: string, database?: string): Promise<string[][]> {
  const tools = await findTools();
  const out = await runRestoreTool(
    clientCommand(tools, login, database, 'query'),
    once(Buffer.from(sql, 'utf8')),
  );
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

async function* once(chunk: Buffer): AsyncIterable<Buffer> {
  yield chunk;
}

/** A string as a SQL expression that needs no escaping: a hex literal read as utf8mb4. */
export function sqlString(value: string): string {
  if (value === '') return "''";
  return `CONVERT(0x${Buffer.from(value, 'utf8').toString('hex')} USING utf8mb4)`;
}

/** An identifier in backquotes. */
export function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

export function fromHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('utf8');
}

/**
 * Rewrites a tool failure into one message that names the source and the server and says what
 * to do; the tool's own words (passwords blanked by the runner) follow.
 */
export function explainFailure(
  err: unknown,
  source: string,
  conn: MysqlConnection,
  action: string,
): LifeboatError {
  const text = describe(err);
  const detail = text.replace(/^\[source:mysql\] /, '');
  const server = describeServer(conn);
  let hint: string | undefined;
  if (/\b1045\b|Access denied/i.test(text)) {
    hint = `access denied for ${server} (check the user and password in the url of source "${source}")`;
  } else if (/\b(2002|2003|2005)\b|Can't connect|Unknown server host/i.test(text)) {
    hint = `cannot reach the server at ${server} (check that it is running, and the host, port or socket in the url)`;
  } else if (/\b(2006|2013)\b|Lost connection|server has gone away/i.test(text)) {
    hint = `lost the connection to ${server} (the server stopped or the network failed)`;
  } else if (/\b1049\b|Unknown database/i.test(text)) {
    hint = `the database does not exist on ${server}`;
  } else if (/not found: install/.test(text)) {
    hint = 'a client program is missing';
  }
  const code = isLifeboatError(err) ? err.code : 'source_failed';
  return new LifeboatError(
    code === 'internal' ? 'source_failed' : code,
    `[source:mysql] ${action} of source "${source}" failed: ${hint ? `${hint}; ` : ''}${detail}`,
    { cause: err },
  );
}
