/**
 * @module sources/postgres/postgres-catalog
 * What Lifeboat asks a PostgreSQL server directly (through the `pg` client, never a shell):
 * its version, its databases, rows per table, a digest of the schema, which objects belong to
 * which table (for partial restores), and whether a restore target already holds tables.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { describe, errnoCode, LifeboatError } from '../../errors.js';
import { redact } from '../dump-runner.js';
import { clientConfig, describeTarget, type PgConnection, secretsOf } from './postgres-connection.js';

export type PgClient = pg.Client;

/** Schemas that are the server's own, never user data. */
const SYSTEM_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'`;
/** Objects created by an extension are restored by CREATE EXTENSION, not on their own. */
const NOT_EXTENSION_MEMBER = `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

/** Opens a connection; failures name the target (never the password) and the next step. */
export async function connect(conn: PgConnection, source: string): Promise<PgClient> {
  const client = new pg.Client(clientConfig(conn));
  // A server that goes away while we hold the connection must not crash the process; the
  // failing query or tool reports it.
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw connectError(conn, source, err);
  }
}

function connectError(conn: PgConnection, source: string, err: unknown): LifeboatError {
  const target = describeTarget(conn);
  const code = errnoCode(err);
  let why = redact(describe(err), secretsOf(conn));
  let next = 'check the url of the source';
  if (code === 'ECONNREFUSED') {
    why = 'connection refused';
    next = 'check that the server is running and the host and port in the url';
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    why = `host ${conn.host} not found`;
    next = 'check the host in the url';
  } else if (code === 'ENOENT') {
    why = `no server socket in ${conn.host}`;
    next = 'check that the server is running and the host and port in the url';
  } else if (code === '28P01' || code === '28000') {
    next = 'check the user and password in the url';
  } else if (code === '3D000') {
    next = 'check the database name';
  } else if (/password must be a string/.test(why)) {
    why = 'the server asks for a password and none was given';
    next = 'put it in the url of the source, or set PGPASSWORD, or add it to ~/.pgpass';
  } else if (/timeout/i.test(why)) {
    next = 'check that the host is reachable and the port is right';
  }
  return new LifeboatError(
    'source_unreadable',
    `[source:postgres] cannot connect to ${target} for source "${source}": ${why} (${next})`,
    { cause: err, retryable: code === 'ECONNREFUSED' || /timeout/i.test(why) },
  );
}

/** Runs a query; failures name the source and the target. */
export async function query<T extends pg.QueryResultRow = Record<string, unknown>>(
  client: PgClient,
  sql: string,
  params: unknown[] = [],
  what = 'query',
): Promise<T[]> {
  try {
    return (await client.query<T>(sql, params)).rows;
  } catch (err) {
    throw new LifeboatError('source_failed', `[source:postgres] ${what} failed: ${describe(err)}`, {
      cause: err,
    });
  }
}

export interface ServerInfo {
  versionNum: number;
  version: string;
  encoding: string;
  collate: string;
  ctype: string;
}

export async function serverInfo(client: PgClient): Promise<ServerInfo> {
  const [row] = await query<{
    num: string;
    version: string;
    encoding: string;
    collate: string;
    ctype: string;
  }>(
    client,
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype
       FROM pg_database d WHERE d.datname = current_database()`,
    [],
    'reading the server version',
  );
  return {
    versionNum: Number(row.num),
    version: row.version,
    encoding: row.encoding,
    collate: row.collate,
    ctype: row.ctype,
  };
}

/** Every database one can connect to, templates excluded, by name. */
export async function listDatabases(client: PgClient): Promise<string[]> {
  const rows = await query<{ datname: string }>(
    client,
    'SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname',
    [],
    'listing databases',
  );
  return rows.map((r) => r.datname);
}

