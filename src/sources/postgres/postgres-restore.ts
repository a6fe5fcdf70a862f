/**
 * @module sources/postgres/postgres-restore
 * Restore of one database snapshot with pg_restore: into the original database or any other
 * (created when missing), refusing a target that holds tables unless --overwrite (then
 * `--clean --if-exists`), optionally only some tables or schemas. By default the archive is
 * streamed into one pg_restore in a single transaction (all or nothing); with `jobs: N` it is
 * written to a private temporary file first, since `pg_restore -j` needs a seekable file.
 * Afterwards the row counts and the schema digest are checked against the snapshot's.
 * Replacing tables of a live database also drops and re-creates, from the snapshot, what
 * depends on them (views, functions, other tables' foreign keys), and refuses before any
 * change when the snapshot does not hold one; `dataOnly` replaces only their rows
 * (postgres-table-data). `createRoles` first creates the roles the archive names that the
 * target lacks (postgres-roles), for drills without the globals.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, isLifeboatError, LifeboatError } from '../../errors.js';
import { damagedArtifact, loadArtifacts, readArtifact } from '../artifact.js';
import { runDumpTool, runRestoreTool, type ToolCommand } from '../dump-runner.js';
import type { DamagedRange, RestoreContext, RestoreOptions, RestoreResult, TreeNode } from '../source.js';
import { archiveEntryAt } from './postgres-archive-blocks.js';
import { writeSeekableArchive } from './postgres-archive-offsets.js';
import {
  connect,
  countLargeObjects,
  countRows,
  databaseExists,
  existingTables,
  type PgClient,
  query,
  quoteIdent,
  quoteLiteral,
  schemaDigest,
  serverInfo,
  supportPresent,
} from './postgres-catalog.js';
import {
  describeTarget,
  type PgConnection,
  parsePgUrl,
  secretsOf,
  toolConnArgs,
  toolEnv,
  withDatabase,
} from './postgres-connection.js';
import { dependentsOf } from './postgres-dependents.js';
import { archiveRoles, createMissingRoles, ROLE_NAMING } from './postgres-roles.js';
import type { PostgresSourceRef } from './postgres-schema.js';
import { dataOnlyScript, tablesWithRows, wrapScript } from './postgres-table-data.js';
import {
  type Dependent,
  dependentEntries,
  describeEntry,
  missingSupport,
  parseToc,
  selectEntries,
  splitName,
  type TocEntry,
} from './postgres-toc.js';
import { checkedTool, clientPackage, majorOf } from './postgres-tools.js';

/**
 * Where to restore. `to` may be a postgres:// URL (its database, or the snapshot's when it
 * names none), or a bare database name on the source's server. A URL without a user, on the
 * source's host and port, uses the source's credentials.
 */
