/**
 * @module sources/mysql/mysql-source
 * The MySQL / MariaDB engine (`type: mysql`, alias `mariadb`): backup streams
 * `mariadb-dump --single-transaction` of one database into the repository as one SQL
 * artifact, counting the rows of each table as they pass; restore feeds that SQL (or only
 * the chosen tables' sections of it) to the `mariadb` client, into the original database or
 * another one, and checks the row counts. Several databases give one snapshot each.
 */
import { isLifeboatError, LifeboatError } from '../../errors.js';
import { loadArtifacts, readArtifact, saveArtifacts } from '../artifact.js';
import { redact, runDumpTool, runRestoreTool } from '../dump-runner.js';
import type {
  BackupContext,
  BackupResult,
  RecordedSnapshot,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  SourceUnit,
  TargetContents,
  TreeNode,
} from '../source.js';
import { type DumpFacts, filterTables, scanDump } from './mysql-dump-stream.js';
import type { MysqlSourceConfig } from './mysql-schema.js';
import {
  clientCommand,
  dumpCommand,
  explainFailure,
  findTools,
  fromHex,
  type MysqlLogin,
  query,
  quoteIdent,
  sqlString,
  withLogin,
} from './mysql-tools.js';
import {
  describeServer,
  type MysqlConnection,
  parseMysqlUrl,
  sameLogin,
  urlWithDatabase,
} from './mysql-url.js';

/** Databases that `databases: all` leaves out: the server's own. */
export const SYSTEM_DATABASES = ['information_schema', 'performance_schema', 'mysql', 'sys'];

export function createMysqlSource(name: string, config: MysqlSourceConfig): Source {
  return new MysqlSource(name, config);
}

interface DatabaseInfo {
  charset: string;
  collation: string;
}

class MysqlSource implements Source {
  readonly type = 'mysql';
  readonly kind = 'logical';
  readonly expand?: () => Promise<SourceUnit[]>;
  private readonly conn: MysqlConnection;

  constructor(
    readonly name: string,
    private readonly config: MysqlSourceConfig,
  ) {
    this.conn = parseMysqlUrl(config.url);
    if (config.databases !== undefined) this.expand = () => this.units();
  }

  /** One unit per database: "<source>/<db>", recorded with a URL naming that database. */
  private async units(): Promise<SourceUnit[]> {
    const wanted = this.config.databases;
    const names = wanted === 'all' ? await this.listDatabases() : [...new Set(wanted ?? [])];
    if (names.length === 0) {
      throw new LifeboatError(
        'not_found',
        `[source:mysql] source "${this.name}": no databases to back up on ${describeServer(this.conn)} (system databases are left out of "all")`,
      );
    }
    return names.map((db) => {
      const config = { type: this.config.type, url: urlWithDatabase(this.config.url, db) };
      return { source: new MysqlSource(`${this.name}/${db}`, config), config };
    });
  }

  private listDatabases(): Promise<string[]> {
    return withLogin(this.conn, async (login) => {
      try {
        const rows = await query(
          login,
          'SELECT HEX(SCHEMA_NAME) FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME;',
        );
        return rows.map((r) => fromHex(r[0])).filter((db) => !SYSTEM_DATABASES.includes(db.toLowerCase()));
      } catch (err) {
        throw explainFailure(err, this.name, this.conn, 'listing the databases');
      }
    });
  }

