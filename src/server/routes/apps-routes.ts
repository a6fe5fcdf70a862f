/**
 * @module server/routes/apps-routes
 * Applications (config `apps:`): the list with each app's newest point and last drill, its
 * recovery points, the plan of a restore, and the app jobs (restore, backup, drill). An app
 * restore is approved or rejected through /api/restores/{id}/approve and /reject. The rules
 * live in server/services/app-requests.
 */
import { z } from 'zod';
import {
  appDrillRequest,
  appParams,
  appPlanResponse,
  appResponse,
  appRestoreRequest,
  backupRequest,
  errorResponse,
  jobEnvelope,
  jobResponse,
  pointResponse,
  pointsQuery,
} from '../api-schemas.js';
import {
  appList,
  appPoints,
  planAppRestore,
  requestAppJob,
  requestAppRestore,
} from '../services/app-requests.js';
import { callerOf, defineRoute, submitted } from './route.js';

const busy = {
  description: 'a job of this app is still running: recorded as a skipped job',
  schema: errorResponse.extend({ job: jobResponse }),
};

export const appsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/apps',
    role: 'viewer',
    summary: 'Applications: their sources, environments, newest recovery point and last drill (RTO)',
    responses: { 200: { description: 'apps', schema: z.object({ apps: z.array(appResponse) }) } },
    handler: async (ctx) => ({ apps: appList(ctx) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/apps/{name}/points',
    role: 'viewer',
    summary: 'Recovery points of an app, newest first: each source with its snapshots, sizes, completeness',
    params: appParams,
    query: pointsQuery,
    responses: {
      200: { description: 'points', schema: z.object({ points: z.array(pointResponse) }) },
      404: { description: 'no such app', schema: errorResponse },
    },
    handler: async (ctx, { params, query }) => ({ points: appPoints(ctx, params.name, query.before) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/apps/{name}/plan',
    role: 'operator',
    summary:
      'The plan of an app restore, nothing run: per source the snapshot or point in time, the target and what it holds now; the skew',
    params: appParams,
    body: appRestoreRequest,
    bodyRequired: true,
    responses: {
      200: { description: 'the plan', schema: z.object({ plan: appPlanResponse }) },
      400: { description: 'no such environment or source, or neither point nor at', schema: errorResponse },
      404: { description: 'no such app or point, or no backup at the time', schema: errorResponse },
    },
    handler: async (ctx, { params, body }) => ({ plan: await planAppRestore(ctx, params.name, body) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/apps/{name}/restores',
    role: 'operator',
    summary:
      'Restore an app into an environment; a protected environment answers 202 with status awaiting_approval (a second admin approves through /api/restores/{id}/approve)',
    params: appParams,
    body: appRestoreRequest,
    bodyRequired: true,
    responses: {
      202: {
        description: 'queued, or awaiting a second admin; with the plan kept in the job',
        schema: jobEnvelope.extend({ plan: appPlanResponse }),
      },
      404: { description: 'no such app or point', schema: errorResponse },
      409: busy,
    },
    handler: async (ctx, { params, body, req, reply }) => {
      const { job, plan } = await requestAppRestore(ctx, callerOf(req), params.name, body);
      const answer = submitted(reply, job) as Record<string, unknown>;
      return { ...answer, plan };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/apps/{name}/backups',
    role: 'operator',
    summary: 'Take a recovery point of an app: every source backed up together',
    params: appParams,
    body: backupRequest,
    responses: {
      202: { description: 'queued', schema: jobEnvelope },
      404: { description: 'no such app', schema: errorResponse },
      409: busy,
    },
    handler: async (ctx, { params, body, req, reply }) =>
      submitted(
        reply,
        await requestAppJob(ctx, callerOf(req), params.name, { kind: 'app_backup', tags: body.tags }),
      ),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/apps/{name}/drills',
    role: 'operator',
    summary:
      "Drill an app: every source of a point restored into scratch targets at once and checked; the report keeps the app's RTO",
    params: appParams,
    body: appDrillRequest,
    responses: {
      202: { description: 'queued', schema: jobEnvelope },
      404: { description: 'no such app', schema: errorResponse },
      409: busy,
    },
    handler: async (ctx, { params, body, req, reply }) =>
      submitted(
        reply,
        await requestAppJob(ctx, callerOf(req), params.name, { kind: 'app_drill', point: body.point }),
      ),
  }),
];
