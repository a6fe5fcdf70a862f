/**
 * @module server/routes/worker-routes
 * What a remote `lifeboat worker --server` asks of a serve instance in fleet mode, with a
 * worker token (catalog/tokens): it holds no catalog credentials, so the serve instance does
 * its catalog and queue steps for it: register its heartbeat row, beat, claim a job (the
 * fetch and the row entry in one transaction, as the local worker loop), read and update the
 * jobs it holds, append their audit entries, submit a backup's retention, complete or fail
 * them. Every step's state is in PostgreSQL, so any instance answers any call.
 *
 * Scope: the labels a worker offers must be among its token's; a heartbeat row belongs to
 * the token that registered it; a job is reachable only while the caller's row holds it.
 * Anything else is refused (403, or 409 for a job not held) and audited as `worker.denied`.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { JobRecord, JobUpdate } from '../../catalog/catalog.js';
import { JOB_STATUSES } from '../../catalog/job-states.js';
import { systemClock } from '../../clock.js';
import type { FleetClaim, FleetQueue } from '../../jobs/fleet/fleet-queue.js';
import type { ApiContext, Caller } from '../api-context.js';
import { ApiError } from '../api-error.js';
import { errorResponse, jobParams } from '../api-schemas.js';
import { callerOf, defineRoute } from './route.js';

/** The audit actions a running job appends (jobs/queue/job-runner, jobs/queue/app-jobs). */
export const WORKER_AUDIT_ACTIONS = [
  'restore.denied',
  'restore.start',
  'restore.finish',
  'app_restore.denied',
  'app_restore.start',
  'app_restore.finish',
] as const;

/** The longest a claim waits for a job before answering none. */
const MAX_WAIT_SECONDS = 20;

const labels = z.record(z.string(), z.string());
const workerParams = z.strictObject({ worker: z.string().uuid('expected a worker id') });
const workerJobParams = workerParams.extend(jobParams.shape);

const registerBody = z.strictObject({
  name: z.string().min(1).max(200),
  host: z.string().min(1).max(200),
  pid: z.number().int().min(0),
  labels,
  /** Only jobs of these kinds (a worker with a write-only repository key: backups). */
  kinds: z.array(z.string()).max(50).optional(),
});
const heartbeatBody = z.strictObject({
  /** The fleet jobs (queueJobIds) the worker runs now. */
  running: z.array(z.string()).max(1000),
});
const claimBody = z.strictObject({ wait_seconds: z.number().min(0).max(MAX_WAIT_SECONDS).optional() });
const updateBody = z.strictObject({
  status: z
    .enum(JOB_STATUSES.filter((s) => ['running', 'succeeded', 'failed', 'interrupted'].includes(s)))
    .optional(),
  started_at: z.string().nullable().optional(),
  finished_at: z.string().nullable().optional(),
  bytes_read: z.number().int().min(0).nullable().optional(),
  bytes_stored: z.number().int().min(0).nullable().optional(),
  snapshots: z.array(z.string()).optional(),
  error: z.string().nullable().optional(),
  result: z.record(z.string(), z.unknown()).nullable().optional(),
  owner: z.string().nullable().optional(),
  /** A running job's latest progress, as the job queue stores it for every instance to show. */
  progress: z.record(z.string(), z.unknown()).nullable().optional(),
});
const auditBody = z.strictObject({
  action: z.enum(WORKER_AUDIT_ACTIONS),
  target: z.string(),
  details: z.record(z.string(), z.unknown()),
});
const failBody = z.strictObject({ message: z.string().max(10_000) });
const followUpBody = z.strictObject({
  kind: z.literal('forget'),
  params: z.record(z.string(), z.unknown()).optional(),
});

const ok = z.object({ ok: z.boolean() });
const jobAnswer = z.object({ job: z.record(z.string(), z.unknown()) });
const refusals = {
  403: { description: 'not this token’s worker, or labels beyond the token’s', schema: errorResponse },
  409: { description: 'not fleet mode, or a job this worker does not hold', schema: errorResponse },
};

/** The fleet queue, or 409 when the catalog is not PostgreSQL. */
function fleetOf(ctx: ApiContext): FleetQueue {
  if (!ctx.fleet) {
    throw new ApiError(
      409,
      'conflict',
      '[worker] remote workers need fleet mode: this server’s catalog is SQLite (set server.catalog to a postgres:// URL)',
    );
  }
  return ctx.fleet.queue;
}

/** Records a refusal in the audit log and answers it. */
async function deny(
  ctx: ApiContext,
  req: FastifyRequest,
  caller: Caller,
  status: 403 | 409,
  message: string,
  details: Record<string, unknown>,
): Promise<never> {
  await ctx.catalog.audit.append({
    actor: caller.name,
    action: 'worker.denied',
    target: `${req.method} ${req.url.split('?')[0]}`,
    details: { ...details, reason: message },
  });
  throw new ApiError(status, status === 403 ? 'forbidden' : 'conflict', message);
}

