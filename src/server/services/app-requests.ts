/**
 * @module server/services/app-requests
 * Applications over the API (config `apps:`): their recovery points and drills as the
 * repository holds them, the plan of a restore (made, never run), and the app jobs. A restore
 * into a protected environment waits for a second admin, as a protected source's restore
 * does (jobs/queue/restore-approval): the plan shown is kept in the job, and approving makes
 * it again and refuses when it changed. Each step is written to the audit log.
 */
import type { z } from 'zod';
import type { JobRecord } from '../../catalog/catalog.js';
import { withoutPasswords } from '../../catalog/secret-free.js';
import type { AppPlan } from '../../jobs/app-plan.js';
import { type AppDefinition, type AppPoint, appFromConfig, pointsOf } from '../../jobs/app-point.js';
import { stripUrlPassword } from '../../jobs/backup.js';
import { planChanges, replanAppRestore } from '../../jobs/queue/app-jobs.js';
import { paramsOf } from '../../jobs/queue/job-kinds.js';
import { checkApprover, type Requester } from '../../jobs/queue/restore-approval.js';
import type { ApiContext } from '../api-context.js';
import { ApiError } from '../api-error.js';
import type { AppJson, appRestoreRequest, PointJson } from '../api-schemas.js';

type AppRestoreRequest = z.output<typeof appRestoreRequest>;

/** The app `name` of the config, or 404. */
export function configuredApp(ctx: ApiContext, name: string): AppDefinition {
  const apps = ctx.config.apps ?? {};
  if (!Object.hasOwn(apps, name)) {
    throw new ApiError(
      404,
      'not_found',
      `[api] no app "${name}" in the config (known: ${Object.keys(apps).join(', ') || 'none'})`,
    );
  }
  return appFromConfig(ctx.config, name);
}

/**
 * `app:NAME`: the source an app's drill reports are kept under (jobs/app-drill), and the
 * source its jobs are recorded with, so two jobs of one app never overlap (the queue's rule).
 */
const appKey = (app: string) => `app:${app}`;

export function appList(ctx: ApiContext): AppJson[] {
  const entries = ctx.snapshots.entries();
  const drills = ctx.snapshots.list().filter((c) => c.snapshot.kind === 'drill');
  return Object.keys(ctx.config.apps ?? {}).map((name) => {
    const app = configuredApp(ctx, name);
    const points = pointsOf(entries, { app: name });
    // The cache's list is newest first; a drill's manifest keeps its report's summary in meta.
    const drill = drills.find((c) => metaOf(c.json).drilledSource === appKey(name));
    const meta = drill ? metaOf(drill.json) : {};
    return {
      name,
      sources: app.sources.map((s) => s.name),
      parallel: app.parallel,
      environments: Object.entries(app.environments).map(([env, e]) => ({
        name: env,
        protected: e.protected === true,
        targets: Object.fromEntries(Object.entries(e.targets).map(([s, to]) => [s, stripUrlPassword(to)])),
      })),
      latest_point: points.length > 0 ? pointJson(points[points.length - 1]) : null,
      points: points.length,
      last_drill: drill
        ? {
            id: drill.id,
            time: drill.snapshot.time,
            point: String(meta.drilledSnapshot ?? ''),
            passed: meta.passed === true,
            rto_ms: typeof meta.rtoMs === 'number' ? meta.rtoMs : null,
          }
        : null,
    };
  });
}

function metaOf(json: string): Record<string, unknown> {
  return (JSON.parse(json).meta ?? {}) as Record<string, unknown>;
}

export function appPoints(ctx: ApiContext, name: string, before?: string): PointJson[] {
  configuredApp(ctx, name);
  const points = pointsOf(ctx.snapshots.entries(), {
    app: name,
    ...(before ? { before: new Date(before) } : {}),
  });
  return points.reverse().map(pointJson);
}

function pointJson(p: AppPoint): PointJson {
  return {
    id: p.id,
    time: p.time,
    finished: p.finished,
    complete: p.complete,
    bytes_read: p.bytesRead,
    bytes_added: p.bytesAdded,
    sources: p.sources.map((s) => ({
      source: s.source,
      complete: s.complete,
      bytes_read: s.bytesRead,
      bytes_added: s.bytesAdded,
      snapshots: s.snapshots,
    })),
  };
}

/** The params an app restore request becomes; "latest" stays so, resolved at each planning. */
function restoreParams(name: string, body: AppRestoreRequest) {
  if ((body.point === undefined) === (body.at === undefined)) {
    throw new ApiError(400, 'invalid_request', '[api] body: give "point" or "at", one of them', 'point');
  }
  return {
    app: name,
    env: body.env,
    ...(body.point !== undefined ? { point: body.point } : {}),
    ...(body.at !== undefined ? { at: body.at } : {}),
    ...(body.only?.length ? { only: body.only } : {}),
    verify: body.verify ?? true,
  };
}