  async backup(ctx: BackupContext): Promise<BackupResult> {
    const database = this.conn.database;
    if (!database) {
      throw new LifeboatError(
        'config_invalid',
        `[source:mysql] source "${this.name}": the url names no database (add /DATABASE to the url, or set databases: [..] or all)`,
      );
    }
    checkDatabaseName(database, this.name);
    return withLogin(this.conn, async (login) => {
      const tools = await findTools();
      const info = await databaseInfo(login, database).catch((err) => {
        throw explainFailure(err, this.name, this.conn, 'backup');
      });
      if (!info) {
        throw new LifeboatError(
          'not_found',
          `[source:mysql] backup of source "${this.name}" failed: database "${database}" does not exist on ${describeServer(this.conn)} (check the url or the databases setting)`,
        );
      }
      const artifact = artifactName(database);
      let facts: (() => DumpFacts) | undefined;
      let bytes = 0;
      ctx.progress.start(`dump ${this.name}`);
      let root: string;
      try {
        root = await runDumpTool(dumpCommand(tools, login, database, ctx.signal), (stdout) => {
          const scan = scanDump(stdout, (n) => {
            bytes += n;
            ctx.progress.advance(n);
          });
          facts = scan.facts;
          return saveArtifacts(ctx.store, [{ name: artifact, stream: scan.stream }]);
        });
      } catch (err) {
        // A stopped job (SIGINT, server shutdown) reports that, not a database problem.
        if (ctx.signal?.aborted) throw err;
        throw explainFailure(err, this.name, this.conn, 'backup');
      } finally {
        ctx.progress.done();
      }
      const dump = facts!();
      if (!dump.completed) {
        throw new LifeboatError(
          'source_failed',
          `[source:mysql] backup of source "${this.name}" failed: the dump of database "${database}" ended without its "Dump completed" line (it was cut short; no snapshot was saved)`,
        );
      }
      return {
        root,
        stats: { rows: dump.rows, tables: Object.keys(dump.rows).length, views: dump.views.length, bytes },
        meta: {
          database,
          artifact,
          charset: info.charset,
          collation: info.collation,
          server: describeServer(this.conn),
          serverVersion: dump.serverVersion,
          dumpVersion: dump.dumpVersion,
          rowCounts: 'counted from the INSERT statements of the dump (its own consistent snapshot)',
        },
      };
    });
  }

  /** The target database's tables and their rows (exact counts: the plan runs before a restore). */
  async inspectTarget(to: string | undefined, { meta }: RecordedSnapshot): Promise<TargetContents> {
    const original = typeof meta.database === 'string' ? meta.database : (this.conn.database ?? '');
    const target = this.resolveTarget(to, original);
    const where = `mysql://${describeServer(target.conn)}/${target.database}`;
    return withLogin(target.conn, async (login) => {
      const state = await inspectTarget(login, target.database);
      if (!state.exists)
        return { target: where, exists: false, summary: 'no such database (will be created)' };
      const tables = [...(await baseTables(login, target.database))].sort();
      const rows = await countRows(login, target.database, tables);
      const items = tables.map((t) => `${t}: ${rows[t] ?? 0} rows`);
      return {
        target: where,
        exists: true,
        summary: `${state.objects} tables, views, routines or events`,
        items,
      };
    });
  }

  async restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
    if (options.include && options.include.length > 0) {
      throw new LifeboatError(
        'usage',
        '[source:mysql] --include applies to files sources; restore tables with --table NAME',
      );
    }
    const node = await pickArtifact(ctx);
    const original = typeof ctx.meta.database === 'string' ? ctx.meta.database : this.conn.database;
    if (!original) {
      throw new LifeboatError(
        'repo_corrupt',
        `[source:mysql] snapshot of "${this.name}" records no database name (restore with --to mysql://user:password@host/DATABASE)`,
      );
    }
    const target = this.resolveTarget(options.to, original);
    checkDatabaseName(target.database, this.name);
    const where = `${describeServer(target.conn)}/${target.database}`;
    const label = `mysql://${where}`;
    const expected = ctx.stats.rows ?? {};
    const tables = options.tables ?? [];
    const unknown = tables.filter((t) => !Object.hasOwn(expected, t));
    if (unknown.length > 0) {
      throw new LifeboatError(
        'not_found',
        `[source:mysql] table ${unknown.map((t) => `"${t}"`).join(', ')} not in the snapshot (tables: ${Object.keys(expected).join(', ') || 'none'})`,
      );
    }
    const chosen = tables.length > 0 ? tables : Object.keys(expected);
    const items = chosen.map((t) => describeTable(t, expected[t]));

