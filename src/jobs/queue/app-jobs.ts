/**
 * @module jobs/queue/app-jobs
 * The application jobs the queue runs (app_backup, app_restore, app_drill) through the same
 * functions `backup --app`, `restore --app` and `drill --app` call (jobs/app-*), and the rule
 * that guards an approved app restore: the plan that runs is the plan that was shown.
 */

import type { JobRecord } from '../../catalog/catalog.js';
import { withoutPasswords } from '../../catalog/secret-free.js';
import { describe, LifeboatError } from '../../errors.js';
import type { Repository } from '../../repo/repository.js';
import { selfArgv } from '../../self-command.js';
import { type AppPlan, planAppRestore } from '../app-plan.js';
import { appFromConfig } from '../app-point.js';
import { pointRestoreCommand } from '../pitr.js';
import type { JobOutcome, JobRunnerContext } from './job-context.js';
import { type AppRestoreParams, paramsOf } from './job-kinds.js';
import { redactText } from './redact.js';

/**
 * Opens repositories for an app job's lanes: the first is the job's own handle, the others
 * are opened here and closed by `close`.
 */
function lanes(ctx: JobRunnerContext, repo: Repository) {
  const opened: Repository[] = [];
  let first = true;
  return {
    open: async (): Promise<Repository> => {
      if (first) {
        first = false;
        return repo;
      }
      if (!ctx.openRepository) return repo;
      const r = await ctx.openRepository();
      opened.push(r);
      return r;
    },
    close: async () => {
      for (const r of opened) {
        await r.close().catch(() => {});
        await r.closeStorage().catch(() => {});
      }
    },
  };
}

export async function runAppBackup(
  ctx: JobRunnerContext,
  repo: Repository,
  job: JobRecord,
): Promise<JobOutcome> {
  const p = paramsOf('app_backup', job);
  const app = appFromConfig(ctx.config, p.app);
  const { backupPoint } = await import('../app-point.js');
  const l = lanes(ctx, repo);
  try {
    const out = await backupPoint({
      app,
      open: l.open,
      tags: p.tags,
      progress: () => ctx.progress.track(job.id),
    });
    const saved = out.reports.flatMap((r) => r.saved);
    const errors = out.reports.flatMap((r) => r.failures.map((f) => `${f.name}: ${f.error.message}`));
    const result = {
      point: out.point.id,
      time: out.point.time,
      complete: out.complete,
      duration_ms: out.durationMs,
      sources: out.reports.map((r) => ({
        source: r.source,
        status: r.status,
        snapshots: r.saved.map((s) => s.id),
        ...(r.failures.length > 0
          ? { error: redactText(r.failures.map((f) => f.error.message).join('; ')) }
          : {}),
      })),
    };
    const update = {
      snapshots: saved.map((s) => s.id),
      bytes_read: saved.reduce((n, s) => n + (s.snapshot.backup?.bytesRead ?? 0), 0),
      bytes_stored: saved.reduce((n, s) => n + (s.snapshot.backup?.bytesAdded ?? 0), 0),
      result,
    };
    if (out.complete) return { update };
    const why = errors.length > 0 ? errors.join('; ') : 'a source saved nothing';
    return {
      failed: true,
      update: { ...update, error: redactText(`[app] point ${out.point.id.slice(0, 8)} incomplete: ${why}`) },
    };
  } finally {
    await l.close();
  }
}

export async function runAppDrill(
  ctx: JobRunnerContext,
  repo: Repository,
  job: JobRecord,
): Promise<JobOutcome> {
  const p = paramsOf('app_drill', job);
  const app = appFromConfig(ctx.config, p.app);
  const { drillApp } = await import('../app-drill.js');
  const l = lanes(ctx, repo);
  try {
    const out = await drillApp({ app, point: p.point, open: l.open, lifeboatArgv: ctx.lifeboatArgv });
    const result = {
      drill: out.id,
      point: out.point.id,
      passed: out.report.passed,
      rto_ms: out.report.rtoMs,
      restore_ms: out.report.restoreMs,
      checks: out.report.checks,
    };
    if (out.report.passed) return { update: { result } };
    const failed = out.report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    return {
      failed: true,
      update: { result, error: redactText(`[drill] app ${app.name}: ${failed.join('; ')}`) },
    };
  } finally {
    await l.close();
  }
}

/** Re-makes the plan of a requested app restore, as it stands now. */
export async function replanAppRestore(
  ctx: Pick<JobRunnerContext, 'config'>,
  repo: Repository,
  p: AppRestoreParams,
): Promise<AppPlan> {
  return planAppRestore(repo, {
    app: appFromConfig(ctx.config, p.app),
    env: p.env,
    ...(p.point !== undefined ? { point: p.point } : {}),
    ...(p.at !== undefined ? { at: p.at } : {}),
    only: p.only,
  });
}

/**
 * How `now` differs from the plan `shown` (what each source restores, from where, to where;
 * with `contents`, also what each target holds), one line per difference; none: the same.
 */
