/**
 * @module jobs/queue/job-runner
 * Runs one job of any kind (backup, forget, prune, check, restore, drill, and the app jobs of
 * jobs/queue/app-jobs) through the same
 * functions the CLI calls, on a repository handle the queue opens for it, and says what to
 * record: the job's update, whether it failed, and a job to follow (a backup's retention).
 * Errors are LifeboatErrors; the queue records them as the job's error.
 */
import { resolve } from 'node:path';
import type { JobRecord, JobUpdate } from '../../catalog/catalog.js';
import { describe, LifeboatError } from '../../errors.js';
import type { Repository } from '../../repo/repository.js';
import { selfArgv } from '../../self-command.js';
import { sourceOfUnit } from '../../sources/source-units.js';
import { backupSource } from '../backup.js';
import { runCheck } from '../check.js';
import { runForget } from '../forget.js';
import { pointRestoreCommand, restoreToPoint } from '../pitr.js';
import { pruneGraceMs, runPrune } from '../prune.js';
import { runRestore } from '../restore.js';
import type { KeepPolicy } from '../retention.js';
import { runAppBackup, runAppDrill, runAppRestore } from './app-jobs.js';
import type { FollowUp, JobOutcome, JobRunnerContext } from './job-context.js';
import { paramsOf, type RestoreParams, restoreScopeOptions } from './job-kinds.js';
import { redactText } from './redact.js';
import { unapprovedRunReason } from './restore-approval.js';

export type { FollowUp, JobOutcome, JobRunnerContext } from './job-context.js';

/**
 * Runs `job` on `repo`. `secretTarget` is a restore's target with its password, which the
 * catalog does not keep (the queue holds it in memory).
 */
export async function runJob(
  ctx: JobRunnerContext,
  repo: Repository,
  job: JobRecord,
  secretTarget?: string,
): Promise<JobOutcome> {
  switch (job.kind) {
    case 'backup':
      return backup(ctx, repo, job);
    case 'forget':
      return forget(ctx, repo, job);
    case 'prune': {
      const r = await runPrune(repo, { graceMs: pruneGraceMs(paramsOf('prune', job).grace, ctx.config) });
      return { update: { result: { ...r } } };
    }
    case 'check': {
      const percent = Number(paramsOf('check', job).read_data_percent ?? 0);
      const r = await runCheck(repo, { readDataPercent: percent });
      const result = { ...r, errors: r.errors.slice(0, 20), warnings: r.warnings.slice(0, 20) };
      if (r.ok) return { update: { result } };
      const more = r.errors.length > 1 ? ` (and ${r.errors.length - 1} more)` : '';
      return { failed: true, update: { result, error: redactText(`${r.errors[0]}${more}`) } };
    }
    case 'restore':
      return restore(ctx, repo, job, secretTarget);
    case 'drill':
      return drill(ctx, repo, job);
    case 'app_backup':
      return runAppBackup(ctx, repo, job);
    case 'app_restore':
      return runAppRestore(ctx, repo, job);
    case 'app_drill':
      return runAppDrill(ctx, repo, job);
  }
}

