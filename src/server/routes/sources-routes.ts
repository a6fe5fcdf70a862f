/**
 * @module server/routes/sources-routes
 * Configured sources: their state (last good backup, RPO, next run, last failure), and
 * starting a backup or a restore drill of one.
 */
import { z } from 'zod';
import { engineFacts, SOURCE_NAME_PATTERN } from '../../sources/registry.js';
import { type ApiContext, sourceConfig } from '../api-context.js';
import { ApiError } from '../api-error.js';
import {
  backupRequest,
  drillRequest,
  engineResponse,
  errorResponse,
  jobEnvelope,
  jobResponse,
  type SourceJson,
  sourceResponse,
} from '../api-schemas.js';
import { callerOf, defineRoute, submitted } from './route.js';

/** The fields a loose schema declares, without the index signature of the ones it lets through. */
type Declared<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

const sourceParams = z.strictObject({
  name: z.string().regex(SOURCE_NAME_PATTERN, 'expected a source name'),
});

export const sourcesRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/sources',
    role: 'viewer',
    summary: 'Configured sources with their last good backup, RPO state, next run and last failure',
    responses: { 200: { description: 'sources', schema: z.object({ sources: z.array(sourceResponse) }) } },
    // Checked against the schema, so the document (and the dashboard's type) says what is sent.
    handler: async (ctx) => ({ sources: (await ctx.sourceStatuses()) satisfies Declared<SourceJson>[] }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/engines',
    role: 'viewer',
    summary: 'Source engines as they declare themselves: restore scopes, restore options, statistics',
    responses: { 200: { description: 'engines', schema: z.object({ engines: z.array(engineResponse) }) } },
    handler: async () => ({
      engines: engineFacts().map((e) => ({
        type: e.type,
        scopes: e.restore.scopes,
        data_only: !!e.restore.dataOnly,
        privileges: !!e.restore.privileges,
        stats: e.stats,
      })),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/sources/{name}/backups',
    role: 'operator',
    summary: 'Start a backup of a source',
    params: sourceParams,
    body: backupRequest,
    responses: {
      202: { description: 'queued', schema: jobEnvelope },
      404: { description: 'no such source', schema: errorResponse },
      409: {
        description: 'a job of this source is still running: recorded as a skipped job',
        schema: errorResponse.extend({ job: jobResponse }),
      },
    },
    handler: async (ctx, { params, body, req, reply }) => {
      configuredSource(ctx, params.name);
      const who = callerOf(req);
      const tags = body.tags ?? [];
      const job = await ctx.runner.submit({
        kind: 'backup',
        source: params.name,
        trigger: 'api',
        requestedBy: who.name,
        params: { tags },
      });
      await ctx.catalog.audit.append({
        actor: who.name,
        action: 'backup.request',
        target: params.name,
        details: { job: job.id, status: job.status, tags },
      });
      return submitted(reply, job);
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/sources/{name}/drills',
    role: 'operator',
    summary:
      'Start a restore drill: restore into a scratch target, check counts, integrity and the configured checks, keep the report',
    params: sourceParams,
    body: drillRequest,
    responses: {
      202: { description: 'queued', schema: jobEnvelope },
      404: { description: 'no such source', schema: errorResponse },
      409: { description: 'a job of this source is still running', schema: errorResponse },
    },
    handler: async (ctx, { params, body, req, reply }) => {
      configuredSource(ctx, params.name);
      const who = callerOf(req);
      const job = await ctx.runner.submit({
        kind: 'drill',
        source: params.name,
        trigger: 'api',
        requestedBy: who.name,
        params: body.snapshot ? { snapshot: body.snapshot } : {},
      });
      await ctx.catalog.audit.append({
        actor: who.name,
        action: 'drill.request',
        target: params.name,
        details: { job: job.id, status: job.status, snapshot: body.snapshot ?? null },
      });
      return submitted(reply, job);
    },
  }),
];

function configuredSource(ctx: ApiContext, name: string) {
  const source = sourceConfig(ctx, name);
  if (!source) {
    throw new ApiError(
      404,
      'not_found',
      `[api] no source "${name}" in the config (known: ${Object.keys(ctx.config.sources).join(', ') || 'none'})`,
    );
  }
  return source;
}
