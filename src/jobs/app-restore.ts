/**
 * @module jobs/app-restore
 * Carries out an application restore plan (app-plan): the app's before_restore hook once,
 * the sources in parallel (bounded), each verified as it finishes, and the application's
 * recovery time measured from the start to the last source verified. A source that fails
 * does not stop the others; the outcome lists each.
 */
import { describe, LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { SourceStats } from '../sources/source.js';
import { type AppPlan, type SourcePlan, targetOf } from './app-plan.js';
import { type AppDefinition, inLanes } from './app-point.js';
import { stripUrlPassword } from './backup.js';
import type { DrillCheckResult } from './drill.js';
import { checkFailed } from './drill-integrity.js';
import { withHooks } from './hooks.js';
import { restoreToPoint } from './pitr.js';
import type { RecoverySettings } from './pitr-settings.js';
import { runRestore } from './restore.js';
import { verifyRestored } from './restore-verify.js';

export interface AppRestoreRequest {
  app: AppDefinition;
  plan: AppPlan;
  /** Opens the repository; called once per lane. */
  open: () => Promise<Repository>;
  /** For sources recovered to a point in time: PostgreSQL's restore_command and what it reads. */
  pitr?: { restoreCommand: (source: string) => string; settings?: RecoverySettings };
  /**
   * Start PostgreSQL on each data directory recovered to a point, let it reach the point and
   * promote, check it and stop it (jobs/pitr-verify); else it recovers when the user starts it.
   */
  verify?: boolean;
  onSource?: (report: SourceRestoreReport) => void;
}

export interface SourceRestoreReport {
  source: string;
  method: SourcePlan['method'];
  /** Restored and every check passed. */
  ok: boolean;
  /** From this source's start to its last check. */
  ms: number;
  restored: { snapshot: string; source: string; target: string; stats: SourceStats }[];
  checks: DrillCheckResult[];
  /**
   * The moment the data is from: for a source recovered and verified, the last transaction
   * PostgreSQL replayed; else the plan's moment.
   */
  recoveredTo: string;
  /** Verified recovery: rows per table ("database.schema.table") of the recovered cluster. */
  rows?: Record<string, number>;
  error?: string;
}

export interface AppRestoreOutcome {
  plan: AppPlan;
  sources: SourceRestoreReport[];
  /** The application's recovery time: start to every source verified, in milliseconds. */
  rtoMs: number;
  /** Latest minus earliest moment recovered over the sources restored, in milliseconds. */
  skewMs: number;
  ok: boolean;
}

export async function restoreApp(req: AppRestoreRequest): Promise<AppRestoreOutcome> {
  const { app, plan } = req;
  const first = await req.open();
  const clock = first.clock;
  const t0 = clock.now().getTime();
  const sources = await withHooks(
    app.hooks,
    'restore',
    { source: `app:${app.name}`, type: 'app', target: plan.env, snapshot: plan.point?.id },
    () =>
      inLanes(
        plan.sources,
        app.parallel,
        async (i) => (i === 0 ? first : req.open()),
        async (s, repo) => {
          const report = await restoreSource(repo, req, s);
          req.onSource?.(report);
          return report;
        },
      ),
  );
  const rtoMs = clock.now().getTime() - t0;
  const moments = sources.filter((s) => s.ok).map((s) => Date.parse(s.recoveredTo));
  const skewMs = moments.length > 0 ? Math.max(...moments) - Math.min(...moments) : 0;
  return { plan, sources, rtoMs, skewMs, ok: sources.every((s) => s.ok) };
}

async function restoreSource(
  repo: Repository,
  req: AppRestoreRequest,
  s: SourcePlan,
): Promise<SourceRestoreReport> {
  const t0 = repo.clock.now().getTime();
  const to = targetOf(req.app, req.plan.env, s.source);
  const report: SourceRestoreReport = {
    source: s.source,
    method: s.method,
    ok: false,
    ms: 0,
    restored: [],
    checks: [],
    recoveredTo: s.recoversTo,
  };
  try {
    if (s.method === 'pitr') {
      if (!req.pitr)
        throw new LifeboatError(
          'usage',
          `[app] ${s.source} recovers to a point in time: no restore_command given`,
        );
      const r = await restoreToPoint(repo, {
        source: s.source,
        at: s.recoversTo,
        to,
        restoreCommand: req.pitr.restoreCommand(s.source),
        settings: req.pitr.settings,
      });
      report.restored.push({
        snapshot: r.base.id,
        source: s.source,
        target: r.target,
        stats: r.base.snapshot.stats,
      });
      const planned = r.base.id === s.snapshots[0].id && r.at === s.recoversTo;
      if (req.verify && planned) {
        const { verifyRecovery } = await import('./pitr-verify.js');
        const v = await verifyRecovery({
          dataDir: r.target,
          at: r.at,
          baseEnd: String(r.base.snapshot.meta.endTime ?? r.base.snapshot.time),
          configured: req.app.sources.find((x) => x.name === s.source)?.config,
          component: 'app',
        });
        report.recoveredTo = v.recoveredTo;
        report.rows = v.rows;
        report.checks.push(...v.checks);
      } else {
        report.checks.push({
          name: 'recovery target',
          ok: planned,
          detail: `base backup ${r.base.id.slice(0, 8)} set to recover to ${r.at}; PostgreSQL replays the WAL when started on ${r.target}`,
          ms: 0,
        });
      }
    } else {
      const configured = req.app.sources.find((x) => x.name === s.source)?.config;
      for (const snap of s.snapshots) {
        const result = await runRestore(repo, {
          snapshot: snap.id,
          configured: { [s.source]: configured },
          options: { to, overwrite: true, dryRun: false },
        });
        report.restored.push({
          snapshot: snap.id,
          source: snap.source,
          target: stripUrlPassword(result.target),
          stats: result.stats,
        });
        const checks = verifyRestored(result.snapshot, result);
        // A unit's checks are named after it, so a source of several units tells them apart.
        const unit = s.snapshots.length > 1 ? `${snap.source}: ` : '';
        report.checks.push(...checks.map((c) => ({ ...c, name: `${unit}${c.name}` })));
      }
    }
    report.ok = !report.checks.some(checkFailed);
  } catch (err) {
    report.error = stripUrlPassword(describe(err));
  }
  report.ms = repo.clock.now().getTime() - t0;
  return report;
}

/** The error an app restore ends with, or undefined when every source was restored and verified. */
export function appRestoreError(outcome: AppRestoreOutcome): LifeboatError | undefined {
  const failed = outcome.sources.filter((s) => !s.ok);
  if (failed.length === 0) return undefined;
  const what = failed.map((s) => `${s.source}: ${s.error ?? failedChecks(s)}`).join('; ');
  const someOk = failed.length < outcome.sources.length;
  return new LifeboatError(
    someOk ? 'partial' : failed.every((s) => !s.error) ? 'integrity' : 'source_failed',
    `[app] ${failed.length} of ${outcome.sources.length} sources of ${outcome.plan.app} not restored to ${outcome.plan.env} as planned: ${what} (fix it and restore them again with --only)`,
  );
}

function failedChecks(s: SourceRestoreReport): string {
  return s.checks
    .filter(checkFailed)
    .map((c) => `${c.name}: ${c.detail}`)
    .join(', ');
}
