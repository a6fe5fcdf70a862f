/**
 * @module server/routes/jobs-routes
 * Jobs from the catalog, newest first, with the progress of running ones: live for those this
 * server runs, as stored by the instance running it for the others.
 */
import { z } from 'zod';
import type { JobRecord } from '../../catalog/catalog.js';
import { publicJob } from '../../jobs/queue/public-job.js';
import type { ApiContext } from '../api-context.js';
import { ApiError } from '../api-error.js';
import { errorResponse, jobEnvelope, jobParams, jobResponse, jobsQuery } from '../api-schemas.js';
import { defineRoute } from './route.js';

export const jobsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/jobs',
    role: 'viewer',
    summary: 'Jobs, newest first',
    query: jobsQuery,
    responses: { 200: { description: 'jobs', schema: z.object({ jobs: z.array(jobResponse) }) } },
    handler: async (ctx, { query: q }) => {
      const jobs = await ctx.catalog.listJobs({
        source: q.source,
        status: q.status,
        kind: q.kind,
        since: q.since ? new Date(q.since).toISOString() : undefined,
        before: q.before ? new Date(q.before).toISOString() : undefined,
        limit: q.limit ?? 100,
      });
      return { jobs: jobs.map((j) => withProgress(ctx, j)) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/jobs/{id}',
    role: 'viewer',
    summary:
      'One job: status (queued, awaiting_approval, running, succeeded, failed, skipped, interrupted, rejected), timings, bytes, snapshot, error',
    params: jobParams,
    responses: {
      200: { description: 'the job', schema: jobEnvelope },
      404: { description: 'no such job', schema: errorResponse },
    },
    handler: async (ctx, { params: { id } }) => {
      const job = await ctx.catalog.getJob(id);
      if (!job) throw new ApiError(404, 'not_found', `[api] no job ${id}`);
      return { job: withProgress(ctx, job) };
    },
  }),
];

function withProgress(ctx: ApiContext, job: JobRecord): Record<string, unknown> {
  const out = publicJob(job);
  // Live when it runs here; else what the instance running it stored last.
  if (job.status === 'running') out.progress = ctx.runner.progress.get(job.id) ?? job.progress ?? null;
  return out;
}