export function restoreTarget(configUrl: string, database: string, to: string | undefined): PgConnection {
  const origin = parsePgUrl(configUrl);
  if (to === undefined) return withDatabase(origin, database);
  if (!/^postgres(ql)?:\/\//.test(to)) return withDatabase(origin, to);
  const target = parsePgUrl(to, '--to');
  const sameServer = target.host === origin.host && target.port === origin.port;
  const withCreds =
    target.user === undefined && sameServer
      ? { ...target, user: origin.user, password: origin.password }
      : target;
  return withDatabase(withCreds, target.database ?? database);
}

export async function restoreDatabase(
  source: PostgresSourceRef,
  ctx: RestoreContext,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const database = typeof ctx.meta.database === 'string' ? ctx.meta.database : undefined;
  if (!database) {
    throw new LifeboatError(
      'repo_corrupt',
      `[source:postgres] snapshot of ${source.name} does not name its database (run lifeboat check)`,
    );
  }
  if ((options.include?.length ?? 0) > 0) {
    throw new LifeboatError(
      'usage',
      '[source:postgres] --include applies to files sources; use --table or --schema for a database',
    );
  }
  const node = await pickArchive(ctx, source.name);
  const conn = restoreTarget(source.config.url, database, options.to);
  const target = describeTarget(conn);
  const tables = options.tables ?? [];
  const schemas = options.schemas ?? [];
  const partial = tables.length > 0 || schemas.length > 0;
  const dataOnly = options.dataOnly === true;
  if (dataOnly && !partial) {
    throw new LifeboatError(
      'usage',
      '[source:postgres] --data-only replaces the rows of chosen tables: name them with --table or --schema',
    );
  }

  // The server: is the database there, and what does it hold?
  const admin = await connectAdmin(conn, source.name);
  let exists: boolean;
  let serverMajor: number;
  try {
    serverMajor = majorOf((await serverInfo(admin)).versionNum);
    exists = await databaseExists(admin, conn.database ?? database);
  } finally {
    await admin.end().catch(() => {});
  }
  const existing = exists ? await withClient(conn, source.name, existingTables) : [];

  const pgRestore = await checkedTool('pg_restore', {
    binDir: source.config.bin_dir,
    serverMajor,
    source: source.name,
    needed:
      typeof ctx.meta.pgDumpMajor === 'number'
        ? { major: ctx.meta.pgDumpMajor, text: String(ctx.meta.pgDumpVersion ?? ctx.meta.pgDumpMajor) }
        : undefined,
  });
  const tool = (args: string[]): ToolCommand => ({
    engine: 'postgres',
    command: pgRestore.path,
    args,
    env: toolEnv(conn),
    packageHint: clientPackage(serverMajor),
    secrets: secretsOf(conn),
  });

  const work = await mkdtemp(join(tmpdir(), 'lifeboat-pg-restore-'));
  try {
    // The table of contents: for listings, partial restores and the roles it names.
    let toc: TocEntry[] | undefined;
    if (partial || options.dryRun || options.createRoles) {
      toc = await readToc(ctx, node, tool, join(work, 'toc.list'));
    }
    let plan: PartialPlan = { dataTables: [], recreated: [], clash: [], missing: [] };
    if (partial && toc) {
      plan = await planPartial({
        toc,
        tables,
        schemas,
        dataOnly,
        ctx,
        conn,
        source,
        exists,
        existing,
        target,
      });
      if (plan.clash.length > 0 && !options.overwrite) throw notEmpty(target, plan.clash);
      if (plan.missing.length > 0) throw dependentsRefused(target, plan.missing);
    } else if (existing.length > 0 && !options.overwrite) {
      throw notEmpty(target, existing);
    }
    const { chosen, scopeTables, recreated, dataTables } = plan;

    const expected = ctx.stats.rows ?? {};
    if (options.dryRun) {
      const entries = chosen ?? toc ?? [];
      const items = entries.map((e) => {
        const line = describeEntry(e);
        const key = `${e.schema}.${e.rest.split(' ')[0]}`;
        return e.desc === 'TABLE DATA' && expected[key] !== undefined
          ? `${line} (${rowsText(expected[key])})`
          : line;
      });
      if (!exists) items.unshift(`CREATE DATABASE ${conn.database}`);
      items.push(...recreated.map(recreatedItem));
      return { target, items, stats: scopedStats(ctx, scopeTables) };
    }

    let created = false;
    let damage: DamagedRange | undefined;
    if (!exists) {
      await createDatabase(conn, source.name, ctx.meta);
      created = true;
    }
    let rolesCreated: string[] = [];
    const notes: string[] = [];
    try {
      if (options.createRoles && toc) {
        const named = await readRoleSql(ctx, node, tool, toc, work);
        const roles = archiveRoles(chosen ?? toc, named);
        rolesCreated = await withClient(conn, source.name, (c) => createMissingRoles(c, roles));
      }
      ctx.progress.start(`restore ${source.name}`, node.size);
      // The first damaged chunk ends the read (its zeros are never passed on), remembered
      // so that the table its bytes held can be named.
      const onDamaged = (d: DamagedRange): never => {
        damage = d;
        throw damagedArtifact(node, d);
      };
      const stream = () => counted(readArtifact(ctx.store, node, onDamaged), (n) => ctx.progress.advance(n));
      const list = join(work, 'restore.list');
      if (chosen) await writeFile(list, `${chosen.map((e) => e.line).join('\n')}\n`, { mode: 0o600 });
      if (dataOnly) {
        const around = await withClient(conn, source.name, (c) => dataOnlyScript(c, dataTables));
        const psql = await checkedTool('psql', {
          binDir: source.config.bin_dir,
          serverMajor,
          source: source.name,
        });
        const psqlArgs = [
          '-X',
          '-q',
          '-v',
          'ON_ERROR_STOP=1',
          '--no-password',
          ...toolConnArgs(conn),
          '-f',
          '-',
        ];
        // pg_restore turns the data entries into SQL (no connection); psql runs it inside our transaction.
        await runDumpTool(
          tool(['-L', list, '-f', '-']),
          (script) => runRestoreTool({ ...tool(psqlArgs), command: psql.path }, wrapScript(script, around)),
          stream(),
        );
      } else {
        const args = ['--no-password', '--exit-on-error', ...toolConnArgs(conn)];
        if (options.overwrite) args.push('--clean', '--if-exists');
        if (chosen) args.push('-L', list);
        const jobs = source.config.jobs ?? 1;
        const parallel = jobs > 1 && parallelHelps(ctx.stats.rows ?? {}, scopeTables);
        if (jobs > 1 && !parallel) {
          notes.push(`jobs: ${jobs} not used: fewer than two large tables, so the archive was streamed`);
        }
        if (parallel) {
          // pg_restore -j needs a seekable file, with its data offsets filled in so each worker
          // seeks to its table; it is private (0600 in a 0700 folder) and removed.
          const file = join(work, 'archive.pgdump');
          await writeSeekableArchive(stream(), file);
          await runRestoreTool(tool([...args, '-j', String(jobs), file]), undefined);
        } else {
          // One transaction: a failure leaves the target as it was.
          await runRestoreTool(tool([...args, '--single-transaction']), stream());
        }
      }
      ctx.progress.done();
    } catch (err) {
      ctx.progress.done();
      if (created) await dropDatabase(conn, source.name).catch(() => {});
      const held = damage && (await archiveEntryAt(ctx.store.readContent(node.content ?? []), damage.start));
      throw restoreFailed(source.name, target, err, created, held);
    }

    const check = await withClient(conn, source.name, (c) => verify(c, ctx, scopeTables));
    if (check.diffs.length > 0) {
      throw new LifeboatError(
        'integrity',
        `[source:postgres] ${target} does not match snapshot of ${source.name} after the restore: ${check.diffs.slice(0, 5).join('; ')} (run lifeboat check --read-data)`,
      );
    }
    const items = [
      ...rolesCreated.map((r) => `ROLE ${r} (created NOLOGIN: the target had no such role)`),
      ...recreated.map(recreatedItem),
      ...Object.entries(check.rows).map(([t, n]) => `${t}: ${rowsText(n)}`),
    ];
    if (check.schemaMatches === false) {
      items.push(
        'schema digest differs from the snapshot (objects outside the snapshot, or another server version)',
      );
    }
    return {
      target,
      items,
      stats: {
        rows: check.rows,
        tables: Object.keys(check.rows).length,
        bytes: node.size,
        ...(check.schemaMatches === undefined ? {} : { schemaMatches: check.schemaMatches }),
        ...(check.largeObjects === undefined ? {} : { largeObjects: check.largeObjects }),
        ...(options.createRoles ? { rolesCreated } : {}),
        ...(notes.length > 0 ? { warnings: notes } : {}),
      },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Whether `pg_restore -j` can beat the stream: its workers load one table each, so it needs
 * two or more tables each holding at least a tenth of the rows; otherwise writing the whole
 * archive to a file first only adds time.
 */
export function parallelHelps(rows: Record<string, number>, scope?: string[]): boolean {
  const counts = Object.entries(rows)
    .filter(([t]) => !scope || scope.includes(t))
    .map(([, n]) => n);
  const total = counts.reduce((a, b) => a + b, 0);
  return total > 0 && counts.filter((n) => n * 10 >= total).length >= 2;
}

/** What a --table or --schema restore does. */
interface PartialPlan {
  /** The entries to restore, in archive order. */
  chosen?: TocEntry[];
  /** The tables and views they create (or, data-only, whose rows they load). */
  scopeTables?: string[];
  /** Data-only: the tables whose rows are replaced. */
  dataTables: string[];
  /** Objects depending on replaced tables, dropped and re-created from the snapshot. */
  recreated: Dependent[];
  /** What the target already holds that the restore would replace (needs --overwrite). */
  clash: string[];
  /** Dependents the snapshot cannot re-create: the restore is refused. */
  missing: Dependent[];
}

async function planPartial(p: {
  toc: TocEntry[];
  tables: string[];
  schemas: string[];
  dataOnly: boolean;
  ctx: RestoreContext;
  conn: PgConnection;
  source: PostgresSourceRef;
  exists: boolean;
  existing: string[];
  target: string;
}): Promise<PartialPlan> {
  const { toc, schemas, conn, existing } = p;
  const name = p.source.name;
  const owned = ownedMap(p.ctx.meta.owned);
  const sel = resolveSelection(toc, p.tables, schemas, name);
  const picked = new Set(selectEntries(toc, { tables: sel.tables, schemas, owned }));
  const pickedTables = tocTables(toc.filter((e) => e.desc === 'TABLE' && picked.has(e)));
  if (p.dataOnly) {
    const data = toc.filter((e) => e.desc === 'TABLE DATA' && picked.has(e));
    // A partitioned table has no rows of its own: its partitions do.
    const withData = new Set(data.map((e) => `${e.schema}.${tagOf(e)}`));
    const noRows = sel.tables.filter((t) => !withData.has(t));
    if (noRows.length > 0) {
      throw new LifeboatError(
        'usage',
        `[source:postgres] the snapshot holds no rows of ${noRows.join(', ')} of their own (a partitioned table: name its partitions with --table)`,
      );
    }
    const dataTables = pickedTables.filter((t) => withData.has(t));
    const absent = dataTables.filter((t) => !existing.includes(t));
    if (absent.length > 0) throw dataOnlyNeedsTables(p.target, absent);
    return {
      chosen: data,
      scopeTables: dataTables,
      dataTables,
      recreated: [],
      clash: await withClient(conn, name, (c) => tablesWithRows(c, dataTables)),
      missing: [],
    };
  }
  const present = p.exists ? await withClient(conn, name, supportPresent) : new Set<string>();
  for (const e of missingSupport(toc, present)) picked.add(e);
  const scopeTables = tocTables(toc.filter((e) => picked.has(e)));
  // Tables about to be dropped: what depends on them comes back from the snapshot, or nothing happens.
  const replaced = pickedTables.filter((t) => existing.includes(t));
  const deps = replaced.length > 0 ? await withClient(conn, name, (c) => dependentsOf(c, replaced)) : [];
  const found = dependentEntries(toc, deps, owned);
  for (const e of found.entries) picked.add(e);
  return {
    chosen: toc.filter((e) => picked.has(e)),
    scopeTables,
    dataTables: [],
    recreated: deps.filter((d) => !found.missing.includes(d)),
    clash: existing.filter((t) => scopeTables.includes(t)),
    missing: found.missing,
  };
}

async function pickArchive(ctx: RestoreContext, source: string): Promise<TreeNode> {
  const nodes = await loadArtifacts(ctx.store, ctx.root);
  const wanted = typeof ctx.meta.artifact === 'string' ? ctx.meta.artifact : undefined;
  const node = nodes.find((n) => n.name === wanted) ?? (nodes.length === 1 ? nodes[0] : undefined);
  if (!node) {
    throw new LifeboatError(
      'repo_corrupt',
      `[source:postgres] snapshot of ${source} holds no pg_dump archive (run lifeboat check)`,
    );
  }
  return node;
}

/** A connection to the target server outside the target database (which may not exist). */
async function connectAdmin(conn: PgConnection, source: string): Promise<PgClient> {
  try {
    return await connect(withDatabase(conn, 'postgres'), source);
  } catch (err) {
    if (!/3D000|does not exist/.test(describe(err))) throw err;
    return connect(withDatabase(conn, 'template1'), source);
  }
}

async function withClient<T>(
  conn: PgConnection,
  source: string,
  fn: (c: PgClient) => Promise<T>,
): Promise<T> {
  const client = await connect(conn, source);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** pg_restore -l into a file (a listing can exceed what a pipe buffer is kept for). */
async function readToc(
  ctx: RestoreContext,
  node: TreeNode,
  tool: (args: string[]) => ToolCommand,
  file: string,
): Promise<TocEntry[]> {
  await runRestoreTool(tool(['-l', '-f', file]), readArtifact(ctx.store, node));
  return parseToc(await readFile(file, 'utf8'));
}

/** The tables ("schema.table") a list of entries creates. */
function tocTables(entries: TocEntry[]): string[] {
  return entries
    .filter(
      (e) =>
        e.desc === 'TABLE' ||
        e.desc === 'FOREIGN TABLE' ||
        e.desc === 'VIEW' ||
        e.desc === 'MATERIALIZED VIEW',
    )
    .map((e) => `${e.schema}.${tagOf(e)}`);
}

function tagOf(e: TocEntry): string {
  const words = e.rest.trimEnd().split(' ');
  return words.length > 1 ? words.slice(0, -1).join(' ') : (words[0] ?? '');
}

/** Checks --table and --schema names against the archive; a bare table name must be unique. */
function resolveSelection(
  toc: TocEntry[],
  tables: string[],
  schemas: string[],
  source: string,
): { tables: string[] } {
  const all = tocTables(toc.filter((e) => e.desc === 'TABLE'));
  const resolved: string[] = [];
  for (const t of tables) {
    if (all.includes(t)) {
      resolved.push(t);
      continue;
    }
    const byName = t.includes('.') ? [] : all.filter((k) => splitName(k)[1] === t);
    if (byName.length === 1) resolved.push(byName[0]);
    else if (byName.length > 1) {
      throw new LifeboatError(
        'usage',
        `[source:postgres] --table ${t} is ambiguous in ${source}: ${byName.join(', ')} (give schema.table)`,
      );
    } else {
      throw new LifeboatError(
        'not_found',
        `[source:postgres] no table ${t} in the snapshot of ${source} (tables: ${all.slice(0, 20).join(', ') || 'none'}${all.length > 20 ? ', ...' : ''})`,
      );
    }
  }
  for (const s of schemas) {
    if (!toc.some((e) => e.schema === s || (e.desc === 'SCHEMA' && tagOf(e) === s))) {
      throw new LifeboatError('not_found', `[source:postgres] no schema ${s} in the snapshot of ${source}`);
    }
  }
  return { tables: resolved };
}

/** The SQL of the entries that name roles besides their owner (privileges, policies). */
async function readRoleSql(
  ctx: RestoreContext,
  node: TreeNode,
  tool: (args: string[]) => ToolCommand,
  toc: TocEntry[],
  work: string,
): Promise<string> {
  const naming = toc.filter((e) => ROLE_NAMING.has(e.desc));
  if (naming.length === 0) return '';
  const list = join(work, 'roles.list');
  const file = join(work, 'roles.sql');
  await writeFile(list, `${naming.map((e) => e.line).join('\n')}\n`, { mode: 0o600 });
  await runRestoreTool(tool(['-L', list, '-f', file]), readArtifact(ctx.store, node));
  return readFile(file, 'utf8');
}

function recreatedItem(d: Dependent): string {
  return `${d.what}: dropped and re-created from the snapshot (it depends on ${d.on})`;
}

function dependentsRefused(target: string, missing: Dependent[]): LifeboatError {
  const shown = missing
    .slice(0, 5)
    .map((d) =>
      d.kind === 'other'
        ? `${d.what} depends on ${d.on} and cannot be dropped and re-created on its own`
        : `${d.what} depends on ${d.on} and is not in the snapshot`,
    );
  if (missing.length > 5) shown.push(`and ${missing.length - 5} more`);
  return new LifeboatError(
    'target_not_empty',
    `[source:postgres] ${shown.join('; ')} (use --data-only to replace only the rows, or drop ${missing.length === 1 ? 'it' : 'them'} first; ${target} was not changed)`,
  );
}

function dataOnlyNeedsTables(target: string, tables: string[]): LifeboatError {
  return new LifeboatError(
    'not_found',
    `[source:postgres] --data-only replaces the rows of existing tables, and ${target} does not hold ${tables.join(', ')} (restore without --data-only to create them)`,
  );
}

function ownedMap(value: unknown): Record<string, string> {
  return value && typeof value === 'object' ? (value as Record<string, string>) : {};
}

function notEmpty(target: string, tables: string[]): LifeboatError {
  const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ` and ${tables.length - 5} more` : '');
  return new LifeboatError(
    'target_not_empty',
    `[source:postgres] restore target ${target} is not empty: it has ${shown} (pass --overwrite to replace them, or --to another database)`,
  );
}

async function createDatabase(
  conn: PgConnection,
  source: string,
  meta: Record<string, unknown>,
): Promise<void> {
  const name = quoteIdent(conn.database ?? '');
  const admin = await connectAdmin(conn, source);
  try {
    const encoding = typeof meta.encoding === 'string' ? ` ENCODING ${quoteLiteral(meta.encoding)}` : '';
    const locale =
      typeof meta.collate === 'string' && typeof meta.ctype === 'string'
        ? ` LC_COLLATE ${quoteLiteral(meta.collate)} LC_CTYPE ${quoteLiteral(meta.ctype)}`
        : '';
    try {
      await query(
        admin,
        `CREATE DATABASE ${name} TEMPLATE template0${encoding}${locale}`,
        [],
        'creating the database',
      );
    } catch (err) {
      // The source's locale may not exist on this server: its default locale will do.
      if (!locale || !/locale|collation|LC_/i.test(describe(err))) throw err;
      await query(
        admin,
        `CREATE DATABASE ${name} TEMPLATE template0${encoding}`,
        [],
        'creating the database',
      );
    }
  } catch (err) {
    throw new LifeboatError(
      'source_failed',
      `[source:postgres] cannot create database ${describeTarget(conn)} for ${source}: ${describe(err).replace(/^\[source:postgres\]\s*/, '')} (the user needs CREATEDB, or create it first)`,
      { cause: err },
    );
  } finally {
    await admin.end().catch(() => {});
  }
}

async function dropDatabase(conn: PgConnection, source: string): Promise<void> {
  await withClient(withDatabase(conn, 'postgres'), source, (c) =>
    query(
      c,
      `DROP DATABASE IF EXISTS ${quoteIdent(conn.database ?? '')} WITH (FORCE)`,
      [],
      'dropping the database',
    ),
  );
}

function restoreFailed(
  source: string,
  target: string,
  err: unknown,
  created: boolean,
  /** The archive entry whose data a damaged range held, when that is known. */
  held?: string,
): LifeboatError {
  const named = held ? ` (the damaged bytes held ${held})` : '';
  const detail = describe(err).replace(/^\[source:postgres\]\s*/, '') + named;
  let next = created
    ? 'the database created for it was dropped again'
    : 'the restore ran in one transaction, so the target is unchanged';
  if (/out of shared memory|max_locks_per_transaction/.test(detail)) {
    next +=
      '; raise max_locks_per_transaction on the server, or set jobs: 2 or more to restore without one transaction';
  } else if (/session_replication_role/.test(detail)) {
    next +=
      '; --data-only keeps triggers and foreign keys from firing, which needs a superuser or GRANT SET ON PARAMETER session_replication_role';
  } else if (/role .* does not exist/.test(detail)) {
    next += `; restore the roles first (the unit "<source>/globals" with globals: true), or create them`;
  }
  return new LifeboatError(
    isLifeboatError(err) && err.code === 'integrity' ? 'integrity' : 'source_failed',
    `[source:postgres] restore of ${source} into ${target} failed: ${detail} (${next})`,
    { cause: err },
  );
}

interface Verification {
  rows: Record<string, number>;
  diffs: string[];
  schemaMatches?: boolean;
  largeObjects?: number;
}

/** Counts the restored tables that the snapshot counted exactly; checks the schema digest. */
async function verify(
  client: PgClient,
  ctx: RestoreContext,
  scope: string[] | undefined,
): Promise<Verification> {
  const expected = ctx.stats.rows ?? {};
  const estimated = new Set((ctx.stats.rowsEstimated as string[] | undefined) ?? []);
  const counted = await countRows(client, Number.MAX_SAFE_INTEGER);
  const rows: Record<string, number> = {};
  const diffs: string[] = [];
  for (const [table, n] of Object.entries(expected)) {
    if (scope && !scope.includes(table)) continue;
    const got = counted.rows[table];
    rows[table] = got ?? 0;
    if (got === undefined) diffs.push(`table ${table} is missing`);
    else if (!estimated.has(table) && got !== n)
      diffs.push(`table ${table} has ${got} rows, the snapshot ${n}`);
  }
  if (scope) return { rows, diffs };
  const largeObjects = await countLargeObjects(client);
  if (typeof ctx.stats.largeObjects === 'number' && largeObjects !== ctx.stats.largeObjects) {
    diffs.push(`${largeObjects} large objects, the snapshot ${ctx.stats.largeObjects}`);
  }
  const digest = typeof ctx.stats.schemaDigest === 'string' ? ctx.stats.schemaDigest : undefined;
  const schemaMatches = digest ? (await schemaDigest(client)) === digest : undefined;
  return { rows, diffs, schemaMatches, largeObjects };
}

function scopedStats(ctx: RestoreContext, scope: string[] | undefined): Record<string, unknown> {
  const all = ctx.stats.rows ?? {};
  const rows = scope ? Object.fromEntries(Object.entries(all).filter(([t]) => scope.includes(t))) : all;
  return { rows, tables: Object.keys(rows).length, bytes: ctx.stats.bytes };
}

function rowsText(n: number): string {
  return `${n} row${n === 1 ? '' : 's'}`;
}

async function* counted(stream: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncIterable<Buffer> {
  for await (const chunk of stream) {
    onBytes(chunk.length);
    yield chunk;
  }
}