export function planChanges(shown: AppPlan, now: AppPlan, contents: boolean): string[] {
  const changes: string[] = [];
  if (shown.point?.id !== now.point?.id) {
    changes.push(
      `the point is now ${now.point?.id.slice(0, 8) ?? 'none'} (was ${shown.point?.id.slice(0, 8) ?? 'none'})`,
    );
  }
  const names = [...new Set([...shown.sources, ...now.sources].map((s) => s.source))];
  for (const name of names) {
    const a = shown.sources.find((s) => s.source === name);
    const b = now.sources.find((s) => s.source === name);
    if (!a || !b) {
      changes.push(`${name} is ${b ? 'now' : 'no longer'} in the plan`);
      continue;
    }
    const ids = (s: typeof a) => s.snapshots.map((x) => x.id.slice(0, 8)).join(', ');
    if (a.method !== b.method || ids(a) !== ids(b) || a.recoversTo !== b.recoversTo) {
      changes.push(
        `${name} now restores ${b.method === 'pitr' ? 'base backup' : 'snapshot'} ${ids(b)} to ${b.recoversTo} (was ${ids(a)} to ${a.recoversTo})`,
      );
    }
    if (a.to !== b.to) changes.push(`${name} now restores to ${b.to} (was ${a.to})`);
    if (!contents) continue;
    for (const snap of b.snapshots) {
      const before = a.snapshots.find((x) => x.source === snap.source);
      const was = before?.target?.summary ?? before?.targetError ?? '?';
      const is = snap.target?.summary ?? snap.targetError ?? '?';
      const items = (t: typeof snap.target) => (t?.items ?? []).join('\n');
      if (was !== is || items(before?.target) !== items(snap.target)) {
        changes.push(`the target of ${snap.source} now holds ${is} (was ${was})`);
      }
    }
  }
  return changes;
}

export async function runAppRestore(
  ctx: JobRunnerContext,
  repo: Repository,
  job: JobRecord,
): Promise<JobOutcome> {
  const p = paramsOf('app_restore', job);
  const app = appFromConfig(ctx.config, p.app);
  const plan = await replanAppRestore(ctx, repo, p);
  // A protected environment is written only with a second admin's approval, however the job
  // came to run (`lifeboat jobs retry` resubmits without one).
  if (plan.protected && !job.approved_by) {
    await ctx.catalog.audit.append({
      actor: 'server',
      action: 'app_restore.denied',
      target: job.id,
      details: { app: app.name, env: p.env, requested_by: job.requested_by },
    });
    throw new LifeboatError(
      'forbidden',
      `[app] restore ${job.id} of ${app.name} into protected environment ${p.env} was not approved (request it through the server, and a second admin approves it)`,
    );
  }
  // What was shown (and approved) is what runs: a newer point or snapshot stops it.
  // The kept plan went through withoutPasswords (server/services/app-requests): compare like with like.
  const changes = planChanges(p.plan as unknown as AppPlan, withoutPasswords(plan), false);
  if (changes.length > 0) {
    throw new LifeboatError(
      'conflict',
      `[app] the plan of restore ${job.id} changed since it was ${job.approved_by ? 'approved' : 'requested'}: ${changes.join('; ')} (request it again)`,
    );
  }
  const actor = job.approved_by ? `${job.requested_by} (approved by ${job.approved_by})` : job.requested_by;
  await ctx.catalog.audit.append({
    actor: 'server',
    action: 'app_restore.start',
    target: job.id,
    details: { app: app.name, env: p.env, point: plan.point?.id ?? null, at: plan.at ?? null, by: actor },
  });
  const { appRestoreError, restoreApp } = await import('../app-restore.js');
  const l = lanes(ctx, repo);
  try {
    const pitr = plan.sources.some((s) => s.method === 'pitr') ? pitrOf(ctx) : undefined;
    const outcome = await restoreApp({ app, plan, open: l.open, pitr, verify: p.verify ?? true });
    const result = {
      app: app.name,
      env: p.env,
      point: plan.point?.id ?? null,
      at: plan.at ?? null,
      rto_ms: outcome.rtoMs,
      // Between the sources' actual recovery moments.
      skew_ms: outcome.skewMs,
      ok: outcome.ok,
      sources: outcome.sources.map((s) => ({
        source: s.source,
        method: s.method,
        ok: s.ok,
        ms: s.ms,
        // The moment the source's data is from (PostgreSQL's last replayed commit when verified).
        recovered_to: s.recoveredTo,
        ...(s.rows ? { rows: s.rows } : {}),
        restored: s.restored.map((r) => ({
          snapshot: r.snapshot,
          source: r.source,
          target: redactText(r.target),
        })),
        checks: s.checks,
        ...(s.error ? { error: redactText(s.error) } : {}),
      })),
    };
    const error = appRestoreError(outcome);
    await ctx.catalog.audit.append({
      actor: 'server',
      action: 'app_restore.finish',
      target: job.id,
      details: {
        status: error ? 'failed' : 'succeeded',
        by: actor,
        rto_ms: outcome.rtoMs,
        ...(error ? { error: redactText(error.message) } : {}),
      },
    });
    if (!error) return { update: { snapshots: [], result } };
    return { failed: true, update: { result, error: redactText(error.message) } };
  } catch (err) {
    await ctx.catalog.audit.append({
      actor: 'server',
      action: 'app_restore.finish',
      target: job.id,
      details: { status: 'failed', by: actor, error: redactText(describe(err)) },
    });
    throw err;
  } finally {
    await l.close();
  }
}

/** What PostgreSQL's restore_command needs to fetch WAL from this repository (as `restore --at`). */
function pitrOf(ctx: JobRunnerContext) {
  const argv = ctx.lifeboatArgv ?? selfArgv();
  const env = ctx.env ?? process.env;
  const of = (source: string) => pointRestoreCommand(argv, source, ctx.config, env);
  return { settings: of('').settings, restoreCommand: (source: string) => of(source).restoreCommand };
}
