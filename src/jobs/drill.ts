/**
 * @module jobs/drill
 * Restore drills: restore a snapshot into a scratch target Lifeboat makes itself (or a
 * configured `drill.scratch_url`), check it (the counts the snapshot recorded, the engine's
 * integrity check, the user's checks), measure the recovery time, keep the report in the
 * repository as a snapshot of kind 'drill', and always remove the scratch target. Physical
 * PostgreSQL sources are recovered from base backup and WAL archive instead (drill-pitr).
 * What differs between engines (the scratch target, the counts compared, the integrity check,
 * check queries, a prelude such as PostgreSQL's globals) is the engine's `drill` declaration.
 * Timings read the repository's clock.
 */
import { Readable } from 'node:stream';
import type { Clock } from '../clock.js';
import { describe, LifeboatError } from '../errors.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot, SnapshotEntry } from '../repo/snapshot.js';
import { selfArgv } from '../self-command.js';
import { loadArtifacts, readArtifact, saveArtifacts } from '../sources/artifact.js';
import { engineDeclaration } from '../sources/registry.js';
import type { DrillDeclaration, PreludeLoaded, ScratchTarget, SourceStats } from '../sources/source.js';
import { belongsTo, sourceOfUnit } from '../sources/source-units.js';
import { VERSION } from '../version.js';
import { checkFailed, type DrillCheckResult, integrityChecks, runProgram } from './drill-integrity.js';
import { type DrillRecovery, physicalDrill } from './drill-pitr.js';
import { runRestore } from './restore.js';
import { findSnapshot } from './snapshot-select.js';

