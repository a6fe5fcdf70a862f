/**
 * @module server/openapi
 * The API's routes as data (path, role, schemas, answers): the HTTP layer registers its
 * handlers and role checks from this table, and the OpenAPI 3.1 document at
 * /api/openapi.json is generated from it.
 */
import { z } from 'zod';
import type { Role } from '../catalog/tokens.js';
import { VERSION } from '../version.js';
import {
  alertResponse,
  alertsQuery,
  auditEntryResponse,
  auditQuery,
  backupRequest,
  drillRequest,
  drillResponse,
  drillsQuery,
  engineResponse,
  errorResponse,
  fileQuery,
  healthResponse,
  jobParams,
  jobResponse,
  jobsQuery,
  rejectRequest,
  restoreRequest,
  snapshotParams,
  snapshotResponse,
  snapshotsQuery,
  sourceParams,
  sourceResponse,
  statsQuery,
  statsResponse,
  treeQuery,
  treeResponse,
} from './api-schemas.js';

export interface RouteSpec {
  method: 'GET' | 'POST';
  /** OpenAPI form: `/api/jobs/{id}`. */
  path: string;
  /** The least role allowed; null: no token needed. */
  role: Role | null;
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  bodyRequired?: boolean;
  /** Streams a file: no automatic HEAD route (it would read the whole file to answer). */
  download?: boolean;
  /** Status → description and body schema (text/plain when `text`). */
  responses: Record<number, { description: string; schema?: z.ZodType; text?: boolean }>;
}

const jobEnvelope = z.object({ job: jobResponse });

export const ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET',
    path: '/healthz',
    role: null,
    summary:
      'Liveness: 200 when the catalog, the repository and the scheduler are fine, 503 with the reasons otherwise',
    responses: {
      200: { description: 'healthy', schema: healthResponse },
      503: { description: 'unhealthy, with reasons', schema: healthResponse },
    },
  },
  {
    method: 'GET',
    path: '/metrics',
    role: 'viewer',
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: { description: 'metrics', text: true } },
  },
  {
    method: 'GET',
    path: '/api/openapi.json',
    role: 'viewer',
    summary: 'This document',
    responses: { 200: { description: 'the OpenAPI 3.1 document' } },
  },
  {
    method: 'GET',
    path: '/api/sources',
    role: 'viewer',
    summary: 'Configured sources with their last good backup, RPO state, next run and last failure',
    responses: { 200: { description: 'sources', schema: z.object({ sources: z.array(sourceResponse) }) } },
  },
  {
    method: 'GET',
    path: '/api/engines',
    role: 'viewer',
    summary: 'Source engines as they declare themselves: restore scopes, restore options, statistics',
    responses: { 200: { description: 'engines', schema: z.object({ engines: z.array(engineResponse) }) } },
  },
  {
    method: 'GET',
    path: '/api/snapshots',
    role: 'viewer',
    summary: 'Snapshots in the repository, newest first, a page at a time',
    query: snapshotsQuery,
    responses: {
      200: {
        description: 'a page of snapshots; `total` counts every match',
        schema: z.object({
          total: z.number(),
          offset: z.number(),
          limit: z.number(),
          snapshots: z.array(snapshotResponse),
          problems: z
            .array(
              z.object({
                id: z.string(),
                kind: z.enum(['damaged', 'unreadable']),
                message: z.string(),
              }),
            )
            .describe(
              'snapshot files that do not read, not in `snapshots`: damaged (lost; forget them by id) or unreadable (retried)',
            ),
        }),
      },
    },
  },
  {
    method: 'GET',
    path: '/api/whoami',
    role: 'viewer',
    summary: 'The token’s name and role (the dashboard shows what the role may do)',
    responses: {
      200: {
        description: 'the caller',
        schema: z.object({ name: z.string(), role: z.enum(['viewer', 'operator', 'admin']) }),
      },
    },
  },
  {
    method: 'GET',
    path: '/api/snapshots/{id}',
    role: 'viewer',
    summary:
      'One snapshot’s manifest: stats (files, rows per table, keys per database), engine facts, settings',
    params: snapshotParams,
    responses: {
      200: { description: 'the snapshot', schema: z.object({ snapshot: snapshotResponse }) },
      404: { description: 'no such snapshot', schema: errorResponse },
    },
  },
  {
    method: 'GET',
    path: '/api/snapshots/{id}/tree',
    role: 'viewer',
    summary: 'One folder of a snapshot’s tree (files: the file tree; databases: their artifacts)',
    params: snapshotParams,
    query: treeQuery,
    responses: {
      200: { description: 'the folder’s entries', schema: treeResponse },
      404: { description: 'no such snapshot or folder', schema: errorResponse },
    },
  },
  {
    method: 'GET',
    path: '/api/snapshots/{id}/file',
    role: 'operator',
    summary:
      'Download one file of a snapshot, streamed: every chunk is authenticated, and the size (and SHA-256 where recorded) is checked at the end; a mismatch cuts the download off. A protected source’s files need an admin token',
    params: snapshotParams,
    query: fileQuery,
    download: true,
    responses: {
      200: { description: 'the file’s bytes (application/octet-stream)' },
      400: { description: 'the path is a folder', schema: errorResponse },
      404: { description: 'no such snapshot or file', schema: errorResponse },
    },
  },
  {
    method: 'GET',
    path: '/api/drills',
    role: 'viewer',
    summary: 'Drill reports kept in the repository, newest first',
    query: drillsQuery,
    responses: { 200: { description: 'reports', schema: z.object({ drills: z.array(drillResponse) }) } },
  },
  {
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
  },
  {
    method: 'GET',
    path: '/api/alerts',
    role: 'viewer',
    summary: 'Alerts firing and resolved (firing first)',
    query: alertsQuery,
    responses: { 200: { description: 'alerts', schema: z.object({ alerts: z.array(alertResponse) }) } },
  },
  {
    method: 'GET',
    path: '/api/stats',
    role: 'viewer',
    summary: 'Time series for charts: size and duration of each backup, daily outcomes, repository growth',
    query: statsQuery,
    responses: { 200: { description: 'series', schema: statsResponse } },
  },
  {
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
  },
  {
    method: 'GET',
    path: '/api/jobs',
    role: 'viewer',
    summary: 'Jobs, newest first',
    query: jobsQuery,
    responses: { 200: { description: 'jobs', schema: z.object({ jobs: z.array(jobResponse) }) } },
  },
  {
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
  },
  {
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
  },
  {
    method: 'POST',
    path: '/api/restores/{id}/approve',
    role: 'admin',
    summary: 'Approve a restore awaiting approval: a second admin, never the requester',
    params: jobParams,
    responses: {
      202: { description: 'approved and queued', schema: jobEnvelope },
      403: { description: 'the requester cannot approve their own restore', schema: errorResponse },
      409: { description: 'the job is not awaiting approval', schema: errorResponse },
    },
  },
  {
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
  },
  {
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
  },
  {
    method: 'GET',
    path: '/api/audit',
    role: 'admin',
    summary: 'The audit log, newest first; with verify=true also the hash chain check',
    query: auditQuery,
    responses: {
      200: {
        description: 'entries',
        schema: z.object({
          entries: z.array(auditEntryResponse),
          verification: z
            .object({
              ok: z.boolean(),
              entries: z.number(),
              first_bad: z.object({ seq: z.number(), reason: z.string() }).optional(),
            })
            .optional(),
        }),
      },
    },
  },
];

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

