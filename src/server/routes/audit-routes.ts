/**
 * @module server/routes/audit-routes
 * The audit log, newest first, and on request the check of its hash chain.
 */
import { auditPage, auditQuery } from '../api-schemas.js';
import { defineRoute } from './route.js';

export const auditRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/audit',
    role: 'admin',
    summary: 'The audit log, newest first; with verify=true also the hash chain check',
    query: auditQuery,
    responses: { 200: { description: 'entries', schema: auditPage } },
    handler: async (ctx, { query: q }) => {
      const entries = await ctx.catalog.audit.list({
        since: q.since ? new Date(q.since).toISOString() : undefined,
        action: q.action,
        limit: q.limit ?? 100,
      });
      if (q.verify !== 'true') return { entries };
      const v = await ctx.catalog.audit.verify();
      return {
        entries,
        verification: { ok: v.ok, entries: v.entries, ...(v.firstBad ? { first_bad: v.firstBad } : {}) },
      };
    },
  }),
];
