/**
 * @module sources/mysql/mysql-url
 * Connection settings of a MySQL/MariaDB source from its URL:
 * `mysql://user:pass@host:port/db` or `mysql://user:pass@localhost/db?socket=/run/mysqld/mysqld.sock`.
 * The password stays in this object; `describeServer` is what messages show.
 */
import { LifeboatError } from '../../errors.js';

export interface MysqlConnection {
  host: string;
  port: number;
  /** Unix socket path; when set, host and port are not used. */
  socket?: string;
  user?: string;
  password?: string;
  /** The database named by the URL path, if any. */
  database?: string;
}

const SCHEMES = new Set(['mysql:', 'mariadb:']);
export const DEFAULT_PORT = 3306;

/** Parses a mysql:// (or mariadb://) URL; an empty host (`mysql://u:p@/db?socket=...`) means localhost. */
export function parseMysqlUrl(raw: string): MysqlConnection {
  const url = tryParse(raw) ?? tryParse(raw.replace(/^([a-z]+:\/\/[^/@]*@)\//i, '$1localhost/'));
  if (!url) throw urlError('is not a valid URL (expected mysql://user:password@host:port/database)');
  if (!SCHEMES.has(url.protocol)) {
    throw urlError(`has scheme "${url.protocol.slice(0, -1)}"; expected mysql:// or mariadb://`);
  }
  const socket = url.searchParams.get('socket') ?? undefined;
  for (const key of url.searchParams.keys()) {
    if (key !== 'socket')
      throw urlError(`has an unknown parameter "${key}" (only ?socket=PATH is understood)`);
  }
  const path = decode(url.pathname.replace(/^\//, ''));
  if (path.includes('/')) throw urlError('names more than one path segment; give one database: /DB');
  const port = url.port ? Number(url.port) : DEFAULT_PORT;
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
    port,
    socket: socket || undefined,
    user: url.username ? decode(url.username) : undefined,
    password: url.password ? decode(url.password) : undefined,
    database: path || undefined,
  };
}

/** True when `raw` parses as a mysql URL; the message otherwise, for config validation. */
export function mysqlUrlProblem(raw: string): string | undefined {
  try {
    parseMysqlUrl(raw);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message.replace(/^\[source:mysql\] url /, '') : String(err);
  }
}

/** The same URL naming another database (for units and their recorded config). */
export function urlWithDatabase(raw: string, database: string): string {
  const url = tryParse(raw) ?? tryParse(raw.replace(/^([a-z]+:\/\/[^/@]*@)\//i, '$1localhost/'));
  if (!url) return raw;
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** Where a connection goes, without credentials: "user@127.0.0.1:3306" or "user@/run/mysqld/mysqld.sock". */
export function describeServer(conn: MysqlConnection): string {
  const who = conn.user ? `${conn.user}@` : '';
  if (conn.socket) return `${who}${conn.socket}`;
  const host = conn.host.includes(':') ? `[${conn.host}]` : conn.host;
  return `${who}${host}:${conn.port}`;
}

/** True when both connections reach the same server as the same user. */
export function sameLogin(a: MysqlConnection, b: MysqlConnection): boolean {
  if ((a.user ?? '') !== (b.user ?? '')) return false;
  if (a.socket || b.socket) return a.socket === b.socket;
  return a.host === b.host && a.port === b.port;
}

function tryParse(raw: string): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function urlError(what: string): LifeboatError {
  // Never echo the URL itself: it may carry the password.
  return new LifeboatError('config_invalid', `[source:mysql] url ${what}`);
}
