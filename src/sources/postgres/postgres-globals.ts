/**
 * @module sources/postgres/postgres-globals
 * The cluster-wide objects no database dump holds: roles (with memberships and settings) and
 * tablespaces, from `pg_dumpall --globals-only`, kept as the unit "<source>/globals" with one
 * artifact, globals.sql. Restoring it runs the SQL with psql (the file holds psql
 * meta-commands) on the target server, minus the role Lifeboat connects as, whose password
 * and attributes a restore must not change under its feet.
 */
import { LifeboatError } from '../../errors.js';
import { loadArtifacts, readArtifact, saveArtifacts } from '../artifact.js';
import { runDumpTool, runRestoreTool } from '../dump-runner.js';
import type {
  BackupContext,
  BackupResult,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
} from '../source.js';
import { connect, type PgClient, query, serverInfo } from './postgres-catalog.js';
import {
  describeTarget,
  type PgConnection,
  parsePgUrl,
  secretsOf,
  toolConnArgs,
  toolEnv,
  withDatabase,
} from './postgres-connection.js';
import type { PostgresSourceRef } from './postgres-schema.js';
import { checkedTool, clientPackage, majorOf } from './postgres-tools.js';

export const GLOBALS_UNIT = 'globals';
const ARTIFACT = 'globals.sql';

interface GlobalsFacts {
  roles: string[];
  tablespaces: string[];
  superuser: boolean;
}

async function readGlobals(client: PgClient): Promise<GlobalsFacts> {
  const roles = await query<{ name: string }>(
    client,
    "SELECT rolname AS name FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1",
    [],
    'listing roles',
  );
  const spaces = await query<{ name: string }>(
    client,
    "SELECT spcname AS name FROM pg_tablespace WHERE spcname !~ '^pg_' ORDER BY 1",
    [],
    'listing tablespaces',
  );
  const [me] = await query<{ s: boolean }>(
    client,
    'SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user',
    [],
    'reading the current role',
  );
  return { roles: roles.map((r) => r.name), tablespaces: spaces.map((r) => r.name), superuser: !!me?.s };
}

/** The database the globals are read through: the url's, else "postgres". */
function globalsConnection(url: string): PgConnection {
  const conn = parsePgUrl(url);
  return conn.database ? conn : withDatabase(conn, 'postgres');
}

export async function backupGlobals(source: PostgresSourceRef, ctx: BackupContext): Promise<BackupResult> {
  const conn = globalsConnection(source.config.url);
  const client = await connect(conn, source.name);
  try {
    const info = await serverInfo(client);
    const serverMajor = majorOf(info.versionNum);
    const tool = await checkedTool('pg_dumpall', {
      binDir: source.config.bin_dir,
      serverMajor,
      source: source.name,
      needed: { major: serverMajor, text: info.version },
    });
    const facts = await readGlobals(client);
    // Role passwords live in pg_authid, which only superusers may read.
    const args = ['--globals-only', '--no-password', ...toolConnArgs(conn)];
    if (!facts.superuser) args.push('--no-role-passwords');
    let bytes = 0;
    const root = await runDumpTool(
      {
        engine: 'postgres',
        command: tool.path,
        args,
        env: toolEnv(conn),
        packageHint: clientPackage(serverMajor),
        secrets: secretsOf(conn),
        signal: ctx.signal,
      },
      (stdout) =>
        saveArtifacts(ctx.store, [{ name: ARTIFACT, stream: counted(stdout, (n) => (bytes += n)) }]),
    ).catch((err) => {
      throw new LifeboatError(
        'source_failed',
        `[source:postgres] backup of the globals of source "${source.name}" (${describeTarget(conn)}) failed: ${String(err.message ?? err).replace(/^\[source:postgres\]\s*/, '')}`,
        { cause: err },
      );
    });
    return {
      root,
      stats: { roles: facts.roles.length, tablespaces: facts.tablespaces.length, bytes },
      meta: {
        part: GLOBALS_UNIT,
        artifact: ARTIFACT,
        roles: facts.roles,
        tablespaces: facts.tablespaces,
        rolePasswords: facts.superuser,
        serverVersion: info.version,
        serverVersionNum: info.versionNum,
        pgDumpVersion: tool.version.text,
        pgDumpMajor: tool.version.major,
      },
    };
  } finally {
    await client.end().catch(() => {});
  }
}