/** One user check from `drill.checks` in the config. */
export interface DrillCheckConfig {
  name?: string;
  /** A query whose first column of the first row must equal `expect`; for engines that declare a check query (drill.query). */
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
  const clock = repo.clock;
  const ms = () => clock.now().getTime();
  const started = clock.now();
  const engine = drillOf(snapshot.engine);
  const checks: DrillCheckResult[] = [];
  let restoreMs = 0;
  let error: string | undefined;
  let scratchKind = 'none';
  let recovery: DrillRecovery | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  // Recovery time: from making the scratch target to the last check, before cleanup.
  const t0 = ms();
  let recovered = t0;
  try {
    /** What the restore produced (a file, a folder or a database URL). */
    let target: string;
    /** What user checks get as $LIFEBOAT_DRILL_TARGET. */
    let scratchTo: string;
    if (engine.recoversFromLog?.(snapshot)) {
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
      const scratch = await makeScratch(engine, snapshot, drill);
      cleanups.push(() => scratch.cleanup());
      scratchKind = scratch.kind;
      // The drill restores into scratch: the source's restore hooks are not run.
      const sourceConfig = configured ? { ...configured, hooks: undefined } : undefined;
      const restoreStart = ms();
      const prelude = engine.prelude?.wanted(snapshot) ? engine.prelude : undefined;
      const loaded = prelude
        ? await loadPrelude(repo, snapId, snapshot, prelude, scratch, req.configured)
        : undefined;
      const result = await runRestore(repo, {
        snapshot: snapId,
        configured: { [snapshot.source]: sourceConfig },
        options: { to: scratch.to, overwrite: true, dryRun: false, ...prelude?.options },
      });
      restoreMs = ms() - restoreStart;
      target = result.target;
      scratchTo = scratch.to;
      if (prelude && loaded) checks.push(prelude.check(loaded, result.stats));
      checks.push(...countChecks(snapshot.stats, result.stats, countedStats(snapshot.engine)));
      checks.push(
        ...(await integrityChecks({ repo, snapshot, target: { to: scratchTo, restored: target }, clock })),
      );
    }
    for (const [i, c] of (drill.checks ?? []).entries()) {
      checks.push(await userCheck(c, i, { engine, name: snapshot.engine, clock }, target, scratchTo));
    }
    recovered = ms();
  } catch (err) {
    error = describe(err);
    recovered = ms();
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

/** The drill declaration of `engine`; an unknown engine (a newer Lifeboat's) has none. */
function drillOf(engine: string): DrillDeclaration {
  return engineDeclaration(engine)?.drill ?? { scratch: async () => undefined };
}

/** The statistics a drill of `engine`'s snapshots compares, in the order it declares them. */
export function countedStats(engine: string): string[] {
  return (engineDeclaration(engine)?.stats ?? []).filter((s) => s.drill === 'equal').map((s) => s.name);
}

async function makeScratch(
  engine: DrillDeclaration,
  snapshot: Snapshot,
  drill: DrillConfig,
): Promise<ScratchTarget> {
  if (drill.scratch_url) {
    return { to: drill.scratch_url, kind: 'configured scratch_url', cleanup: async () => {} };
  }
  const scratch = await engine.scratch(snapshot);
  if (scratch) return scratch;
  throw new LifeboatError(
    'usage',
    `[drill] ${snapshot.engine} (${snapshot.kind}) snapshots need a scratch target: set drill.scratch_url on source "${sourceOfUnit(snapshot.source)}" (this build makes none for them yet)`,
  );
}

/**
 * The engine's prelude (PostgreSQL: the globals unit) from the source's snapshot nearest in
 * time to the drilled one, into the same scratch target. A configured scratch_url is someone's
 * server: the prelude (roles with their passwords and attributes) is not loaded there.
 */
async function loadPrelude(
  repo: Repository,
  snapId: string,
  snapshot: Snapshot,
  prelude: NonNullable<DrillDeclaration['prelude']>,
  scratch: ScratchTarget,
  configured: DrillRequest['configured'],
): Promise<PreludeLoaded> {
  const parent = sourceOfUnit(snapshot.source);
  const time = Date.parse(snapshot.time);
  const candidates = (await repo.scanSnapshots()).snapshots.filter(
    (e) =>
      e.id !== snapId &&
      e.snapshot.engine === snapshot.engine &&
      prelude.is(e.snapshot) &&
      e.snapshot.source.split('/')[0] === parent,
  );
  const nearest = candidates.sort(
    (a, b) => Math.abs(Date.parse(a.snapshot.time) - time) - Math.abs(Date.parse(b.snapshot.time) - time),
  )[0];
  if (!nearest) return { skipped: prelude.noneSaved };
  const from = `${nearest.snapshot.source} ${nearest.id.slice(0, 8)}`;
  if (!scratch.preludeTo)
    return { skipped: `the ${prelude.name} ${from} are not loaded into a configured scratch_url` };
  const conf = configured[nearest.snapshot.source] ?? configured[parent];
  try {
    const r = await runRestore(repo, {
      snapshot: nearest.id,
      configured: { [nearest.snapshot.source]: conf ? { ...conf, hooks: undefined } : undefined },
      options: { to: scratch.preludeTo, overwrite: true, dryRun: false },
    });
    return { from, stats: r.stats };
  } catch (err) {
    return { from, failed: describe(err) };
  }
}

/** The counts recorded in the snapshot against what the restore produced, for the `counted` statistics. */
export function countChecks(
  recorded: SourceStats,
  restored: SourceStats,
  counted: readonly string[],
): DrillCheckResult[] {
  const out: DrillCheckResult[] = [];
  for (const k of counted) {
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
  of: { engine: DrillDeclaration; name: string; clock: Clock },
  target: string,
  scratchTo: string,
): Promise<DrillCheckResult> {
  const name = checkName(c, i);
  const ms = () => of.clock.now().getTime();
  const t0 = ms();
  const done = (ok: boolean, detail: string): DrillCheckResult => ({ name, ok, detail, ms: ms() - t0 });
  try {
    if (c.sql !== undefined) {
      if (!of.engine.query) throw new Error(`sql checks are not supported for ${of.name} sources`);
      const got = await of.engine.query({ to: scratchTo, restored: target }, c.sql);
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