export interface TableRows {
  /** Rows per table ("schema.table"): exact, or the planner's estimate for big tables. */
  rows: Record<string, number>;
  /** Tables whose count is the planner's estimate (pg_class.reltuples), not count(*). */
  estimated: string[];
  /** Total size of the tables' main forks, bytes. */
  tableBytes: number;
}

/**
 * Rows per ordinary table (partitions included, partitioned parents not, since their rows
 * live in the partitions): count(*) for tables up to `exactLimit` bytes (pg_relation_size),
 * reltuples above it. Run inside the backup's transaction, so the counts are the dump's.
 */
export async function countRows(client: PgClient, exactLimit: number): Promise<TableRows> {
  const tables = await query<{ schema: string; name: string; bytes: string; reltuples: number }>(
    client,
    `SELECT n.nspname AS schema, c.relname AS name, pg_relation_size(c.oid) AS bytes, c.reltuples
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND ${SYSTEM_SCHEMAS} AND ${NOT_EXTENSION_MEMBER}
      ORDER BY 1, 2`,
    [],
    'listing tables',
  );
  const rows: Record<string, number> = {};
  const estimated: string[] = [];
  let tableBytes = 0;
  const exact: { key: string; sql: string }[] = [];
  for (const t of tables) {
    const key = `${t.schema}.${t.name}`;
    const bytes = Number(t.bytes);
    tableBytes += bytes;
    if (exactLimit >= 0 && (bytes <= exactLimit || t.reltuples < 0)) {
      exact.push({ key, sql: `SELECT count(*) FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}` });
    } else {
      rows[key] = Math.round(t.reltuples);
      estimated.push(key);
    }
  }
  // Many small tables: one round trip per batch.
  for (let i = 0; i < exact.length; i += 50) {
    const batch = exact.slice(i, i + 50);
    const sql = batch.map((b, k) => `SELECT ${k} AS k, (${b.sql}) AS n`).join(' UNION ALL ');
    for (const r of await query<{ k: number; n: string }>(client, sql, [], 'counting rows')) {
      rows[batch[r.k].key] = Number(r.n);
    }
  }
  return { rows, estimated, tableBytes };
}

export async function countLargeObjects(client: PgClient): Promise<number> {
  const [row] = await query<{ n: string }>(
    client,
    'SELECT count(*) AS n FROM pg_largeobject_metadata',
    [],
    'counting large objects',
  );
  return Number(row.n);
}

/**
 * Objects that are not tables but belong to one ("schema.index" -> "table"): indexes and
 * sequences a column owns (serial, identity). A partial restore takes them with their table.
 */
export async function ownedByTable(client: PgClient): Promise<Record<string, string>> {
  const rows = await query<{ schema: string; name: string; tbl: string }>(
    client,
    `SELECT n.nspname AS schema, c.relname AS name, t.relname AS tbl
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${SYSTEM_SCHEMAS} AND ${NOT_EXTENSION_MEMBER}
     UNION ALL
     SELECT n.nspname, c.relname, t.relname
       FROM pg_depend d JOIN pg_class c ON c.oid = d.objid JOIN pg_class t ON t.oid = d.refobjid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
        AND c.relkind = 'S' AND d.deptype IN ('a', 'i') AND ${SYSTEM_SCHEMAS}
      ORDER BY 1, 2`,
    [],
    'listing indexes and sequences',
  );
  return Object.fromEntries(rows.map((r) => [`${r.schema}.${r.name}`, r.tbl]));
}

/**
 * SHA-256 of a canonical listing of the schema: schemas, extensions, types, columns,
 * constraints, indexes, views, functions, triggers, sequences' settings, each as the server's
 * own definition text, sorted. Owners, privileges and OIDs are left out, so a restore into
 * another server or under another owner has the same digest.
 */
