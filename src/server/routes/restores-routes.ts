/**
 * @module server/routes/restores-routes
 * Restores: request one, approve or reject one awaiting a second admin. The rules live in
 * server/services/restore-requests and jobs/queue/restore-approval.
 */
import { publicJob } from '../../jobs/queue/public-job.js';
import { errorResponse, jobEnvelope, jobParams, rejectRequest, restoreRequest } from '../api-schemas.js';
import { approveRestore, rejectRestore, requestRestore } from '../services/restore-requests.js';
import { callerOf, defineRoute, submitted } from './route.js';

export const restoresRoutes = [
  defineRoute({
    method: 'POST',
    path: '/api/restores',
    role: 'operator',
    summary: 'Restore a snapshot; a protected source or target answers 202 with status awaiting_approval',
    body: restoreRequest,
    bodyRequired: true,
    responses: {
      202: { description: 'queued, or awaiting a second admin', schema: jobEnvelope },
      404: { description: 'no such snapshot', schema: errorResponse },
    },
    handler: async (ctx, { body, req, reply }) =>
      submitted(reply, await requestRestore(ctx, callerOf(req), body)),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/restores/{id}/approve',
    role: 'admin',
    summary:
      'Approve a restore (or an app restore) awaiting approval: a second admin, never the requester; an app restore whose plan changed since the request is refused (409) and ended',
    params: jobParams,
    responses: {
      202: { description: 'approved and queued', schema: jobEnvelope },
      403: { description: 'the requester cannot approve their own restore', schema: errorResponse },
      409: {
        description: 'the job is not awaiting approval, or the app restore plan changed',
        schema: errorResponse,
      },
    },
    handler: async (ctx, { params, req, reply }) => {
      const job = await approveRestore(ctx, callerOf(req), params.id);
      reply.status(202);
      return { job: publicJob(job) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/restores/{id}/reject',
    role: 'operator',
    summary:
      'End a restore awaiting approval without running it (status rejected): any admin, or its requester (who withdraws it)',
    params: jobParams,
    body: rejectRequest,
    responses: {
      200: { description: 'rejected', schema: jobEnvelope },
      403: { description: 'neither an admin nor the requester', schema: errorResponse },
      404: { description: 'no such restore', schema: errorResponse },
      409: { description: 'the job is not awaiting approval', schema: errorResponse },
    },
    handler: async (ctx, { params, body, req }) => ({
      job: publicJob(await rejectRestore(ctx, callerOf(req), params.id, body.reason)),
    }),
  }),
];