    return withLogin(target.conn, async (login) => {
      const fail = (err: unknown) => {
        if (isLifeboatError(err) && (err.code === 'target_not_empty' || err.code === 'integrity')) return err;
        return explainFailure(err, this.name, target.conn, 'restore');
      };
      try {
        const state = await inspectTarget(login, target.database);
        if (state.exists && !options.overwrite) {
          if (tables.length === 0 && state.objects > 0) {
            throw new LifeboatError(
              'target_not_empty',
              `[source:mysql] restore target database "${target.database}" on ${describeServer(target.conn)} is not empty (${state.objects} tables, views, routines or events; pass --overwrite to replace it, or --to another database)`,
            );
          }
          if (tables.length > 0) {
            const full = await nonEmptyTables(login, target.database, tables);
            if (full.length > 0) {
              throw new LifeboatError(
                'target_not_empty',
                `[source:mysql] table ${full.map((t) => `"${t}"`).join(', ')} in database "${target.database}" on ${describeServer(target.conn)} is not empty (pass --overwrite to replace it, or --to another database)`,
              );
            }
          }
        }
        const rowsWanted = Object.fromEntries(chosen.map((t) => [t, expected[t]]));
        if (options.dryRun)
          return { target: label, items, stats: { rows: rowsWanted, tables: chosen.length } };

        const info = {
          charset: safeName(ctx.meta.charset) ?? 'utf8mb4',
          collation: safeName(ctx.meta.collation),
        };
        const whole = tables.length === 0;
        await prepareDatabase(login, target.database, info, whole && state.exists && options.overwrite);

        const tools = await findTools();
        ctx.progress.start(`restore ${this.name}`, node.size);
        const content = countBytes(readArtifact(ctx.store, node), (n) => ctx.progress.advance(n));
        try {
          await runRestoreTool(
            clientCommand(tools, login, target.database, 'load'),
            whole ? content : filterTables(content, tables),
          );
        } finally {
          ctx.progress.done();
        }

        const rows = await countRows(login, target.database, chosen);
        const diffs = chosen
          .filter((t) => rows[t] !== expected[t])
          .map((t) =>
            rows[t] === undefined
              ? `table "${t}" is missing`
              : `table "${t}" has ${rows[t]} rows, the snapshot ${expected[t]}`,
          );
        if (diffs.length > 0) {
          throw new LifeboatError(
            'integrity',
            `[source:mysql] after restoring into database "${target.database}" on ${describeServer(target.conn)}: ${diffs.join('; ')} (run lifeboat check --read-data; check the server's log)`,
          );
        }
        return { target: label, items, stats: { rows, tables: chosen.length, bytes: node.size } };
      } catch (err) {
        throw fail(err);
      }
    });
  }

  /**
   * The server and database to restore into: the original (`to` unset), another database on
   * the source's server (`to` a bare name), or a mysql:// URL. A URL without a password for
   * the source's own user and server uses the source's password.
   */
  private resolveTarget(
    to: string | undefined,
    original: string,
  ): { conn: MysqlConnection; database: string } {
    if (to === undefined || to === '') return { conn: this.conn, database: original };
    if (/^(mysql|mariadb):\/\//i.test(to)) {
      const parsed = parseMysqlUrl(to);
      const conn =
        parsed.password === undefined && sameLogin(parsed, this.conn)
          ? { ...parsed, password: this.conn.password }
          : parsed;
      return { conn, database: parsed.database ?? original };
    }
    if (/^[^/:\s]+$/.test(to)) return { conn: this.conn, database: to };
    throw new LifeboatError(
      'usage',
      `[source:mysql] --to "${redact(to)}" is neither a mysql:// URL nor a database name (e.g. --to mysql://user:password@host:3306/db, or --to otherdb)`,
    );
  }
}

/** The database's default character set and collation, or undefined when it does not exist. */
async function databaseInfo(login: MysqlLogin, database: string): Promise<DatabaseInfo | undefined> {
  const rows = await query(
    login,
    `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${sqlString(database)};`,
  );
  if (rows.length === 0) return undefined;
  return { charset: rows[0][0], collation: rows[0][1] };
}