export async function restoreGlobals(
  source: PostgresSourceRef,
  ctx: RestoreContext,
  options: RestoreOptions,
): Promise<RestoreResult> {
  if ((options.tables?.length ?? 0) > 0 || (options.schemas?.length ?? 0) > 0 || options.dataOnly) {
    throw new LifeboatError(
      'usage',
      `[source:postgres] ${source.name} holds roles and tablespaces: --table, --schema and --data-only do not apply`,
    );
  }
  const conn = globalsConnection(options.to ?? source.config.url);
  const target = describeTarget(conn);
  const roles = (ctx.meta.roles as string[] | undefined) ?? [];
  const tablespaces = (ctx.meta.tablespaces as string[] | undefined) ?? [];
  const client = await connect(conn, source.name);
  let present: GlobalsFacts;
  let me: string;
  let serverMajor: number;
  try {
    present = await readGlobals(client);
    [{ me }] = await query<{ me: string }>(
      client,
      'SELECT current_user AS me',
      [],
      'reading the current role',
    );
    serverMajor = majorOf((await serverInfo(client)).versionNum);
  } finally {
    await client.end().catch(() => {});
  }
  const clashes = [
    ...roles.filter((r) => r !== me && present.roles.includes(r)).map((r) => `role "${r}"`),
    ...tablespaces.filter((t) => present.tablespaces.includes(t)).map((t) => `tablespace "${t}"`),
  ];
  if (clashes.length > 0 && !options.overwrite) {
    throw new LifeboatError(
      'target_not_empty',
      `[source:postgres] ${target} already has ${clashes.slice(0, 5).join(', ')}${clashes.length > 5 ? ` and ${clashes.length - 5} more` : ''} (pass --overwrite to update existing roles from the snapshot, or --to another server)`,
    );
  }
  const items = [
    ...roles.map((r) => (r === me ? `ROLE ${r} (skipped: the role of this connection)` : `ROLE ${r}`)),
    ...tablespaces.map((t) => `TABLESPACE ${t}`),
  ];
  const stats = { roles: roles.length, tablespaces: tablespaces.length };
  if (options.dryRun) return { target, items, stats };

  const node = (await loadArtifacts(ctx.store, ctx.root)).find((n) => n.name === ARTIFACT);
  if (!node) {
    throw new LifeboatError(
      'repo_corrupt',
      `[source:postgres] snapshot holds no ${ARTIFACT} (run lifeboat check)`,
    );
  }
  // A few kilobytes per role: read whole, then drop what must not run.
  const chunks: Buffer[] = [];
  for await (const c of readArtifact(ctx.store, node)) chunks.push(c);
  const sql = filterGlobals(Buffer.concat(chunks).toString('utf8'), me, present.roles);
  const psql = await checkedTool('psql', { binDir: source.config.bin_dir, serverMajor, source: source.name });
  ctx.progress.start(`restore ${source.name}`, sql.length);
  await runRestoreTool(
    {
      engine: 'postgres',
      command: psql.path,
      args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password', ...toolConnArgs(conn), '-f', '-'],
      env: toolEnv(conn),
      packageHint: clientPackage(serverMajor),
      secrets: secretsOf(conn),
    },
    (async function* () {
      yield Buffer.from(sql);
    })(),
  ).catch((err) => {
    throw new LifeboatError(
      'source_failed',
      `[source:postgres] restoring the globals of ${source.name} into ${target} failed: ${String(err.message ?? err).replace(/^\[source:postgres\]\s*/, '')}`,
      { cause: err },
    );
  });
  ctx.progress.done();
  return { target, items, stats };
}

/**
 * Drops the statements about the connecting role (CREATE ROLE and ALTER ROLE ... WITH, which
 * would reset its password) and CREATE ROLE for roles that exist (ALTER ROLE then updates them).
 */
export function filterGlobals(sql: string, me: string, existing: string[]): string {
  const ident = (name: string) => [name, `"${name.replace(/"/g, '""')}"`];
  const skip = new Set<string>();
  for (const n of ident(me)) {
    skip.add(`CREATE ROLE ${n};`);
  }
  for (const r of existing) for (const n of ident(r)) skip.add(`CREATE ROLE ${n};`);
  const mine = ident(me).map((n) => `ALTER ROLE ${n} WITH `);
  return sql
    .split('\n')
    .filter((line) => !skip.has(line) && !mine.some((p) => line.startsWith(p)))
    .join('\n');
}

async function* counted(stream: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncIterable<Buffer> {
  for await (const chunk of stream) {
    onBytes(chunk.length);
    yield chunk;
  }
}