/** The caller's heartbeat row: 409 when gone (reaped: register again), 403 when another token's. */
async function ownRow(ctx: ApiContext, req: FastifyRequest, worker: string) {
  const caller = callerOf(req);
  const row = await fleetOf(ctx).workerRow(worker);
  if (!row) {
    throw new ApiError(
      409,
      'conflict',
      `[worker] worker ${worker} is not registered (it missed its lease and its jobs were handed on); register again`,
    );
  }
  if (row.token !== caller.name) {
    await deny(ctx, req, caller, 403, `[worker] worker ${worker} is not one of token "${caller.name}"’s`, {
      worker,
    });
  }
  return { caller, row };
}

/** The caller's claim of job `id`: refused (409, audited) when its row does not hold it. */
async function heldJob(
  ctx: ApiContext,
  req: FastifyRequest,
  worker: string,
  id: string,
): Promise<{ claim: FleetClaim & { id: string }; job: JobRecord; caller: Caller }> {
  const { caller, row } = await ownRow(ctx, req, worker);
  const claim = row.current.find((c) => c.id === id);
  if (!claim) {
    await deny(ctx, req, caller, 409, `[worker] worker ${worker} does not hold job ${id}`, {
      worker,
      job: id,
    });
  }
  const job = await ctx.catalog.getJob(id);
  if (!job || !claim) throw new ApiError(404, 'not_found', `[worker] no job ${id}`);
  return { claim, job, caller };
}

/** Labels offered beyond the token's, as `k=v` texts. */
function beyond(offered: Record<string, string>, allowed: Record<string, string> | null): string[] {
  return Object.entries(offered)
    .filter(([k, v]) => allowed?.[k] !== v)
    .map(([k, v]) => `${k}=${v}`);
}

