/**
 * @module cli/app-actions
 * Applications on the command line: `points` lists recovery points; `backup --app`,
 * `restore --app` and `drill --app` (registered with their commands, which hand over here)
 * take a point, restore one after printing its plan, and drill one. Each parses, calls one
 * job, renders.
 */
import { existsSync } from 'node:fs';
import { formatBytes } from '../byte-size.js';
import { LifeboatError } from '../errors.js';
import type { AppPlan, SourcePlan } from '../jobs/app-plan.js';
import { type AppPoint, appFromConfig, backupPoint, pointsOf } from '../jobs/app-point.js';
import type { AppRestoreOutcome, SourceRestoreReport } from '../jobs/app-restore.js';
import { backupRunError } from '../jobs/backup-run.js';
import { walFetchCommand } from '../jobs/pitr.js';
import { recoverySettings } from '../jobs/pitr-settings.js';
import { selfArgv } from '../self-command.js';
import type { CliContext } from './context.js';
import { progressFor } from './progress-bar.js';
import { print, table } from './shell.js';

const DEFAULT_CONFIG = 'lifeboat.yaml';

function parseTime(value: string, flag: string): Date {
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new LifeboatError(
      'usage',
      `[app] ${flag} ${value}: not a time (e.g. "2024-01-15 10:00" or 2024-01-15T10:00:00Z)`,
    );
  }
  return new Date(t);
}

export async function points(
  ctx: CliContext,
  opts: { app?: string; before?: string; complete?: boolean },
): Promise<void> {
  // The repository alone: the app need not be in this machine's config.
  const repo = await ctx.openRepository();
  const list = pointsOf((await repo.scanSnapshots()).snapshots, {
    app: opts.app,
    before: opts.before ? parseTime(opts.before, '--before') : undefined,
    complete: opts.complete,
  });
  if (ctx.options.json) {
    print(JSON.stringify(list, null, 2));
    return;
  }
  if (list.length > 0)
    table(
      ['Point', 'App', 'Time', 'Sources', 'Size', 'Added', 'Status'],
      list.map((p) => [
        p.id.slice(0, 8),
        p.app,
        p.time,
        p.sources.map((s) => `${s.source}${s.complete ? '' : ' (missing)'}`).join(', '),
        formatBytes(p.bytesRead),
        formatBytes(p.bytesAdded),
        p.complete ? 'complete' : 'INCOMPLETE',
      ]),
    );
  print(`${list.length} point${list.length === 1 ? '' : 's'}`);
}

/** `backup --app NAME`: one recovery point. */
export async function backupApp(ctx: CliContext, name: string, tags: string[]): Promise<void> {
  const app = appFromConfig(ctx.config, name);
  const out = await backupPoint({
    app,
    open: () => ctx.openRepository(),
    tags,
    progress: () => progressFor(ctx.options),
    onSource: (r) => {
      if (ctx.options.json) return;
      for (const o of r.saved) {
        print(
          `${r.source}: snapshot ${o.id.slice(0, 8)} saved (${o.snapshot.source}, ${formatBytes(o.snapshot.backup?.bytesRead ?? 0)})`,
        );
      }
      for (const f of r.failures) process.stderr.write(`failed: ${f.name}: ${f.error.message}\n`);
    },
  });
  if (ctx.options.json) {
    print(
      JSON.stringify(
        {
          point: out.point,
          complete: out.complete,
          durationMs: out.durationMs,
          sources: out.reports.map((r) => ({
            source: r.source,
            status: r.status,
            snapshots: r.saved.map((o) => o.id),
            failures: r.failures.map((f) => ({ name: f.name, code: f.error.code, error: f.error.message })),
          })),
        },
        null,
        2,
      ),
    );
  } else {
    print(
      `point ${out.point.id.slice(0, 8)} of ${name}: ${out.complete ? 'complete' : 'INCOMPLETE'}, ${out.reports.length} sources in ${(out.durationMs / 1000).toFixed(1)}s`,
    );
  }
  const error = backupRunError(out.reports);
  if (error) throw error;
}

export interface AppRestoreCliOptions {
  app: string;
  point?: string;
  at?: string;
  env?: string;
  only: string[];
  dryRun?: boolean;
  /** false with --no-verify: point-in-time sources are set to recover, not started. */
  verify?: boolean;
}

/** `restore --app NAME --point ID|--at TIME --env ENV [--only S,...]`: the plan, then the restore. */
export async function restoreAppCli(ctx: CliContext, opts: AppRestoreCliOptions): Promise<void> {
  if (!opts.env)
    throw new LifeboatError(
      'usage',
      '[app] restore --app needs --env ENVIRONMENT (where each source restores to)',
    );
  const app = appFromConfig(ctx.config, opts.app);
  const { planAppRestore } = await import('../jobs/app-plan.js');
  const repo = await ctx.openRepository();
  const only = opts.only.flatMap((s) => s.split(',')).filter(Boolean);
  const plan = await planAppRestore(repo, { app, env: opts.env, point: opts.point, at: opts.at, only });
  if (!ctx.options.json) for (const line of planLines(plan)) print(line);
  if (opts.dryRun) {
    if (ctx.options.json) print(JSON.stringify({ plan }, null, 2));
    else print('dry run: nothing restored');
    return;
  }
  const { appRestoreError, restoreApp } = await import('../jobs/app-restore.js');
  const pitr = plan.sources.some((s) => s.method === 'pitr') ? pitrSettings(ctx) : undefined;
  const outcome = await restoreApp({
    app,
    plan,
    open: () => ctx.openRepository(),
    pitr,
    verify: opts.verify !== false,
    onSource: (r) => {
      if (!ctx.options.json) for (const line of sourceLines(r)) print(line);
    },
  });
  if (ctx.options.json) print(JSON.stringify(outcome, null, 2));
  else print(outcomeLine(outcome));
  const error = appRestoreError(outcome);
  if (error) throw error;
}