async function backup(ctx: JobRunnerContext, repo: Repository, job: JobRecord): Promise<JobOutcome> {
  const name = job.source ?? '';
  const config = ctx.config.sources[name];
  if (!config) {
    return {
      failed: true,
      update: { error: `[backup] no source "${name}" in the config (it may have been removed since)` },
    };
  }
  const tags = paramsOf('backup', job).tags ?? [];
  const report = await backupSource(repo, {
    name,
    config: config as Record<string, unknown>,
    tags,
    progress: () => ctx.progress.track(job.id),
    job: job.id,
    lockWait: ctx.lockWait,
  });
  const units = report.saved.map(({ id, snapshot: s }) => ({
    snapshot: id,
    source: s.source,
    bytes_read: s.backup?.bytesRead ?? 0,
    bytes_added: s.backup?.bytesAdded ?? 0,
    duration_ms: s.backup?.durationMs ?? 0,
    ...(s.skippedCount ? { skipped: s.skipped ?? [], skipped_count: s.skippedCount } : {}),
  }));
  // Saved, but not all of it: the result says what is missing, as a warning.
  const skipped = units.reduce((n, u) => n + (u.skipped_count ?? 0), 0);
  const first = units.flatMap((u) => u.skipped ?? [])[0];
  const warning =
    skipped > 0
      ? redactText(
          `[backup] ${skipped} path${skipped === 1 ? '' : 's'} could not be read and ${skipped === 1 ? 'is' : 'are'} not in the snapshot${first ? `: ${first.path} (${first.error})${skipped > 1 ? ', ...' : ''}` : ''}`,
        )
      : undefined;
  const update: JobUpdate = {
    snapshots: units.map((u) => u.snapshot),
    bytes_read: units.reduce((n, u) => n + u.bytes_read, 0),
    bytes_stored: units.reduce((n, u) => n + u.bytes_added, 0),
    result: { status: report.status, units, ...(warning ? { warning } : {}) },
  };
  // A unit or hook that failed fails the job, with what was saved still recorded.
  if (report.failures.length > 0) {
    const [one, ...more] = report.failures;
    const error =
      more.length === 0
        ? one.error.message
        : `[backup] ${report.failures.map((f) => `${f.name}: ${f.error.message}`).join('; ')}`;
    return { failed: true, update: { ...update, error: redactText(error) } };
  }
  const followUp: FollowUp | undefined = hasPolicy(config.retention)
    ? { kind: 'forget', source: name, params: { units: [...new Set(units.map((u) => u.source))] } }
    : undefined;
  return { update, followUp };
}

async function forget(ctx: JobRunnerContext, repo: Repository, job: JobRecord): Promise<JobOutcome> {
  const name = job.source ?? '';
  const policy = ctx.config.sources[name]?.retention as KeepPolicy | undefined;
  if (!hasPolicy(policy)) {
    return { failed: true, update: { error: `[forget] source "${name}" has no retention in the config` } };
  }
  // Each unit of the source keeps its own snapshots under the source's policy.
  const configPolicies: Record<string, KeepPolicy> = { [name]: policy };
  const r = await runForget(repo, { policy: {}, configPolicies, source: name, dryRun: false });
  return {
    update: {
      result: {
        removed: r.removed,
        kept: r.groups.flatMap((g) => g.decisions.filter((d) => d.keep).map((d) => d.entry.id)).length,
        // Snapshots dated ahead of the storage clock: kept, counted by no rule (retention.ts).
        not_counted: r.groups.flatMap((g) => g.decisions.filter((d) => d.ahead).map((d) => d.entry.id)),
      },
    },
  };
}

async function drill(ctx: JobRunnerContext, repo: Repository, job: JobRecord): Promise<JobOutcome> {
  const { snapshot } = paramsOf('drill', job);
  // Loaded here: drills bring the database drivers, which other jobs do without.
  const { drillFailure, runDrills } = await import('../drill.js');
  const outcomes = await runDrills(repo, {
    source: job.source ?? undefined,
    snapshot,
    configured: ctx.config.sources as Record<string, Record<string, unknown>>,
    lifeboatArgv: ctx.lifeboatArgv,
  });
  const results = outcomes.map(({ id, report }) => ({
    drill: id,
    source: report.source,
    snapshot: report.snapshot,
    passed: report.passed,
    rto_ms: report.rtoMs,
    rpo_ms: report.recovery?.rpoMs,
    checks: report.checks,
  }));
  // One drill: its result as is; a source of several units: one result per unit.
  const result =
    results.length === 1 ? results[0] : { passed: results.every((r) => r.passed), drills: results };
  const failures = outcomes
    .map(({ report }) => {
      const failure = drillFailure(report);
      return failure && (outcomes.length > 1 ? `${report.source}: ${failure}` : failure);
    })
    .filter((f): f is string => Boolean(f));
  if (failures.length === 0) return { update: { result } };
  return { failed: true, update: { result, error: redactText(`[drill] ${failures.join('; ')}`) } };
}