export const workerRoutes = [
  defineRoute({
    method: 'POST',
    path: '/api/worker/register',
    role: 'worker',
    summary: 'A remote worker registers its heartbeat row (labels among its token’s)',
    body: registerBody,
    bodyRequired: true,
    responses: {
      200: {
        description: 'its worker id and the lease',
        schema: z.object({ worker: z.string(), lease_seconds: z.number(), poll_seconds: z.number() }),
      },
      ...refusals,
    },
    handler: async (ctx, { body, req }) => {
      const fleet = fleetOf(ctx);
      const caller = callerOf(req);
      const extra = beyond(body.labels, caller.labels);
      if (extra.length > 0) {
        await deny(
          ctx,
          req,
          caller,
          403,
          `[worker] token "${caller.name}" may not claim jobs for ${extra.join(', ')} (its labels: ${Object.entries(
            caller.labels ?? {},
          )
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')})`,
          { labels: body.labels },
        );
      }
      const worker = randomUUID();
      await fleet.registerWorker({ id: worker, ...body, token: caller.name });
      return {
        worker,
        lease_seconds: fleet.leaseSeconds,
        poll_seconds: fleet.options.pollSeconds ?? 2,
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/worker/{worker}/heartbeat',
    role: 'worker',
    summary:
      'A remote worker is alive; jobs its row holds that it does not run (an answer to a claim it never got) are failed for a retry',
    params: workerParams,
    body: heartbeatBody,
    bodyRequired: true,
    responses: { 200: { description: 'recorded', schema: ok }, ...refusals },
    handler: async (ctx, { params, body, req }) => {
      const fleet = fleetOf(ctx);
      const { row } = await ownRow(ctx, req, params.worker);
      if (!(await fleet.beat(params.worker))) return { ok: false };
      const settled = Date.now() - Math.max(10, fleet.leaseSeconds) * 1000;
      for (const c of row.current) {
        if (body.running.includes(c.queueJobId) || Date.parse(c.since) > settled) continue;
        await fleet.finish(params.worker, c.queueJobId, {
          error: `worker ${row.name} on ${row.host} does not run it (the answer to its claim was lost); the job is retried`,
        });
      }
      return { ok: true };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/worker/{worker}/claim',
    role: 'worker',
    summary: 'Fetches a job the worker’s labels reach, waiting up to wait_seconds for one',
    params: workerParams,
    body: claimBody,
    responses: {
      200: {
        description: 'the job claimed, or null',
        schema: z.object({
          claim: z
            .object({ queue_job_id: z.string(), attempt: z.number(), job: z.record(z.string(), z.unknown()) })
            .nullable(),
        }),
      },
      ...refusals,
    },
    handler: async (ctx, { params, body, req }) => {
      const fleet = fleetOf(ctx);
      const { row, caller } = await ownRow(ctx, req, params.worker);
      // The row's labels were checked against the token's when it registered; the token's
      // limit applies again here, whatever the row says.
      const scope = Object.fromEntries(
        Object.entries(row.labels).filter(([k, v]) => caller.labels?.[k] === v),
      );
      const end = Date.now() + (body?.wait_seconds ?? 0) * 1000;
      const pause = Math.min(1000, (fleet.options.pollSeconds ?? 2) * 500);
      for (;;) {
        const c = await fleet.claim(params.worker, scope, row.kinds ?? null);
        if (c) return { claim: { queue_job_id: c.queueJobId, attempt: c.attempt, job: c.job } };
        if (Date.now() + pause > end || req.raw.destroyed) return { claim: null };
        await systemClock.sleep(pause);
      }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/worker/{worker}/jobs/{id}',
    role: 'worker',
    summary: 'A job the worker holds, as the catalog records it',
    params: workerJobParams,
    responses: { 200: { description: 'the job', schema: jobAnswer }, ...refusals },
    handler: async (ctx, { params, req }) => ({
      job: (await heldJob(ctx, req, params.worker, params.id)).job,
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/worker/{worker}/jobs/{id}/update',
    role: 'worker',
    summary: 'Records the status, progress or result of a job the worker holds',
    params: workerJobParams,
    body: updateBody,
    bodyRequired: true,
    responses: { 200: { description: 'the job as updated', schema: jobAnswer }, ...refusals },
    handler: async (ctx, { params, body, req }) => {
      await heldJob(ctx, req, params.worker, params.id);
      // progress: the shape the worker's job queue stores; only ever shown back, never read.
      return { job: await ctx.catalog.updateJob(params.id, body as JobUpdate) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/worker/{worker}/jobs/{id}/audit',
    role: 'worker',
    summary: 'Appends an audit entry of a job the worker holds (restore and app restore steps only)',
    params: workerJobParams,
    body: auditBody,
    bodyRequired: true,
    responses: {
      200: {
        description: 'the entry appended',
        schema: z.object({ entry: z.record(z.string(), z.unknown()) }),
      },
      ...refusals,
    },
    handler: async (ctx, { params, body, req }) => {
      const { caller } = await heldJob(ctx, req, params.worker, params.id);
      if (body.target !== params.id) {
        await deny(
          ctx,
          req,
          caller,
          403,
          `[worker] an entry of job ${params.id} must name it as its target`,
          {
            worker: params.worker,
            job: params.id,
            target: body.target,
          },
        );
      }
      const entry = await ctx.catalog.audit.append({
        actor: 'server',
        action: body.action,
        target: params.id,
        details: { ...body.details, worker_token: caller.name },
      });
      return { entry };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/worker/{worker}/jobs/{id}/follow-up',
    role: 'worker',
    summary: 'Submits the retention (forget) of a backup the worker holds',
    params: workerJobParams,
    body: followUpBody,
    bodyRequired: true,
    responses: { 200: { description: 'recorded', schema: ok }, ...refusals },
    handler: async (ctx, { params, body, req }) => {
      const { job, caller } = await heldJob(ctx, req, params.worker, params.id);
      if (job.kind !== 'backup' || !job.source) {
        await deny(
          ctx,
          req,
          caller,
          403,
          `[worker] job ${job.id} is a ${job.kind}: only a backup has a retention`,
          {
            worker: params.worker,
            job: job.id,
          },
        );
      }
      await ctx.runner.submit({
        kind: 'forget',
        source: job.source,
        params: body.params,
        trigger: 'retention',
        requestedBy: 'server',
      } as Parameters<ApiContext['runner']['submit']>[0]);
      return { ok: true };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/worker/{worker}/unregister',
    role: 'worker',
    summary: 'A remote worker stops: its heartbeat row goes (only when it holds no job)',
    params: workerParams,
    responses: { 200: { description: 'removed, or false while it holds jobs', schema: ok }, ...refusals },
    handler: async (ctx, { params, req }) => {
      await ownRow(ctx, req, params.worker);
      return { ok: await fleetOf(ctx).unregister(params.worker) };
    },
  }),
  ...(['complete', 'fail'] as const).map((end) =>
    defineRoute({
      method: 'POST',
      path: `/api/worker/{worker}/jobs/{id}/${end}`,
      role: 'worker',
      summary:
        end === 'complete'
          ? 'Ends a job the worker holds in the queue (its catalog status is recorded first)'
          : 'Hands a job the worker holds back to the queue for a retry',
      params: workerJobParams,
      body: end === 'fail' ? failBody : undefined,
      bodyRequired: end === 'fail',
      responses: { 200: { description: 'done', schema: ok }, ...refusals },
      handler: async (ctx, { params, body, req }) => {
        const { claim } = await heldJob(ctx, req, params.worker, params.id);
        const message = (body as { message?: string } | undefined)?.message;
        const done = await fleetOf(ctx).finish(params.worker, claim.queueJobId, {
          error: end === 'fail' ? (message ?? 'failed') : undefined,
        });
        if (!done)
          throw new ApiError(
            409,
            'conflict',
            `[worker] worker ${params.worker} no longer holds job ${params.id}`,
          );
        return { ok: true };
      },
    }),
  ),
];
