/**
 * @module server/routes/drills-routes
 * Drill reports kept in the repository: the list, and one report in full.
 */
import { z } from 'zod';
import { redactText } from '../../jobs/queue/redact.js';
import { belongsTo } from '../../sources/source-units.js';
import { ApiError } from '../api-error.js';
import { type DrillJson, drillResponse, drillsQuery, errorResponse, snapshotParams } from '../api-schemas.js';
import type { CachedSnapshot } from '../snapshot-cache.js';
import { defineRoute } from './route.js';

export const drillsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/drills',
    role: 'viewer',
    summary: 'Drill reports kept in the repository, newest first',
    query: drillsQuery,
    responses: { 200: { description: 'reports', schema: z.object({ drills: z.array(drillResponse) }) } },
    handler: async (ctx, { query: q }) => {
      const all = ctx.snapshots.memo('drills', () =>
        ctx.snapshots
          .list()
          .filter((c) => c.snapshot.kind === 'drill')
          .map(drillOf),
      );
      const drills = all.filter((d) => !q.source || belongsTo(d.source, q.source));
      return { drills: drills.slice(0, q.limit ?? 100) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/drills/{id}',
    role: 'viewer',
    summary: 'One drill report in full (report.json: every check with its detail and time)',
    params: snapshotParams,
    responses: {
      200: {
        description: 'the report',
        schema: z.object({ drill: drillResponse, report: z.looseObject({}) }),
      },
      404: { description: 'no such drill report', schema: errorResponse },
    },
    handler: async (ctx, { params: { id } }) => {
      const found = ctx.snapshots.list().filter((c) => c.snapshot.kind === 'drill' && c.id.startsWith(id));
      if (found.length !== 1) {
        throw new ApiError(
          found.length === 0 ? 404 : 400,
          found.length === 0 ? 'not_found' : 'invalid_request',
          found.length === 0
            ? `[api] no drill report ${id}`
            : `[api] ${id} names ${found.length} drill reports`,
        );
      }
      return { drill: drillOf(found[0]), report: await ctx.browser.drillReport(found[0].id) };
    },
  }),
];

function drillOf(c: CachedSnapshot): DrillJson {
  // The cache keeps each manifest's API form whole (meta included) even though its summary drops meta.
  const meta = (JSON.parse(c.json).meta ?? {}) as Record<string, unknown>;
  return {
    id: c.id,
    time: c.snapshot.time,
    source: String(meta.drilledSource ?? ''),
    snapshot: String(meta.drilledSnapshot ?? ''),
    passed: meta.passed === true,
    rto_ms: typeof meta.rtoMs === 'number' ? meta.rtoMs : null,
    restore_ms: typeof meta.restoreMs === 'number' ? meta.restoreMs : null,
    failed_checks: Array.isArray(meta.failedChecks) ? meta.failedChecks.map(String) : [],
    error: typeof meta.error === 'string' ? redactText(meta.error) : null,
  };
}
