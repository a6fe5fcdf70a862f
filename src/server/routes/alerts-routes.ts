/**
 * @module server/routes/alerts-routes
 * Alerts firing and resolved, from the catalog.
 */
import { z } from 'zod';
import { alertResponse, alertsQuery } from '../api-schemas.js';
import { defineRoute } from './route.js';

export const alertsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/alerts',
    role: 'viewer',
    summary: 'Alerts firing and resolved (firing first)',
    query: alertsQuery,
    responses: { 200: { description: 'alerts', schema: z.object({ alerts: z.array(alertResponse) }) } },
    handler: async (ctx, { query: q }) => {
      const alerts = (await ctx.catalog.listAlerts(q.state)).sort((a, b) =>
        a.state === b.state ? (a.first_at < b.first_at ? 1 : -1) : a.state === 'firing' ? -1 : 1,
      );
      return { alerts };
    },
  }),
];
