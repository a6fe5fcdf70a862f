/**
 * @module sources/postgres/postgres-table-copy
 * The rows of chosen tables copied from one database into the same tables of another, as
 * `restore --table --data-only` loads them from a snapshot (postgres-table-data: one
 * transaction, TRUNCATE + load in replica mode, foreign keys checked, sequences moved forward
 * only): pg_dump --data-only of the tables from the source database into a private file,
 * pg_restore turning its data entries into SQL, psql running it in the target. Used for
 * `restore --at TIME --table T` of a physical source, from the scratch cluster recovered to
 * TIME.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, LifeboatError } from '../../errors.js';
import { runDumpTool, runRestoreTool, type ToolCommand } from '../dump-runner.js';
import { connect, type PgClient, query, quoteIdent, serverInfo } from './postgres-catalog.js';
import {
  describeTarget,
  type PgConnection,
  secretsOf,
  toolConnArgs,
  toolEnv,
} from './postgres-connection.js';
import { dataOnlyScript, tablesWithRows, wrapScript } from './postgres-table-data.js';
import { parseToc } from './postgres-toc.js';
import { clientPackage, majorOf } from './postgres-tools.js';

export interface TableCopyRequest {
  /** Where the rows are read (e.g. the scratch cluster, over its socket). */
  from: PgConnection;
  /** What `from` is, for messages: "db at 2026-12-07T01:04:52Z". */
  fromLabel: string;
  to: PgConnection;
  /** As given: "schema.table" or a bare name unique in `from`. */
  tables: string[];
  /** Replace rows the target tables hold (else a table with rows is refused). */
  overwrite: boolean;
  /** Folder of pg_dump, pg_restore and psql (the scratch server's). */
  binDir: string;
}

export interface TableCopyResult {
  /** Rows loaded per table ("schema.table"), counted in the target after the commit. */
  rows: Record<string, number>;
  target: string;
}

/** Connects to the target and reads its version: a missing or unreachable target fails here, before any work. */
export async function checkCopyTarget(to: PgConnection): Promise<void> {
  const client = await connectTarget(to);
  await client.end().catch(() => {});
}

