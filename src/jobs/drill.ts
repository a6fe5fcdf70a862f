/**
 * @module jobs/drill
 * Restore drills: restore a snapshot into a scratch target Lifeboat makes itself (or a
 * configured `drill.scratch_url`), check it (the counts the snapshot recorded, the engine's
 * integrity check, the user's checks), measure the recovery time, keep the report in the
 * repository as a snapshot of kind 'drill', and always remove the scratch target. Physical
 * PostgreSQL sources are recovered from base backup and WAL archive instead (drill-pitr).
 * A PostgreSQL database gets its roles first, as a real recovery would: the source's globals
 * unit restored into the same throwaway cluster, and the roles its objects name that are still
 * missing created NOLOGIN (all of them, when no globals were saved).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, LifeboatError } from '../errors.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot, SnapshotEntry } from '../repo/snapshot.js';
import { selfArgv } from '../self-command.js';
import { loadArtifacts, readArtifact, saveArtifacts } from '../sources/artifact.js';
import type { SourceStats } from '../sources/source.js';
import { belongsTo, sourceOfUnit } from '../sources/source-units.js';
import { VERSION } from '../version.js';
import { checkFailed, type DrillCheckResult, integrityChecks, runProgram } from './drill-integrity.js';
import { type DrillRecovery, physicalDrill } from './drill-pitr.js';
import { runRestore } from './restore.js';
import { findSnapshot } from './snapshot-select.js';

/** One user check from `drill.checks` in the config. */
export interface DrillCheckConfig {
  name?: string;
  /** A query whose first column of the first row must equal `expect` (sqlite, postgres via psql, mysql via mariadb). */
  sql?: string;
  expect?: string;
  http?: { url: string; status?: number; body_contains?: string };
  /** A shell command that must exit 0; $LIFEBOAT_DRILL_TARGET names the scratch target. */
  command?: string;
}

export interface DrillConfig {
  scratch_url?: string;
  checks?: DrillCheckConfig[];
}

export type { DrillCheckResult } from './drill-integrity.js';

export interface DrillReport {
  version: 1;
  source: string;
  engine: string;
  snapshot: string;
  snapshotTime: string;
  started: string;
  finished: string;
  /** Recovery time: scratch target made, restored and checked (not its cleanup), in milliseconds. */
  rtoMs: number;
  restoreMs: number;
  /** What kind of scratch target was used, never its credentials. */
  scratch: string;
  passed: boolean;
  checks: DrillCheckResult[];
  /** Set when the restore itself failed. */
  error?: string;
  /** Physical (PITR) drills: what was recovered, and the data-loss window (RPO) achieved. */
  recovery?: DrillRecovery;
}

export interface DrillRequest {
  /** Source (or unit) name; may be omitted when the repository has one source. */
  source?: string;
  /** Snapshot id or prefix; default: the latest of the source. */
  snapshot?: string;
  configured: Record<string, Record<string, unknown> | undefined>;
  /**
   * argv that runs this Lifeboat with the same config ([node, bin, --config FILE]): physical
   * drills run `wal-fetch` with it. Default: this process's own, with $LIFEBOAT_CONFIG.
   */
  lifeboatArgv?: string[];
}

export interface DrillOutcome {
  /** Id of the drill snapshot that holds the report. */
  id: string;
  report: DrillReport;
}

const PHYSICAL_SCRATCH = 'throwaway postgres cluster recovered from the base backup and the WAL archive';

/** The prefix of the snapshot source under which drill reports are kept. */
export const DRILL_SOURCE_PREFIX = 'drill:';

interface Scratch {
  to: string;
  kind: string;
  /** A throwaway PostgreSQL cluster's maintenance database: where the globals go. */
  cluster?: string;
  cleanup(): Promise<void>;
}

/**
 * Drills of a source: one, or when the source backs up as several units (a postgres
 * source with several databases) and no snapshot is named, one per unit, in name order.
 */