/** Makes the plan (reads the repository and the targets, writes nothing). */
async function plan(ctx: ApiContext, p: ReturnType<typeof restoreParams>): Promise<AppPlan> {
  configuredApp(ctx, p.app);
  const point = p.point === 'latest' ? latestPoint(ctx, p.app) : p.point;
  const repo = await ctx.openRepository();
  try {
    // Targets are already without passwords; an engine's message about one may still hold a URL.
    return withoutPasswords(
      await replanAppRestore(ctx, repo, { ...p, ...(point ? { point } : {}), plan: {} }),
    );
  } finally {
    await repo.close().catch(() => {});
    await repo.closeStorage().catch(() => {});
  }
}

function latestPoint(ctx: ApiContext, app: string): string {
  const newest = pointsOf(ctx.snapshots.entries(), { app, complete: true }).at(-1);
  if (!newest) {
    throw new ApiError(404, 'not_found', `[api] app "${app}" has no complete recovery point`, 'point');
  }
  return newest.id;
}

export function planAppRestore(ctx: ApiContext, name: string, body: AppRestoreRequest): Promise<AppPlan> {
  return plan(ctx, restoreParams(name, body));
}

/** Records a requested app restore, its plan in the params: queued, or awaiting a second admin. */
export async function requestAppRestore(
  ctx: ApiContext,
  who: Requester,
  name: string,
  body: AppRestoreRequest,
): Promise<{ job: JobRecord; plan: AppPlan }> {
  const params = restoreParams(name, body);
  const shown = await plan(ctx, params);
  const job = await ctx.runner.submit({
    kind: 'app_restore',
    source: appKey(name),
    trigger: 'api',
    requestedBy: who.name,
    needsApproval: shown.protected,
    // Targets in a plan are without credentials; the runner reads them from the config.
    params: { ...params, plan: shown as unknown as Record<string, unknown> },
  });
  await ctx.catalog.audit.append({
    actor: who.name,
    action: 'app_restore.request',
    target: job.id,
    details: {
      app: name,
      env: body.env,
      point: shown.point?.id ?? null,
      at: shown.at ?? null,
      only: body.only ?? [],
      protected: shown.protected,
      status: job.status,
    },
  });
  return { job, plan: shown };
}

/**
 * A second admin lets an app restore awaiting approval run, when its plan is still the one
 * shown: a newer point, another snapshot or a target that holds something else refuses (409)
 * and ends the request.
 */
export async function approveAppRestore(
  ctx: ApiContext,
  who: Requester,
  pending: JobRecord,
): Promise<JobRecord> {
  try {
    checkApprover(pending, who.name);
  } catch (err) {
    await ctx.catalog.audit.append({
      actor: who.name,
      action: 'app_restore.approve_denied',
      target: pending.id,
      details: { reason: (err as Error).message },
    });
    throw err;
  }
  if (pending.status !== 'awaiting_approval') {
    throw new ApiError(
      409,
      'conflict',
      `[api] job ${pending.id} is ${pending.status}, not awaiting approval`,
    );
  }
  const p = paramsOf('app_restore', pending);
  const { plan: shown, ...request } = p;
  const now = await plan(ctx, request as ReturnType<typeof restoreParams>);
  const changes = planChanges(shown as unknown as AppPlan, now, true);
  if (changes.length > 0) {
    const reason = `the plan changed since it was requested: ${changes.join('; ')}`;
    await ctx.runner.reject(pending.id, 'server', `${reason} (request the restore again)`);
    await ctx.catalog.audit.append({
      actor: who.name,
      action: 'app_restore.approve_refused',
      target: pending.id,
      details: { requested_by: pending.requested_by, changes },
    });
    throw new ApiError(
      409,
      'conflict',
      `[api] app restore ${pending.id} not approved: ${reason}; it is ended: request it again and review the new plan`,
    );
  }
  const job = await ctx.runner.approve(pending.id, who.name);
  await ctx.catalog.audit.append({
    actor: who.name,
    action: 'app_restore.approve',
    target: pending.id,
    details: { requested_by: job.requested_by, app: p.app, env: p.env, point: now.point?.id ?? null },
  });
  return job;
}

/** Queues an app backup (one recovery point) or an app drill. */
export async function requestAppJob(
  ctx: ApiContext,
  who: Requester,
  name: string,
  order: { kind: 'app_backup'; tags?: string[] } | { kind: 'app_drill'; point?: string },
): Promise<JobRecord> {
  configuredApp(ctx, name);
  const params =
    order.kind === 'app_backup'
      ? { app: name, ...(order.tags?.length ? { tags: order.tags } : {}) }
      : { app: name, ...(order.point ? { point: order.point } : {}) };
  const job = await ctx.runner.submit({
    kind: order.kind,
    source: appKey(name),
    trigger: 'api',
    requestedBy: who.name,
    params,
  } as Parameters<typeof ctx.runner.submit>[0]);
  await ctx.catalog.audit.append({
    actor: who.name,
    action: `${order.kind}.request`,
    target: name,
    details: { job: job.id, status: job.status, ...params },
  });
  return job;
}