async function inspectTarget(
  login: MysqlLogin,
  database: string,
): Promise<{ exists: boolean; objects: number }> {
  const db = sqlString(database);
  const rows = await query(
    login,
    `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${db};
SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${db})
  + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${db})
  + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${db});`,
  );
  return { exists: Number(rows[0]?.[0]) > 0, objects: Number(rows[1]?.[0] ?? 0) };
}

/** Base tables of `database`, by name. */
async function baseTables(login: MysqlLogin, database: string): Promise<Set<string>> {
  const rows = await query(
    login,
    `SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${sqlString(database)} AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED');`,
  );
  return new Set(rows.map((r) => fromHex(r[0])));
}

/** Which of `tables` exist in `database` and hold rows. */
async function nonEmptyTables(login: MysqlLogin, database: string, tables: string[]): Promise<string[]> {
  const present = await baseTables(login, database);
  const candidates = tables.filter((t) => present.has(t));
  if (candidates.length === 0) return [];
  const sql = candidates
    .map((t, i) => `SELECT ${i}, EXISTS(SELECT 1 FROM ${quoteIdent(database)}.${quoteIdent(t)} LIMIT 1);`)
    .join('\n');
  const rows = await query(login, sql);
  return rows.filter((r) => r[1] === '1').map((r) => candidates[Number(r[0])]);
}

/** Exact row counts of `tables` (those that exist) in `database`. */
async function countRows(
  login: MysqlLogin,
  database: string,
  tables: string[],
): Promise<Record<string, number>> {
  const present = await baseTables(login, database);
  const counted = tables.filter((t) => present.has(t));
  if (counted.length === 0) return {};
  const sql = counted
    .map((t, i) => `SELECT ${i}, COUNT(*) FROM ${quoteIdent(database)}.${quoteIdent(t)};`)
    .join('\n');
  const rows = await query(login, sql);
  return Object.fromEntries(rows.map((r) => [counted[Number(r[0])], Number(r[1])]));
}

/**
 * Creates the target database when missing, with the snapshot's character set; a whole
 * restore with --overwrite drops an existing one first, so the result is exactly the snapshot.
 */
async function prepareDatabase(
  login: MysqlLogin,
  database: string,
  info: { charset: string; collation?: string },
  dropFirst: boolean,
): Promise<void> {
  const db = quoteIdent(database);
  const collate = info.collation ? ` COLLATE ${info.collation}` : '';
  const drop = dropFirst ? `DROP DATABASE ${db};\n` : '';
  await query(login, `${drop}CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET ${info.charset}${collate};`);
}

async function pickArtifact(ctx: RestoreContext): Promise<TreeNode> {
  const nodes = await loadArtifacts(ctx.store, ctx.root);
  const wanted = typeof ctx.meta.artifact === 'string' ? ctx.meta.artifact : undefined;
  const node = nodes.find((n) => n.name === wanted) ?? (nodes.length === 1 ? nodes[0] : undefined);
  if (!node) {
    throw new LifeboatError(
      'repo_corrupt',
      `[source:mysql] snapshot root ${ctx.root.slice(0, 8)} holds no single SQL dump (run lifeboat check)`,
    );
  }
  return node;
}

/** The artifact's file name: "<database>.sql", with characters a file name cannot hold replaced. */
function artifactName(database: string): string {
  const safe = database.replace(/[/\\\0]/g, '_');
  return `${safe === '.' || safe === '..' ? '_' : safe}.sql`;
}

/** Database names starting with "-" would be read as options by the tools. */
function checkDatabaseName(database: string, source: string): void {
  if (database.startsWith('-')) {
    throw new LifeboatError(
      'config_invalid',
      `[source:mysql] source "${source}": database name "${database}" starts with "-", which the MySQL tools read as an option`,
    );
  }
}

function safeName(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_]+$/.test(value) ? value : undefined;
}

function describeTable(table: string, rows: number | undefined): string {
  return rows === undefined ? table : `${table}: ${rows} row${rows === 1 ? '' : 's'}`;
}

async function* countBytes(
  stream: AsyncIterable<Buffer>,
  onBytes: (n: number) => void,
): AsyncIterable<Buffer> {
  for await (const chunk of stream) {
    onBytes(chunk.length);
    yield chunk;
  }
}