export async function runDrills(repo: Repository, req: DrillRequest): Promise<DrillOutcome[]> {
  if (req.snapshot === undefined && req.source !== undefined) {
    const units = drillUnits((await repo.scanSnapshots()).snapshots, req.source);
    if (units.length > 1) {
      const out: DrillOutcome[] = [];
      for (const unit of units) out.push(await runDrill(repo, { ...req, source: unit }));
      return out;
    }
  }
  return [await runDrill(repo, req)];
}

/** The units `source` has backups of ("app-db/sales", ...); [source] when it is one. */
export function drillUnits(entries: SnapshotEntry[], source: string): string[] {
  const names = new Set(
    entries
      .filter((e) => e.snapshot.kind !== 'drill')
      .map((e) => e.snapshot.source)
      .filter((name) => belongsTo(name, source)),
  );
  if (names.has(source) || names.size === 0) return [source];
  return [...names].sort();
}

export async function runDrill(repo: Repository, req: DrillRequest): Promise<DrillOutcome> {
  const { id: snapId, snapshot } = await findSnapshot(repo, req.snapshot ?? 'latest', req.source);
  if (snapshot.kind === 'drill') {
    throw new LifeboatError(
      'usage',
      `[drill] snapshot ${snapId.slice(0, 8)} is a drill report, not a backup`,
    );
  }
  const configured = req.configured[snapshot.source] ?? req.configured[sourceOfUnit(snapshot.source)];
  const drill = (configured?.drill ?? {}) as DrillConfig;
  const started = repo.clock.now();
  const checks: DrillCheckResult[] = [];
  let restoreMs = 0;
  let error: string | undefined;
  let scratchKind = 'none';
  let recovery: DrillRecovery | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  // Recovery time: from making the scratch target to the last check, before cleanup.
  const t0 = Date.now();
  let recovered = t0;
  try {
    /** What the restore produced (a file, a folder or a database URL). */
    let target: string;
    /** What user checks get as $LIFEBOAT_DRILL_TARGET. */
    let scratchTo: string;
    if (snapshot.engine === 'postgres' && snapshot.kind === 'physical') {
      if (drill.scratch_url) {
        throw new LifeboatError(
          'usage',
          `[drill] source "${snapshot.source}" is physical: its drill recovers a throwaway cluster of its own from the base backup and the WAL archive; remove drill.scratch_url`,
        );
      }
      scratchKind = PHYSICAL_SCRATCH;
      const r = await physicalDrill({
        repo,
        snapshotId: snapId,
        snapshot,
        configured,
        lifeboatArgv: req.lifeboatArgv ?? selfArgv(process.env.LIFEBOAT_CONFIG),
        started,
        onCleanup: (c) => cleanups.push(c),
      });
      restoreMs = r.restoreMs;
      recovery = r.recovery;
      checks.push(...r.checks);
      target = r.url;
      scratchTo = r.url;
    } else {
      const scratch = await makeScratch(snapshot, drill);
      cleanups.push(() => scratch.cleanup());
      scratchKind = scratch.kind;
      // The drill restores into scratch: the source's restore hooks are not run.
      const sourceConfig = configured ? { ...configured, hooks: undefined } : undefined;
      const restoreStart = Date.now();
      const pgDatabase = snapshot.engine === 'postgres' && typeof snapshot.meta.database === 'string';
      const globals = pgDatabase
        ? await loadGlobals(repo, snapId, snapshot, scratch, req.configured)
        : undefined;
      const result = await runRestore(repo, {
        snapshot: snapId,
        configured: { [snapshot.source]: sourceConfig },
        options: { to: scratch.to, overwrite: true, dryRun: false, createRoles: pgDatabase },
      });
      restoreMs = Date.now() - restoreStart;
      target = result.target;
      scratchTo = scratch.to;
      if (pgDatabase) checks.push(rolesCheck(globals, result.stats.rolesCreated));
      checks.push(...countChecks(snapshot.stats, result.stats, snapshot.engine));
      checks.push(
        ...(await integrityChecks({
          repo,
          snapshot,
          target: snapshot.engine === 'postgres' ? scratchTo : target,
        })),
      );
    }
    for (const [i, c] of (drill.checks ?? []).entries()) {
      checks.push(await userCheck(c, i, snapshot.engine, target, scratchTo));
    }
    recovered = Date.now();
  } catch (err) {
    error = describe(err);
    recovered = Date.now();
    // Named like any check, so a damaged snapshot fails "restore" in the report and the list.
    checks.push({ name: 'restore', ok: false, detail: error, ms: recovered - t0 });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  }
  const finished = repo.clock.now();
  for (const c of checks) c.detail = redactUrls(c.detail);
  if (error !== undefined) error = redactUrls(error);
  const report: DrillReport = {
    version: 1,
    source: snapshot.source,
    engine: snapshot.engine,
    snapshot: snapId,
    snapshotTime: snapshot.time,
    started: started.toISOString(),
    finished: finished.toISOString(),
    rtoMs: recovered - t0,
    restoreMs,
    scratch: scratchKind,
    passed: error === undefined && !checks.some(checkFailed),
    checks,
    error,
    recovery,
  };
  const id = await saveReport(repo, report);
  return { id, report };
}

