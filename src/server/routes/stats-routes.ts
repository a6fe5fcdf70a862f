/**
 * @module server/routes/stats-routes
 * Time series for the dashboard's charts (server/services/backup-stats computes them).
 */
import { statsQuery, statsResponse } from '../api-schemas.js';
import { backupStats } from '../services/backup-stats.js';
import { defineRoute } from './route.js';

export const statsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/stats',
    role: 'viewer',
    summary: 'Time series for charts: size and duration of each backup, daily outcomes, repository growth',
    query: statsQuery,
    responses: { 200: { description: 'series', schema: statsResponse } },
    handler: async (ctx, { query: q }) => {
      const since = q.since ? Date.parse(q.since) : ctx.clock.now().getTime() - 30 * 86_400_000;
      return backupStats(ctx, { source: q.source, since });
    },
  }),
];