/** What PostgreSQL's restore_command needs to fetch WAL from this repository (as `restore --at`). */
function pitrSettings(ctx: CliContext) {
  const config =
    ctx.options.config ??
    ctx.env.LIFEBOAT_CONFIG ??
    (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  const settings = recoverySettings(ctx.config, ctx.env, config);
  return {
    settings,
    restoreCommand: (source: string) => walFetchCommand(selfArgv(config), source, { settings: true }),
  };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** The plan as people read it before approving. */
export function planLines(plan: AppPlan): string[] {
  const from = plan.point
    ? `point ${plan.point.id.slice(0, 8)} (${plan.point.time}${plan.point.complete ? '' : ', INCOMPLETE'})`
    : `time ${plan.at}`;
  const lines = [
    `plan: restore ${plan.app} to ${plan.env}${plan.protected ? ' (protected)' : ''} from ${from}`,
  ];
  for (const s of plan.sources) lines.push(...sourcePlanLines(s));
  lines.push(`skew between the sources' recovery moments: ${seconds(plan.skewMs)}`);
  for (const n of plan.notes) lines.push(`note: ${n}`);
  return lines;
}

function sourcePlanLines(s: SourcePlan): string[] {
  const how =
    s.method === 'pitr'
      ? `base backup ${s.snapshots[0].id.slice(0, 8)} + WAL, recovered to exactly ${s.recoversTo}`
      : `snapshot ${s.snapshots.map((x) => x.id.slice(0, 8)).join(', ')} (${s.recoversTo})`;
  const lines = [`  ${s.source} (${s.engine}): ${how} -> ${s.to}`];
  if (s.walMissing)
    lines.push(`    WAL ${s.walMissing} is missing from the repository: recovery cannot reach the time`);
  for (const snap of s.snapshots) {
    const unit = s.snapshots.length > 1 ? `${snap.source}: ` : '';
    if (snap.target) {
      const t = snap.target;
      lines.push(`    ${unit}overwrites ${t.target}: ${t.summary}`);
      for (const item of t.items?.slice(0, 10) ?? []) lines.push(`      ${item}`);
      if ((t.items?.length ?? 0) > 10) lines.push(`      ... and ${(t.items?.length ?? 0) - 10} more`);
    } else {
      lines.push(`    ${unit}target not inspected: ${snap.targetError ?? 'unknown'}`);
    }
  }
  return lines;
}

function sourceLines(r: SourceRestoreReport): string[] {
  // A point-in-time source is set to recover; verified, it was started and recovered once.
  const verified = r.checks.some((c) => c.name === 'recovery finished');
  const done =
    r.method !== 'pitr'
      ? 'restored and verified'
      : verified
        ? `recovered to ${r.recoveredTo} and verified`
        : 'restored, recovery set';
  const head = `${r.source}: ${r.ok ? done : 'FAILED'} in ${seconds(r.ms)}${r.error ? `: ${r.error}` : ''}`;
  return [
    head,
    ...r.checks.map((c) => `  ${c.skipped ? 'skipped' : c.ok ? 'ok' : 'FAILED'} ${c.name}: ${c.detail}`),
  ];
}

function outcomeLine(o: AppRestoreOutcome): string {
  const ok = o.sources.filter((s) => s.ok).length;
  return `${o.plan.app} restored to ${o.plan.env}: ${ok} of ${o.sources.length} sources verified; recovery time ${seconds(o.rtoMs)}; skew ${seconds(o.skewMs)}`;
}

/** `drill --app NAME [--point ID]`: the whole app into scratch servers, its RTO recorded. */
export async function drillAppCli(ctx: CliContext, name: string, point: string | undefined): Promise<void> {
  const app = appFromConfig(ctx.config, name);
  const { drillApp } = await import('../jobs/app-drill.js');
  const { checkResult, drillFailure } = await import('../jobs/drill.js');
  const out = await drillApp({
    app,
    point,
    open: () => ctx.openRepository(),
    lifeboatArgv: selfArgv(ctx.options.config ?? ctx.env.LIFEBOAT_CONFIG),
    onSource: ({ id, report }) => {
      if (ctx.options.json) return;
      for (const c of report.checks)
        print(`  ${checkResult(c).padEnd(6)} ${report.source}: ${c.name}: ${c.detail}`);
      print(
        `${report.source}: drill ${id ? id.slice(0, 8) : '-'} ${report.passed ? 'passed' : 'FAILED'}, recovery time ${seconds(report.rtoMs)}`,
      );
    },
  });
  if (ctx.options.json) {
    print(
      JSON.stringify(
        { id: out.id, ...out.report, drills: out.drills.map((d) => ({ id: d.id, ...d.report })) },
        null,
        2,
      ),
    );
  } else {
    print(
      `drill ${out.id.slice(0, 8)} of app ${name} point ${out.point.id.slice(0, 8)}: ${out.report.passed ? 'passed' : 'FAILED'}, application recovery time ${seconds(out.report.rtoMs)}`,
    );
  }
  const failures = out.drills
    .map(({ report }) => {
      const f = drillFailure(report);
      return f && `[drill] ${report.source}: ${f}`;
    })
    .filter((f): f is string => Boolean(f));
  if (failures.length > 0) throw new LifeboatError('integrity', failures.join('\n'));
}

export type { AppPoint };
