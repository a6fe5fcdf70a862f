/**
 * @module server/routes/system-routes
 * The server itself: liveness (no token), Prometheus metrics, who the caller is, and the
 * workers of a fleet.
 */
import { healthResponse, whoamiResponse, workersResponse } from '../api-schemas.js';
import { callerOf, defineRoute } from './route.js';

export const systemRoutes = [
  defineRoute({
    method: 'GET',
    path: '/healthz',
    role: null,
    summary:
      'Liveness: 200 when the catalog, the repository and the scheduler are fine, 503 with the reasons otherwise',
    responses: {
      200: { description: 'healthy', schema: healthResponse },
      503: { description: 'unhealthy, with reasons', schema: healthResponse },
    },
    handler: async (ctx, { reply }) => {
      const h = await ctx.health();
      reply.status(h.ok ? 200 : 503);
      return {
        status: h.ok ? 'ok' : 'unhealthy',
        checks: h.checks,
        ...(h.ok ? {} : { reasons: h.reasons }),
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/metrics',
    role: 'viewer',
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: { description: 'metrics', text: true } },
    handler: async (ctx, { reply }) => {
      reply.header('content-type', ctx.metrics.contentType);
      return ctx.metrics.render();
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/whoami',
    role: 'viewer',
    summary: 'The token’s name and role (the dashboard shows what the role may do)',
    responses: { 200: { description: 'the caller', schema: whoamiResponse } },
    handler: async (_ctx, { req }) => {
      const who = callerOf(req);
      return { name: who.name, role: who.role };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/workers',
    role: 'viewer',
    summary:
      'Fleet mode: the workers with a live heartbeat, their labels and the jobs they run; a single server answers mode "single" and no workers',
    responses: { 200: { description: 'the workers', schema: workersResponse } },
    handler: async (ctx) => {
      const { mode, workers } = await ctx.workers();
      return {
        mode,
        workers: workers.map((w) => ({
          id: w.id,
          name: w.name,
          host: w.host,
          pid: w.pid,
          labels: w.labels,
          kinds: w.kinds ?? null,
          started_at: new Date(w.startedAt).toISOString(),
          last_seen: new Date(w.lastSeen).toISOString(),
          current: w.current.map((c) => ({ id: c.id, kind: c.kind, source: c.source, since: c.since })),
        })),
      };
    },
  }),
];