/** Passwords inside URLs (a configured scratch_url) never reach a report. */
function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/gi, '$1:***@');
}

/** The names of the failed checks, or the restore error. */
export function drillFailure(report: DrillReport): string | undefined {
  if (report.error) return `restore failed: ${report.error}`;
  const failed = report.checks.filter(checkFailed);
  if (failed.length === 0) return undefined;
  return failed.map((c) => `check "${c.name}" failed: ${c.detail}`).join('; ');
}

async function makeScratch(snapshot: Snapshot, drill: DrillConfig): Promise<Scratch> {
  if (drill.scratch_url) {
    return { to: drill.scratch_url, kind: 'configured scratch_url', cleanup: async () => {} };
  }
  const tempDir = async (kind: string, file?: string): Promise<Scratch> => {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-drill-'));
    return {
      to: file ? join(dir, file) : dir,
      kind,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  };
  switch (snapshot.engine) {
    case 'files':
      return tempDir('temporary folder');
    case 'sqlite':
      return tempDir('temporary file', 'drill.sqlite');
    case 'lmdb':
    case 'command':
      return tempDir('temporary folder');
    case 'redis': {
      const { startRedis, redisUnavailable } = await import('../scratch/redis.js');
      const why = redisUnavailable();
      if (why)
        throw new LifeboatError('usage', `[drill] no scratch redis-server: ${why}; or set drill.scratch_url`);
      const server = await startRedis();
      return { to: server.url, kind: 'throwaway redis-server', cleanup: () => server.stop() };
    }
    case 'mysql': {
      const { startMariadb, mariadbUnavailable } = await import('../scratch/mariadb.js');
      const why = mariadbUnavailable();
      if (why)
        throw new LifeboatError('usage', `[drill] no scratch MariaDB: ${why}; or set drill.scratch_url`);
      const server = await startMariadb();
      const database = typeof snapshot.meta.database === 'string' ? snapshot.meta.database : 'drill';
      return { to: server.urlFor(database), kind: 'throwaway mariadbd', cleanup: () => server.stop() };
    }
    case 'postgres': {
      if (snapshot.kind !== 'logical') break;
      const { startPostgres, postgresUnavailable } = await import('../scratch/postgres.js');
      const why = postgresUnavailable();
      if (why)
        throw new LifeboatError('usage', `[drill] no scratch PostgreSQL: ${why}; or set drill.scratch_url`);
      const server = await startPostgres();
      // The globals unit (roles, tablespaces) names no database: it restores through "postgres".
      const database = typeof snapshot.meta.database === 'string' ? snapshot.meta.database : 'postgres';
      return {
        to: server.urlFor(database),
        kind: 'throwaway postgres cluster',
        cluster: server.urlFor('postgres'),
        cleanup: () => server.stop(),
      };
    }
  }
  throw new LifeboatError(
    'usage',
    `[drill] ${snapshot.engine} (${snapshot.kind}) snapshots need a scratch target: set drill.scratch_url on source "${sourceOfUnit(snapshot.source)}" (this build makes none for them yet)`,
  );
}

/** How the roles of a PostgreSQL drill came about: from the globals unit, or not. */
interface GlobalsLoaded {
  /** "app-db/globals 3fa2c1e9" */
  from?: string;
  roles?: number;
  /** Why the globals were not loaded (none saved, a configured scratch_url, a failure). */
  skipped?: string;
  failed?: string;
}

/**
 * The roles of the source's cluster, from its globals unit (the snapshot nearest in time to
 * the database's), into the drill's throwaway cluster. A configured scratch_url is someone's
 * server: roles with their passwords and attributes are not loaded there.
 */
async function loadGlobals(
  repo: Repository,
  snapId: string,
  snapshot: Snapshot,
  scratch: Scratch,
  configured: DrillRequest['configured'],
): Promise<GlobalsLoaded> {
  const parent = sourceOfUnit(snapshot.source);
  const time = Date.parse(snapshot.time);
  const candidates = (await repo.scanSnapshots()).snapshots.filter(
    (e) =>
      e.id !== snapId &&
      e.snapshot.kind === 'logical' &&
      e.snapshot.engine === 'postgres' &&
      e.snapshot.meta.part === 'globals' &&
      e.snapshot.source.split('/')[0] === parent,
  );
  const nearest = candidates.sort(
    (a, b) => Math.abs(Date.parse(a.snapshot.time) - time) - Math.abs(Date.parse(b.snapshot.time) - time),
  )[0];
  if (!nearest) return { skipped: 'no globals saved (globals: true)' };
  const from = `${nearest.snapshot.source} ${nearest.id.slice(0, 8)}`;
  if (!scratch.cluster)
    return { skipped: `the globals ${from} are not loaded into a configured scratch_url` };
  const conf = configured[nearest.snapshot.source] ?? configured[parent];
  try {
    const r = await runRestore(repo, {
      snapshot: nearest.id,
      configured: { [nearest.snapshot.source]: conf ? { ...conf, hooks: undefined } : undefined },
      options: { to: scratch.cluster, overwrite: true, dryRun: false },
    });
    return { from, roles: typeof r.stats.roles === 'number' ? r.stats.roles : undefined };
  } catch (err) {
    return { from, failed: describe(err) };
  }
}

/** The "roles" check: where the roles came from, and which had to be made up. */
function rolesCheck(globals: GlobalsLoaded | undefined, created: unknown): DrillCheckResult {
  const made = Array.isArray(created) ? (created as string[]) : [];
  const parts: string[] = [];
  if (globals?.from && !globals.failed && !globals.skipped) {
    parts.push(`${globals.roles ?? 'the'} roles loaded from the globals ${globals.from}`);
  } else if (globals?.failed) parts.push(`loading the globals ${globals.from} failed: ${globals.failed}`);
  else if (globals?.skipped) parts.push(globals.skipped);
  parts.push(made.length > 0 ? `created NOLOGIN: ${made.join(', ')}` : 'none had to be created');
  return { name: 'roles', ok: !globals?.failed, detail: parts.join('; '), ms: 0 };
}

const COUNTED = ['files', 'dirs', 'rows', 'keys', 'keysTotal', 'entries', 'entriesTotal', 'documentsTotal'];

/** The counts recorded in the snapshot against what the restore produced. */
export function countChecks(
  recorded: SourceStats,
  restored: SourceStats,
  engine: string,
): DrillCheckResult[] {
  const out: DrillCheckResult[] = [];
  const keys = engine === 'files' ? [...COUNTED, 'bytes'] : COUNTED;
  for (const k of keys) {
    const want = recorded[k];
    const got = restored[k];
    if (want === undefined || got === undefined) continue;
    if (typeof want === 'number') {
      out.push({
        name: `count ${k}`,
        ok: want === got,
        detail: want === got ? `${got}` : `snapshot recorded ${want}, restored ${String(got)}`,
        ms: 0,
      });
    } else if (typeof want === 'object' && want !== null) {
      const w = want as Record<string, unknown>;
      const g = (got ?? {}) as Record<string, unknown>;
      const wrong = Object.keys(w)
        .filter((name) => w[name] !== g[name])
        .map((name) => `${name}: recorded ${String(w[name])}, restored ${String(g[name] ?? 'none')}`);
      out.push({
        name: `count ${k}`,
        ok: wrong.length === 0,
        detail: wrong.length === 0 ? `${Object.keys(w).length} match` : wrong.join(', '),
        ms: 0,
      });
    }
  }
  return out;
}

function checkName(c: DrillCheckConfig, i: number): string {
  if (c.name) return c.name;
  if (c.sql) return `sql: ${c.sql}`;
  if (c.http) return `http: ${c.http.url}`;
  if (c.command) return `command: ${c.command}`;
  return `check ${i + 1}`;
}

async function userCheck(
  c: DrillCheckConfig,
  i: number,
  engine: string,
  target: string,
  scratchTo: string,
): Promise<DrillCheckResult> {
  const name = checkName(c, i);
  const t0 = Date.now();
  const done = (ok: boolean, detail: string): DrillCheckResult => ({ name, ok, detail, ms: Date.now() - t0 });
  try {
    if (c.sql !== undefined) {
      const got = await runSql(engine, target, scratchTo, c.sql);
      if (c.expect === undefined) return done(true, `returned ${got}`);
      return done(
        got === String(c.expect),
        got === String(c.expect) ? got : `expected ${c.expect}, got ${got}`,
      );
    }
    if (c.http) {
      const res = await fetch(c.http.url, { signal: AbortSignal.timeout(30_000) });
      const body = await res.text();
      const status = c.http.status ?? 200;
      if (res.status !== status) return done(false, `expected status ${status}, got ${res.status}`);
      if (c.http.body_contains !== undefined && !body.includes(c.http.body_contains)) {
        return done(false, `body does not contain "${c.http.body_contains}"`);
      }
      return done(true, `status ${res.status}`);
    }
    if (c.command) {
      const r = await runShell(c.command, { LIFEBOAT_DRILL_TARGET: scratchTo });
      return done(r.code === 0, r.code === 0 ? 'exit 0' : `exit ${r.code}: ${r.output.trim().slice(-300)}`);
    }
    return done(false, 'a check needs sql, http or command');
  } catch (err) {
    return done(false, describe(err));
  }
}

async function runSql(engine: string, target: string, scratchTo: string, sql: string): Promise<string> {
  if (engine === 'sqlite') {
    const db = new Database(target, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare(sql).raw().get() as unknown[] | undefined;
      return row === undefined ? '' : String(row[0]);
    } finally {
      db.close();
    }
  }
  if (engine === 'postgres') {
    const client = new pg.Client({ connectionString: scratchTo });
    client.on('error', () => {});
    await client.connect();
    try {
      const r = await client.query({ text: sql, rowMode: 'array' });
      const row = (r.rows as unknown[][])[0];
      return row === undefined ? '' : String(row[0]);
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new Error(`sql checks are not supported for ${engine} sources`);
}

function runShell(command: string, env: Record<string, string>): Promise<{ code: number; output: string }> {
  return runProgram('/bin/sh', ['-c', command], env);
}

/** A duration for people: "850ms" below a second, else "4.6s". */
export function formatSeconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** "ok", "FAILED" or "skipped", as reports print a check. */
export function checkResult(c: DrillCheckResult): string {
  return c.skipped ? 'skipped' : c.ok ? 'ok' : 'FAILED';
}

/** The report as Markdown, for people. */
export function reportMarkdown(r: DrillReport): string {
  const lines = [
    `# Restore drill of ${r.source}: ${r.passed ? 'PASSED' : 'FAILED'}`,
    '',
    `- snapshot: ${r.snapshot} (${r.engine}, taken ${r.snapshotTime})`,
    `- started: ${r.started}`,
    `- recovery time (RTO): ${formatSeconds(r.rtoMs)} (restore ${formatSeconds(r.restoreMs)})`,
    `- scratch target: ${r.scratch}`,
  ];
  if (r.recovery) {
    const v = r.recovery;
    lines.push(
      `- data-loss window (RPO) achieved: ${formatSeconds(v.rpoMs)} (recovered to ${v.recoveredTo}${v.lastTransaction ? ', the last transaction replayed' : ', the end of the base backup: no transaction replayed'})`,
      `- base backup ${v.base.slice(0, 8)}, ${v.walFetched} WAL file(s) replayed to ${v.replayLsn ?? '?'}; newest archived WAL stored ${v.archiveEnd ?? 'never'}`,
    );
  }
  if (r.error) lines.push(`- error: ${r.error}`);
  lines.push('', '| check | result | detail |', '| --- | --- | --- |');
  for (const c of r.checks) {
    lines.push(`| ${c.name.replace(/\|/g, '\\|')} | ${checkResult(c)} | ${c.detail.replace(/\|/g, '\\|')} |`);
  }
  return `${lines.join('\n')}\n`;
}

export async function saveReport(repo: Repository, report: DrillReport): Promise<string> {
  const lock = await repo.lock(false, `drill of ${report.source}`);
  try {
    await repo.loadIndex();
    const store = new RepoContentStore(repo);
    const json = Buffer.from(`${JSON.stringify(report, null, 2)}\n`);
    const md = Buffer.from(reportMarkdown(report));
    const root = await saveArtifacts(
      store,
      [
        { name: 'report.json', stream: Readable.from([json]) },
        { name: 'report.md', stream: Readable.from([md]) },
      ],
      repo.clock,
    );
    await repo.flush();
    const failed = report.checks.filter(checkFailed).map((c) => c.name);
    const snapshot: Snapshot = {
      version: 1,
      time: report.started,
      source: `${DRILL_SOURCE_PREFIX}${report.source}`,
      engine: 'drill',
      kind: 'drill',
      host: repo.hostname(),
      username: 'lifeboat',
      tags: [report.passed ? 'passed' : 'failed'],
      programVersion: VERSION,
      root,
      stats: { checks: report.checks.length, failed: failed.length, bytes: json.length + md.length },
      meta: {
        drilledSource: report.source,
        drilledSnapshot: report.snapshot,
        passed: report.passed,
        rtoMs: report.rtoMs,
        restoreMs: report.restoreMs,
        rpoMs: report.recovery?.rpoMs,
        failedChecks: failed,
        error: report.error,
      },
      sourceConfig: { type: 'drill' },
    };
    return await repo.saveSnapshot(snapshot);
  } finally {
    await lock.release().catch(() => {});
  }
}

/** One kept report, by drill id (or unique prefix): its JSON (parsed) and Markdown texts. */
export async function readDrillReport(
  repo: Repository,
  ref: string,
): Promise<{ id: string; report: DrillReport; markdown: string }> {
  const { id, snapshot } = await findSnapshot(repo, ref);
  if (snapshot.kind !== 'drill') {
    throw new LifeboatError(
      'usage',
      `[drill] snapshot ${id.slice(0, 8)} is a ${snapshot.kind} backup of ${snapshot.source}, not a drill report (list them with \`lifeboat drill --list\`)`,
    );
  }
  const lock = await repo.lock(false, 'drill --show');
  try {
    await repo.loadIndex();
    const store = new RepoContentStore(repo);
    const nodes = await loadArtifacts(store, snapshot.root);
    const text = async (name: string): Promise<string> => {
      const node = nodes.find((n) => n.name === name);
      if (!node) {
        throw new LifeboatError('repo_corrupt', `[drill] report ${id.slice(0, 8)} holds no ${name}`);
      }
      const parts: Buffer[] = [];
      for await (const b of readArtifact(store, node)) parts.push(b);
      return Buffer.concat(parts).toString('utf8');
    };
    return {
      id,
      report: JSON.parse(await text('report.json')) as DrillReport,
      markdown: await text('report.md'),
    };
  } finally {
    await lock.release().catch(() => {});
  }
}

/** Drill reports in the repository, oldest first; only those of `source` when given. */
export async function listDrills(repo: Repository, source?: string): Promise<SnapshotEntry[]> {
  return (await repo.scanSnapshots()).snapshots.filter(
    (e) =>
      e.snapshot.kind === 'drill' && (!source || belongsTo(String(e.snapshot.meta.drilledSource), source)),
  );
}
