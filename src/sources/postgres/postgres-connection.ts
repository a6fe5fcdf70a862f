/**
 * @module sources/postgres/postgres-connection
 * A postgres:// URL taken apart once: host, port, user, database, password and the libpq
 * parameters Lifeboat supports. The password only ever leaves this module as PGPASSWORD in a
 * child's environment or as the `pg` client's in-process setting; everything printable
 * (`describeTarget`, tool arguments) is built without it.
 */
import type { ClientConfig } from 'pg';
import { LifeboatError } from '../../errors.js';

export interface PgConnection {
  /** Host name, IP address, or a socket folder (absolute path). */
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** Database named by the URL; undefined when the URL has no path. */
  database?: string;
  /** libpq settings from the query string (sslmode, connect_timeout, ...), by libpq name. */
  params: Record<string, string>;
}

/** Query parameters accepted in the URL, and the libpq environment variable of each. */
const PARAM_ENV: Record<string, string> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  passfile: 'PGPASSFILE',
};

/** Parses a postgres:// or postgresql:// URL; `host` and `port` may also come as query parameters. */
export function parsePgUrl(url: string, what = 'url'): PgConnection {
  let u: URL;
  try {
    // libpq allows an empty host ("postgres://me@/db?host=/run/postgresql"); URL does not.
    u = new URL(url.replace(/^(postgres(?:ql)?:\/\/(?:[^/@]*@)?)(?=[/?]|$)/, '$1localhost'));
  } catch {
    throw new LifeboatError(
      'config_invalid',
      `[source:postgres] ${what} is not a valid URL (expected postgres://user:password@host:port/database)`,
    );
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new LifeboatError(
      'config_invalid',
      `[source:postgres] ${what} must start with postgres:// (got ${u.protocol}//)`,
    );
  }
  const params: Record<string, string> = {};
  let host = decodeURIComponent(u.hostname);
  let port = u.port ? Number(u.port) : 5432;
  for (const [k, v] of u.searchParams) {
    if (k === 'host') host = v;
    else if (k === 'port') port = Number(v);
    else if (k === 'user' || k === 'password' || k === 'dbname') {
      throw new LifeboatError(
        'config_invalid',
        `[source:postgres] ${what}: put the ${k} in the URL itself (postgres://user:password@host:port/database), not in ?${k}=`,
      );
    } else if (Object.hasOwn(PARAM_ENV, k)) params[k] = v;
    else {
      throw new LifeboatError(
        'config_invalid',
        `[source:postgres] ${what}: unsupported parameter "${k}" (supported: host, port, ${Object.keys(PARAM_ENV).join(', ')})`,
      );
    }
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new LifeboatError('config_invalid', `[source:postgres] ${what}: port must be 1-65535`);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const path = u.pathname.replace(/^\//, '');
  return {
    host: host || 'localhost',
    port,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: path ? decodeURIComponent(path) : undefined,
    params,
  };
}

export function withDatabase(conn: PgConnection, database: string): PgConnection {
  return { ...conn, database };
}

/** "host:port/database" (or "user@..."), for messages: never the password. */
export function describeTarget(conn: PgConnection): string {
  const host = conn.host.includes(':') ? `[${conn.host}]` : conn.host;
  return `${host}:${conn.port}/${conn.database ?? ''}`;
}

/**
 * The environment for libpq tools (pg_dump, pg_restore, psql): the password as PGPASSWORD
 * (never argv, which `ps` shows) and the URL's parameters as their PG* variables.
 */
export function toolEnv(conn: PgConnection): Record<string, string> {
  const env: Record<string, string> = {};
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  for (const [k, v] of Object.entries(conn.params)) env[PARAM_ENV[k]] = v;
  return env;
}

/**
 * Connection arguments for libpq tools: -h -p -U and the database as a keyword/value
 * conninfo (`dbname='...'`), so a database name holding "=" or a URL prefix is never read as
 * a connection string. `dbFlag` is "-d" for pg_dump/pg_restore/psql, "-l" for pg_dumpall.
 */
export function toolConnArgs(conn: PgConnection, dbFlag: '-d' | '-l' = '-d'): string[] {
  const args = ['-h', conn.host, '-p', String(conn.port)];
  if (conn.user !== undefined) args.push('-U', conn.user);
  if (conn.database !== undefined) args.push(dbFlag, `dbname=${conninfoQuote(conn.database)}`);
  return args;
}

/** Quotes a value for a libpq keyword/value connection string. */
export function conninfoQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Settings for the `pg` client (catalog queries). */
export function clientConfig(conn: PgConnection): ClientConfig {
  const timeout = conn.params.connect_timeout ? Number(conn.params.connect_timeout) * 1000 : 15_000;
  const mode = conn.params.sslmode;
  const config: ClientConfig = {
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database: conn.database,
    connectionTimeoutMillis: timeout,
    application_name: conn.params.application_name ?? 'lifeboat',
  };
  if (mode === 'require' || mode === 'verify-ca' || mode === 'verify-full') {
    config.ssl = { rejectUnauthorized: mode !== 'require' };
  }
  return config;
}

/** Secrets to blank out of tool output: the password, raw and URL-encoded. */
export function secretsOf(conn: PgConnection): string[] {
  if (!conn.password) return [];
  return [...new Set([conn.password, encodeURIComponent(conn.password)])];
}