function parameters(schema: z.ZodObject | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input') as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(js.properties ?? {}).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return {
      name,
      in: where,
      required: where === 'path' || (js.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

const STANDARD_ERRORS: Record<number, string> = {
  400: 'invalid request: the message names the field',
  401: 'no valid token',
  403: 'the token’s role may not do this',
  429: 'too many failed logins from this address',
};

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const responses: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(r.responses)) {
      responses[status] = {
        description: res.description,
        ...(res.schema
          ? { content: { 'application/json': { schema: jsonSchema(res.schema, 'output') } } }
          : res.text
            ? { content: { 'text/plain': { schema: { type: 'string' } } } }
            : {}),
      };
    }
    if (r.role) {
      for (const [status, description] of Object.entries(STANDARD_ERRORS)) {
        if (status === '400' && !r.query && !r.body && !r.params) continue;
        responses[status] ??= {
          description,
          content: { 'application/json': { schema: jsonSchema(errorResponse, 'output') } },
        };
      }
    }
    paths[r.path] ??= {};
    paths[r.path][r.method.toLowerCase()] = {
      summary: r.summary,
      'x-lifeboat-role': r.role ?? 'none',
      security: r.role ? [{ bearer: [] }] : [],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body
        ? {
            requestBody: {
              required: !!r.bodyRequired,
              content: { 'application/json': { schema: jsonSchema(r.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Lifeboat server API',
      version: VERSION,
      description:
        'Every call but /healthz needs `Authorization: Bearer TOKEN`. Roles: viewer < operator < admin (x-lifeboat-role names the least role a call needs).',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