async function restore(
  ctx: JobRunnerContext,
  repo: Repository,
  stored: JobRecord,
  secret: string | undefined,
): Promise<JobOutcome> {
  if (stored.params.target_password_kept === false && secret === undefined) {
    throw new LifeboatError(
      'usage',
      `[jobs] restore ${stored.id}: the password in its target URL is kept in memory only and was lost when the server restarted (request the restore again)`,
    );
  }
  const job = secret === undefined ? stored : { ...stored, params: { ...stored.params, to: secret } };
  const p = paramsOf('restore', job);
  const reason = await unapprovedRunReason(ctx.config.sources, job, p);
  if (reason && p.to) {
    await ctx.catalog.audit.append({
      actor: 'server',
      action: 'restore.denied',
      target: job.id,
      details: { reason, requested_by: job.requested_by, to: redactText(p.to) },
    });
    throw new LifeboatError(
      'forbidden',
      `[jobs] restore ${job.id} was not approved, and ${reason} now (the target changed since the request; request it again, and a second admin approves it)`,
    );
  }
  const actor = job.approved_by ? `${job.requested_by} (approved by ${job.approved_by})` : job.requested_by;
  await ctx.catalog.audit.append({
    actor: 'server',
    action: 'restore.start',
    target: job.id,
    details: {
      snapshot: p.snapshot,
      to: p.to ? redactText(p.to) : null,
      ...(p.at ? { at: p.at } : {}),
      requested_by: job.requested_by,
      approved_by: job.approved_by,
    },
  });
  try {
    const result =
      typeof p.at === 'string'
        ? await restoreAtPoint(ctx, repo, p as RestoreParams & { at: string; to: string })
        : await restoreSnapshot(ctx, repo, job.id, p);
    await ctx.catalog.audit.append({
      actor: 'server',
      action: 'restore.finish',
      target: job.id,
      details: { status: 'succeeded', by: actor, ...result },
    });
    return { update: { snapshots: [], result } };
  } catch (err) {
    const error = redactText(describe(err));
    await ctx.catalog.audit.append({
      actor: 'server',
      action: 'restore.finish',
      target: job.id,
      details: { status: 'failed', by: actor, error },
    });
    throw err;
  }
}

/**
 * `at` on a physical source: with tables, their rows at that time into a live database
 * (jobs/pitr-extract); else the base backup plus recovery settings (wal-commands restoreAt).
 */
async function restoreAtPoint(
  ctx: JobRunnerContext,
  repo: Repository,
  p: RestoreParams & { at: string; to: string },
): Promise<Record<string, unknown>> {
  const source = p.source ?? '';
  const argv = ctx.lifeboatArgv ?? selfArgv();
  if ((p.tables ?? []).length > 0) {
    // Loaded when used: it brings a PostgreSQL driver the other jobs do without.
    const { extractAtPoint } = await import('../pitr-extract.js');
    const r = await extractAtPoint(repo, {
      source,
      at: p.at,
      tables: p.tables ?? [],
      to: p.to,
      overwrite: !!p.overwrite,
      configured: ctx.config.sources?.[sourceOfUnit(source)] as Record<string, unknown> | undefined,
      lifeboatArgv: argv,
    });
    return {
      snapshot: r.base,
      target: redactText(r.target),
      at: r.at,
      last_transaction: r.lastTransaction,
      database: r.database,
      rows: r.rows,
      wal_fetched: r.walFetched,
    };
  }
  // A dry run writes nothing: it is what lets such a request skip the second admin.
  const r = await restoreToPoint(repo, {
    source,
    at: p.at,
    to: resolve(p.to),
    // As `restore --at`: the repository and its password source go into the data directory.
    ...pointRestoreCommand(argv, source, ctx.config, ctx.env ?? process.env),
    dryRun: !!p.dry_run,
  });
  return {
    snapshot: r.base.id,
    target: redactText(r.target),
    at: r.at,
    window: { from: r.window.from ?? null, to: r.window.to ?? null },
    dry_run: r.dryRun,
  };
}

async function restoreSnapshot(
  ctx: JobRunnerContext,
  repo: Repository,
  jobId: string,
  p: RestoreParams,
): Promise<Record<string, unknown>> {
  const r = await runRestore(repo, {
    snapshot: p.snapshot,
    source: p.source,
    configured: ctx.config.sources as Record<string, Record<string, unknown>>,
    options: {
      to: p.to,
      ...restoreScopeOptions(p),
      overwrite: !!p.overwrite,
      dryRun: !!p.dry_run,
    },
    progress: ctx.progress.track(jobId),
  });
  return {
    snapshot: r.snapshotId,
    target: redactText(r.target),
    stats: r.stats,
    items: r.items.length,
  };
}

function hasPolicy(p: KeepPolicy | undefined): p is KeepPolicy {
  return !!p && Object.entries(p).some(([k, v]) => (k === 'tags' ? Array.isArray(v) && v.length > 0 : !!v));
}