/** Copies the rows of `tables` from `from` into the same tables of `to` (see the module). */
export async function copyTableRows(req: TableCopyRequest): Promise<TableCopyResult> {
  const target = describeTarget(req.to);
  const source = await connect(req.from, req.fromLabel);
  let tables: string[];
  let expected: Record<string, number>;
  try {
    tables = await resolveTables(source, req.tables, req.fromLabel);
    expected = await countEach(source, tables);
  } finally {
    await source.end().catch(() => {});
  }

  const client = await connectTarget(req.to);
  let serverMajor: number;
  try {
    serverMajor = majorOf((await serverInfo(client)).versionNum);
    const present = await query<{ name: string }>(
      client,
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname || '.' || c.relname = ANY($1) AND c.relkind = 'r'`,
      [tables],
      'looking up the tables',
    );
    const absent = tables.filter((t) => !present.some((p) => p.name === t));
    if (absent.length > 0) {
      throw new LifeboatError(
        'not_found',
        `[restore] --data-only replaces the rows of existing tables, and ${target} does not hold ${absent.join(', ')} (create ${absent.length === 1 ? 'it' : 'them'} there first, e.g. from a snapshot without --data-only)`,
      );
    }
    const clash = await tablesWithRows(client, tables);
    if (clash.length > 0 && !req.overwrite) {
      throw new LifeboatError(
        'target_not_empty',
        `[restore] ${clash.join(', ')} in ${target} ${clash.length === 1 ? 'holds' : 'hold'} rows (pass --overwrite to replace them, or --to another database)`,
      );
    }
  } finally {
    await client.end().catch(() => {});
  }

  const tool = (command: string, conn: PgConnection, args: string[]): ToolCommand => ({
    engine: 'postgres',
    command: join(req.binDir, command),
    args,
    env: toolEnv(conn),
    packageHint: clientPackage(serverMajor),
    secrets: secretsOf(conn),
  });
  const work = await mkdtemp(join(tmpdir(), 'lifeboat-pg-copy-'));
  try {
    const archive = join(work, 'tables.pgdump');
    const only = tables.flatMap((t) => ['--table', quotedName(t)]);
    await runRestoreTool(
      tool('pg_dump', req.from, [
        '--no-password',
        '-Fc',
        '--data-only',
        ...only,
        '-f',
        archive,
        ...toolConnArgs(req.from),
      ]),
      undefined,
    );
    // Only the tables' rows: a sequence the dump holds would be set back to TIME's value.
    await runRestoreTool(
      tool('pg_restore', req.from, ['-l', '-f', join(work, 'toc.list'), archive]),
      undefined,
    );
    const data = parseToc(await readFile(join(work, 'toc.list'), 'utf8')).filter(
      (e) => e.desc === 'TABLE DATA',
    );
    const list = join(work, 'restore.list');
    await writeFile(list, `${data.map((e) => e.line).join('\n')}\n`, { mode: 0o600 });
    const around = await withTarget(req.to, (c) => dataOnlyScript(c, tables));
    const psql = tool('psql', req.to, [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '--no-password',
      ...toolConnArgs(req.to),
      '-f',
      '-',
    ]);
    try {
      await runDumpTool(tool('pg_restore', req.from, ['-L', list, '-f', '-', archive]), (script) =>
        runRestoreTool(psql, wrapScript(script, around)),
      );
    } catch (err) {
      const detail = describe(err).replace(/^\[source:postgres\]\s*/, '');
      const hint = /session_replication_role/.test(detail)
        ? '; --data-only keeps triggers and foreign keys from firing, which needs a superuser or GRANT SET ON PARAMETER session_replication_role'
        : '';
      throw new LifeboatError(
        'source_failed',
        `[restore] loading ${tables.join(', ')} into ${target} failed: ${detail} (it ran in one transaction, so the target is unchanged${hint})`,
        { cause: err },
      );
    }
    const rows = await withTarget(req.to, (c) => countEach(c, tables));
    const diffs = tables.filter((t) => rows[t] !== expected[t]);
    if (diffs.length > 0) {
      throw new LifeboatError(
        'integrity',
        `[restore] ${target} does not hold what was read: ${diffs.map((t) => `${t} has ${rows[t]} rows, ${req.fromLabel} ${expected[t]}`).join('; ')}`,
      );
    }
    return { rows, target };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** "schema.table" for each name: exact, or a bare name found in one schema only. */
async function resolveTables(client: PgClient, names: string[], label: string): Promise<string[]> {
  const all = await query<{ schema: string; name: string }>(
    client,
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'`,
    [],
    'listing tables',
  );
  const full = all.map((t) => `${t.schema}.${t.name}`);
  return names.map((given) => {
    if (full.includes(given)) return given;
    const byName = given.includes('.') ? [] : all.filter((t) => t.name === given);
    if (byName.length === 1) return `${byName[0].schema}.${byName[0].name}`;
    if (byName.length > 1) {
      throw new LifeboatError(
        'usage',
        `[restore] --table ${given} is ambiguous in ${label}: ${byName.map((t) => `${t.schema}.${t.name}`).join(', ')} (give schema.table)`,
      );
    }
    throw new LifeboatError(
      'not_found',
      `[restore] no table ${given} in ${label} (tables then: ${full.slice(0, 20).join(', ') || 'none'}${full.length > 20 ? ', ...' : ''})`,
    );
  });
}

async function countEach(client: PgClient, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const [{ n }] = await query<{ n: string }>(
      client,
      `SELECT count(*)::text AS n FROM ONLY ${quotedName(t)}`,
      [],
      `counting ${t}`,
    );
    out[t] = Number(n);
  }
  return out;
}

/** "schema.table" quoted as an identifier (and as pg_dump's --table pattern, which takes quotes literally). */
function quotedName(t: string): string {
  const dot = t.indexOf('.');
  return `${quoteIdent(t.slice(0, dot))}.${quoteIdent(t.slice(dot + 1))}`;
}

async function connectTarget(to: PgConnection): Promise<PgClient> {
  try {
    return await connect(to, 'restore target');
  } catch (err) {
    throw new LifeboatError(
      'source_unreadable',
      `[restore] cannot reach the target ${describeTarget(to)}: ${describe(err).replace(/^\[source:postgres\] cannot connect to \S+ for source "restore target": /, '')}`,
      { cause: err },
    );
  }
}

async function withTarget<T>(to: PgConnection, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const client = await connectTarget(to);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}