export async function schemaDigest(client: PgClient): Promise<string> {
  const parts: string[] = [];
  const add = async (label: string, sql: string) => {
    const rows = await query<{ line: string }>(client, sql, [], `reading the schema (${label})`);
    for (const r of rows) parts.push(`${label} ${r.line}`);
  };
  await add('schema', `SELECT n.nspname AS line FROM pg_namespace n WHERE ${SYSTEM_SCHEMAS}`);
  await add('extension', `SELECT extname AS line FROM pg_extension`);
  await add(
    'relation',
    `SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text || coalesce(' partition ' || pg_get_expr(c.relpartbound, c.oid), '') AS line
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND ${SYSTEM_SCHEMAS}`,
  );
  await add(
    'column',
    `SELECT n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
            || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
            || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
            || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
            || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
            || ' #' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS line
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${SYSTEM_SCHEMAS}`,
  );
  await add(
    'constraint',
    `SELECT n.nspname || '.' || coalesce(c.relname, t.typname) || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid) AS line
       FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
       LEFT JOIN pg_class c ON c.oid = co.conrelid LEFT JOIN pg_type t ON t.oid = co.contypid
      WHERE ${SYSTEM_SCHEMAS}`,
  );
  await add(
    'index',
    `SELECT pg_get_indexdef(i.indexrelid) AS line
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${SYSTEM_SCHEMAS}`,
  );
  await add(
    'view',
    `SELECT n.nspname || '.' || c.relname || ' ' || pg_get_viewdef(c.oid) AS line
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND ${SYSTEM_SCHEMAS}`,
  );
  await add(
    'function',
    `SELECT CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid)
                 ELSE n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || p.prokind::text END AS line
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${SYSTEM_SCHEMAS}
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`,
  );
  await add(
    'trigger',
    `SELECT pg_get_triggerdef(tg.oid) AS line
       FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT tg.tgisinternal AND ${SYSTEM_SCHEMAS}`,
  );
  await add(
    'type',
    `SELECT n.nspname || '.' || t.typname || ' ' || t.typtype::text
            || coalesce(' (' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) || ')', '')
            || coalesce(' range ' || format_type(r.rngsubtype, NULL), '') AS line
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       LEFT JOIN pg_range r ON r.rngtypid = t.oid
      WHERE t.typtype IN ('e', 'r', 'd', 'c') AND ${SYSTEM_SCHEMAS}
        AND NOT (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c'))`,
  );
  await add(
    'sequence',
    `SELECT n.nspname || '.' || c.relname || ' ' || format_type(s.seqtypid, NULL) || ' ' || s.seqstart || ' ' || s.seqincrement
            || ' ' || s.seqmin || ' ' || s.seqmax || ' ' || s.seqcache || ' ' || s.seqcycle AS line
       FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${SYSTEM_SCHEMAS}`,
  );
  parts.sort();
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

/** User tables (any kind) in the target, "schema.table", optionally only in these schemas. */
export async function existingTables(client: PgClient): Promise<string[]> {
  const rows = await query<{ name: string }>(
    client,
    `SELECT n.nspname || '.' || c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'f', 'm', 'v') AND ${SYSTEM_SCHEMAS} AND ${NOT_EXTENSION_MEMBER}
      ORDER BY 1`,
    [],
    'listing tables of the restore target',
  );
  return rows.map((r) => r.name);
}

/** Schemas, extensions and types of a database, as postgres-toc's supportKey names them. */
export async function supportPresent(client: PgClient): Promise<Set<string>> {
  const rows = await query<{ k: string }>(
    client,
    `SELECT 'SCHEMA ' || nspname AS k FROM pg_namespace
     UNION ALL SELECT 'EXTENSION ' || extname FROM pg_extension
     UNION ALL SELECT 'TYPE ' || n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace`,
    [],
    'listing schemas and types of the restore target',
  );
  return new Set(rows.map((r) => r.k));
}

export async function databaseExists(client: PgClient, name: string): Promise<boolean> {
  const rows = await query(
    client,
    'SELECT 1 FROM pg_database WHERE datname = $1',
    [name],
    'looking up the database',
  );
  return rows.length > 0;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
