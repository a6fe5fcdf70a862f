/**
 * @module server/http-api
 * The HTTP API (fastify): thin routes over the server core. Each route is registered from the
 * ROUTES table (its role and schemas); a hook checks the bearer token and the role before any
 * handler runs; errors become `{"error": {"code", "message", "field"?}}` in one place.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
  type RawServerDefault,
} from 'fastify';
import type { Logger } from 'pino';
import type { Catalog, JobRecord } from '../catalog/catalog.js';
import { type Role, roleAllows } from '../catalog/tokens.js';
import type { Clock } from '../clock.js';
import type { LifeboatConfig } from '../config/config.js';
import type { ConfiguredSource } from '../config/config-schema.js';
import { describe, isLifeboatError } from '../errors.js';
import { pickSnapshot, publicProblems } from '../jobs/snapshot-select.js';
import { engineFacts } from '../sources/registry.js';
import { scopeValues } from '../sources/restore-scopes.js';
import { belongsTo, sourceOfUnit } from '../sources/source-units.js';
import { ApiError, isApiError } from './api-error.js';
import {
  alertsQuery,
  auditQuery,
  backupRequest,
  drillRequest,
  drillsQuery,
  fileQuery,
  jobParams,
  jobsQuery,
  rejectRequest,
  restoreRequest,
  snapshotParams,
  snapshotsQuery,
  sourceParams,
  statsQuery,
  treeQuery,
  validate,
} from './api-schemas.js';
import { bearerToken, type FailedAuthLimiter } from './auth.js';
import type { JobRunner } from './job-runner.js';
import type { ServerMetrics } from './metrics.js';
import { openApiDocument, ROUTES, type RouteSpec } from './openapi.js';
import { publicJob } from './public-job.js';
import { redactText } from './redact.js';
import type { SnapshotBrowser } from './snapshot-browse.js';
import { type CachedSnapshot, publicSnapshot, type SnapshotCache } from './snapshot-cache.js';
import type { SourceStatus } from './source-status.js';
import { restoreApprovalReason } from './target-match.js';
import { loadWebAssets, registerDashboard } from './web-assets.js';

/** What the routes need from the server. */
export interface ApiContext {
  config: LifeboatConfig;
  catalog: Catalog;
  runner: JobRunner;
  snapshots: SnapshotCache;
  /** Reads snapshot trees, files and drill reports for the dashboard. */
  browser: SnapshotBrowser;
  metrics: ServerMetrics;
  limiter: FailedAuthLimiter;
  clock: Clock;
  /** Where the repository is, credentials removed. */
  repositoryLocation: string;
  sourceStatuses(): SourceStatus[];
  health(): Promise<{ ok: boolean; checks: Record<string, string>; reasons: string[] }>;
  log: Logger;
}

interface Caller {
  name: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
  interface FastifyContextConfig {
    spec?: RouteSpec;
    /** The dashboard's static files: no token. */
    public?: boolean;
  }
}

type Handler = (ctx: ApiContext, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export function createHttpApi(
  ctx: ApiContext,
): FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger> {
  const app = Fastify({
    loggerInstance: ctx.log,
    // Per-request lines would dominate the log (and cost at load): errors and mutations are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // The server tolerates 100 concurrent clients and slow ones: keep sockets but bound time.
    requestTimeout: 60_000,
    // The client's address (for the failed-login limit and the log) is read from
    // X-Forwarded-For only when the peer is one of these proxies.
    trustProxy: ctx.config.server?.trusted_proxies ?? false,
  });

  // An empty body with a JSON content type is no body (clients that always send the header).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    if (typeof text !== 'string' || text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError(400, 'invalid_request', '[api] body: not valid JSON'), undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    const spec = req.routeOptions.config?.spec;
    if (spec && spec.role === null) return;
    if (req.routeOptions.config?.public) return;
    const ip = req.ip;
    const token = bearerToken(req.headers.authorization);
    if (!token) {
      throw new ApiError(
        401,
        'unauthorized',
        '[auth] missing bearer token: send `Authorization: Bearer TOKEN` (create one with `lifeboat token create`)',
      );
    }
    const caller = ctx.catalog.tokens.authenticate(token);
    if (!caller) {
      // Only failures are throttled: a valid token from the same address (a proxy, a shared
      // NAT) always gets through, so a stranger's bad requests cannot lock its users out.
      const wait = ctx.limiter.blockedFor(ip);
      if (wait > 0) {
        reply.header('retry-after', String(Math.ceil(wait / 1000)));
        throw new ApiError(
          429,
          'rate_limited',
          `[auth] too many failed logins from ${ip}: try again in ${Math.ceil(wait / 1000)}s`,
        );
      }
      ctx.limiter.fail(ip);
      ctx.log.warn({ ip, method: req.method, url: req.url.split('?')[0] }, 'rejected an invalid token');
      throw new ApiError(401, 'unauthorized', '[auth] invalid or revoked token');
    }
    ctx.catalog.tokens.touch(caller.name);
    req.caller = caller;
    const need = spec?.role ?? 'viewer';
    if (!roleAllows(caller.role, need)) {
      if (req.method !== 'GET') {
        ctx.catalog.audit.append({
          actor: caller.name,
          action: 'auth.denied',
          target: `${req.method} ${req.url.split('?')[0]}`,
          details: { role: caller.role, needs: need },
        });
      }
      throw new ApiError(
        403,
        'forbidden',
        `[auth] token "${caller.name}" has role ${caller.role}; ${req.method} ${spec?.path ?? req.url.split('?')[0]} needs ${need}`,
      );
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    if (req.method !== 'GET' || reply.statusCode >= 500) {
      ctx.log.info(
        {
          method: req.method,
          url: req.url.split('?')[0],
          status: reply.statusCode,
          caller: req.caller?.name,
          ip: req.ip,
        },
        'request',
      );
    }
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    const { status, body } = errorBody(err);
    if (status >= 500) ctx.log.error({ err: describe(err), url: req.url.split('?')[0] }, 'request failed');
    void reply.status(status).send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: {
        code: 'not_found',
        message: `[api] no route ${req.method} ${req.url.split('?')[0]} (see /api/openapi.json)`,
      },
    });
  });

  for (const spec of ROUTES) {
    const handler = HANDLERS[`${spec.method} ${spec.path}`];
    if (!handler) throw new Error(`no handler for ${spec.method} ${spec.path}`);
    app.route({
      method: spec.method,
      url: spec.path.replace(/\{(\w+)\}/g, ':$1'),
      config: { spec },
      exposeHeadRoute: !spec.download,
      handler: (req, reply) => handler(ctx, req, reply),
    });
  }
  registerDashboard(app, loadWebAssets());
  return app;
}

function errorBody(err: unknown): { status: number; body: unknown } {
  if (isApiError(err)) {
    return {
      status: err.status,
      body: { error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } },
    };
  }
  if (isLifeboatError(err)) {
    const status =
      err.code === 'not_found'
        ? 404
        : err.code === 'usage' || err.code === 'config_invalid'
          ? 400
          : err.code === 'locked'
            ? 409
            : 500;
    return { status, body: { error: { code: err.code, message: redactText(err.message) } } };
  }
  const fe = err as { statusCode?: number; code?: string; message?: string };
  if (typeof fe.statusCode === 'number' && fe.statusCode < 500) {
    const message = fe.code?.startsWith('FST_ERR_CTP')
      ? 'body: not valid JSON (or an unsupported content type)'
      : (fe.message ?? 'bad request');
    return {
      status: fe.statusCode,
      body: { error: { code: 'invalid_request', message: `[api] ${message}` } },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'internal', message: '[api] internal error (see the server log)' } },
  };
}

function caller(req: FastifyRequest): Caller {
  if (!req.caller) throw new ApiError(401, 'unauthorized', '[auth] missing bearer token');
  return req.caller;
}

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

/** A configured source by name, an own key only (`constructor` is no source). */
function sourceConfig(ctx: ApiContext, name: string): ConfiguredSource | undefined {
  return Object.hasOwn(ctx.config.sources, name) ? ctx.config.sources[name] : undefined;
}

const HANDLERS: Record<string, Handler> = {
  'GET /healthz': async (ctx, _req, reply) => {
    const h = await ctx.health();
    reply.status(h.ok ? 200 : 503);
    return { status: h.ok ? 'ok' : 'unhealthy', checks: h.checks, ...(h.ok ? {} : { reasons: h.reasons }) };
  },

  'GET /metrics': async (ctx, _req, reply) => {
    reply.header('content-type', ctx.metrics.contentType);
    return ctx.metrics.render();
  },

  'GET /api/openapi.json': async () => openApiDocument(),

  'GET /api/sources': async (ctx) => ({ sources: ctx.sourceStatuses() }),

  'GET /api/engines': async () => ({
    engines: engineFacts().map((e) => ({
      type: e.type,
      scopes: e.restore.scopes,
      data_only: !!e.restore.dataOnly,
      privileges: !!e.restore.privileges,
      stats: e.stats,
    })),
  }),

  'GET /api/snapshots': async (ctx, req, reply) => {
    const q = validate(snapshotsQuery, req.query, 'query');
    // A page is rendered once per version of the list: the list changes only after jobs.
    const body = ctx.snapshots.memo(`page:${JSON.stringify(q)}`, () => {
      const before = q.before ? Date.parse(q.before) : undefined;
      const after = q.after ? Date.parse(q.after) : undefined;
      const offset = q.offset ?? 0;
      const limit = q.limit ?? 100;
      let total = 0;
      const page: string[] = [];
      for (const c of ctx.snapshots.list()) {
        if (q.source && !belongsTo(c.snapshot.source, q.source)) continue;
        if (q.tag && !c.snapshot.tags.includes(q.tag)) continue;
        if (before !== undefined && c.time >= before) continue;
        if (after !== undefined && c.time <= after) continue;
        if (total >= offset && page.length < limit) page.push(c.json);
        total++;
      }
      // Snapshot files that do not read are listed apart: the others are served as usual.
      const problems = JSON.stringify(publicProblems(ctx.snapshots.problems()));
      return Buffer.from(
        `{"total":${total},"offset":${offset},"limit":${limit},"snapshots":[${page.join(',')}],"problems":${problems}}`,
      );
    });
    reply.header('content-type', 'application/json; charset=utf-8');
    return body;
  },

  'GET /api/whoami': async (_ctx, req) => {
    const who = caller(req);
    return { name: who.name, role: who.role };
  },

  'GET /api/snapshots/{id}': async (ctx, req) => {
    const { id } = validate(snapshotParams, req.params, 'path');
    const entry = resolveSnapshot(ctx, id);
    return { snapshot: publicSnapshot(entry.id, await ctx.browser.manifest(entry.id)) };
  },

  'GET /api/snapshots/{id}/tree': async (ctx, req) => {
    const { id } = validate(snapshotParams, req.params, 'path');
    const q = validate(treeQuery, req.query, 'query');
    return ctx.browser.list(resolveSnapshot(ctx, id).id, q.path ?? '', {
      offset: q.offset ?? 0,
      limit: q.limit ?? 1000,
    });
  },

  'GET /api/snapshots/{id}/file': async (ctx, req, reply) => {
    const { id } = validate(snapshotParams, req.params, 'path');
    const q = validate(fileQuery, req.query, 'query');
    const entry = resolveSnapshot(ctx, id);
    const who = caller(req);
    const top = sourceOfUnit(entry.snapshot.source);
    if (sourceConfig(ctx, top)?.protected) {
      // A download is a restore to the caller's machine: protected data goes to admins only.
      const allowed = who.role === 'admin';
      ctx.catalog.audit.append({
        actor: who.name,
        action: allowed ? 'snapshot.download' : 'snapshot.download_denied',
        target: entry.id,
        details: { source: entry.snapshot.source, path: q.path },
      });
      if (!allowed) {
        throw new ApiError(
          403,
          'forbidden',
          `[api] snapshot ${entry.id.slice(0, 8)} is of protected source ${top}: downloading its files needs an admin token (or request a restore, which a second admin approves)`,
        );
      }
    }
    const file = await ctx.browser.openFile(entry.id, q.path);
    const name = basename(q.path);
    reply.header('content-type', 'application/octet-stream');
    reply.header('content-length', String(file.size));
    reply.header(
      'content-disposition',
      `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${rfc5987(name)}`,
    );
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    const stream = Readable.from(file.content);
    stream.once('error', (err) =>
      ctx.log.error({ err: describe(err), snapshot: entry.id.slice(0, 8) }, 'download cut off'),
    );
    return reply.send(stream);
  },

  'GET /api/drills': async (ctx, req) => {
    const q = validate(drillsQuery, req.query, 'query');
    const all = ctx.snapshots.memo('drills', () =>
      ctx.snapshots
        .list()
        .filter((c) => c.snapshot.kind === 'drill')
        .map(drillOf),
    );
    const drills = all.filter((d) => !q.source || belongsTo(d.source, q.source));
    return { drills: drills.slice(0, q.limit ?? 100) };
  },

  'GET /api/drills/{id}': async (ctx, req) => {
    const { id } = validate(snapshotParams, req.params, 'path');
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

  'GET /api/alerts': async (ctx, req) => {
    const q = validate(alertsQuery, req.query, 'query');
    const alerts = ctx.catalog
      .listAlerts(q.state)
      .sort((a, b) =>
        a.state === b.state ? (a.first_at < b.first_at ? 1 : -1) : a.state === 'firing' ? -1 : 1,
      );
    return { alerts };
  },

  'GET /api/stats': async (ctx, req) => {
    const q = validate(statsQuery, req.query, 'query');
    const now = ctx.clock.now().getTime();
    const since = q.since ? Date.parse(q.since) : now - 30 * 86_400_000;
    return ctx.snapshots.memo(`stats:${q.source ?? ''}:${since}`, () => {
      const backups: Record<string, unknown>[] = [];
      const growth: { time: string; bytes: number }[] = [];
      let total = 0;
      for (const { id, snapshot: s } of ctx.snapshots.entries()) {
        if (s.kind === 'drill') continue;
        if (q.source && !belongsTo(s.source, q.source)) continue;
        const added = s.backup?.bytesAdded ?? 0;
        total += added;
        if (Date.parse(s.time) < since) continue;
        growth.push({ time: s.time, bytes: total });
        backups.push({
          source: s.source,
          snapshot: id,
          time: s.time,
          bytes_read: s.backup?.bytesRead ?? 0,
          bytes_added: added,
          duration_ms: s.backup?.durationMs ?? 0,
        });
      }
      const days = new Map<string, { day: string; succeeded: number; failed: number }>();
      const jobs = ctx.catalog.listJobs({
        kind: 'backup',
        source: q.source,
        since: new Date(since).toISOString(),
        limit: 100_000,
      });
      for (const j of jobs) {
        if (j.status !== 'succeeded' && j.status !== 'failed') continue;
        const day = (j.finished_at ?? j.created_at).slice(0, 10);
        const d = days.get(day) ?? { day, succeeded: 0, failed: 0 };
        d[j.status]++;
        days.set(day, d);
      }
      const daily = [...days.values()].sort((a, b) => (a.day < b.day ? -1 : 1));
      return { since: new Date(since).toISOString(), backups, daily, growth };
    });
  },

  'POST /api/sources/{name}/backups': async (ctx, req, reply) => {
    const { name } = validate(sourceParams, req.params, 'path');
    const body = validate(backupRequest, req.body, 'body');
    configuredSource(ctx, name);
    const who = caller(req);
    const job = ctx.runner.submit({
      kind: 'backup',
      source: name,
      trigger: 'api',
      requestedBy: who.name,
      params: { tags: body.tags ?? [] },
    });
    ctx.catalog.audit.append({
      actor: who.name,
      action: 'backup.request',
      target: name,
      details: { job: job.id, status: job.status, tags: body.tags ?? [] },
    });
    if (job.status === 'skipped') {
      reply.status(409);
      return { error: { code: 'conflict', message: `[api] ${job.error}` }, job: publicJob(job) };
    }
    reply.status(202);
    return { job: publicJob(job) };
  },

  'GET /api/jobs': async (ctx, req) => {
    const q = validate(jobsQuery, req.query, 'query');
    const since = q.since ? new Date(q.since).toISOString() : undefined;
    const jobs = ctx.catalog.listJobs({
      source: q.source,
      status: q.status,
      kind: q.kind,
      since,
      before: q.before ? new Date(q.before).toISOString() : undefined,
      limit: q.limit ?? 100,
    });
    return { jobs: jobs.map((j) => withProgress(ctx, j)) };
  },

  'GET /api/jobs/{id}': async (ctx, req) => {
    const { id } = validate(jobParams, req.params, 'path');
    const job = ctx.catalog.getJob(id);
    if (!job) throw new ApiError(404, 'not_found', `[api] no job ${id}`);
    return { job: withProgress(ctx, job) };
  },

  'POST /api/restores': async (ctx, req, reply) => {
    const body = validate(restoreRequest, req.body, 'body');
    if (body.source) configuredSourceOrRecorded(ctx, body.source);
    if (body.at) {
      const physical = ctx.snapshots
        .entries()
        .some((e) => e.snapshot.source === body.source && e.snapshot.kind === 'physical');
      if (!body.source || body.snapshot !== 'latest' || !physical) {
        throw new ApiError(
          400,
          'invalid_request',
          '[api] body.at: a point-in-time restore needs "snapshot": "latest" and the "source" of a PostgreSQL physical source with a base backup',
          'at',
        );
      }
    }
    let entry: ReturnType<typeof pickSnapshot>;
    try {
      entry = pickSnapshot(
        ctx.snapshots.entries(),
        body.snapshot,
        body.source,
        ctx.repositoryLocation,
        ctx.snapshots.problems(),
      );
    } catch (err) {
      if (isLifeboatError(err) && err.code === 'usage')
        throw new ApiError(400, 'invalid_request', err.message, 'snapshot');
      throw err;
    }
    const who = caller(req);
    const reason = await restoreApprovalReason(ctx.config.sources, entry.snapshot.source, body.to);
    const protectedTarget = reason !== undefined;
    // A dry run writes nothing, so it needs no second admin: the wizard runs one before asking.
    const needsApproval = protectedTarget && !body.dry_run;
    const job = ctx.runner.submit({
      kind: 'restore',
      source: sourceOfUnit(entry.snapshot.source),
      trigger: 'api',
      requestedBy: who.name,
      needsApproval,
      params: {
        snapshot: entry.id,
        source: entry.snapshot.source,
        to: body.to,
        tables: [],
        include: [],
        ...scopeValues(body, 'field'),
        ...(body.data_only ? { data_only: true } : {}),
        ...(body.no_privileges ? { no_privileges: true } : {}),
        ...(body.devices ? { devices: true } : {}),
        overwrite: body.overwrite ?? false,
        dry_run: body.dry_run ?? false,
        ...(body.at ? { at: body.at } : {}),
      },
    });
    ctx.catalog.audit.append({
      actor: who.name,
      action: 'restore.request',
      target: job.id,
      details: {
        snapshot: entry.id,
        source: entry.snapshot.source,
        to: redactText(body.to),
        protected: protectedTarget,
        ...(reason ? { approval_reason: reason } : {}),
        status: job.status,
        dry_run: body.dry_run ?? false,
        at: body.at ?? null,
      },
    });
    if (job.status === 'skipped') {
      reply.status(409);
      return { error: { code: 'conflict', message: `[api] ${job.error}` }, job: publicJob(job) };
    }
    reply.status(202);
    return { job: publicJob(job) };
  },

  'POST /api/restores/{id}/approve': async (ctx, req, reply) => {
    const { id } = validate(jobParams, req.params, 'path');
    const who = caller(req);
    const pending = ctx.catalog.getJob(id);
    if (pending?.kind !== 'restore') throw new ApiError(404, 'not_found', `[api] no restore ${id}`);
    try {
      const job = ctx.runner.approve(id, who.name);
      ctx.catalog.audit.append({
        actor: who.name,
        action: 'restore.approve',
        target: id,
        details: { requested_by: job.requested_by, snapshot: job.params.snapshot ?? null },
      });
      reply.status(202);
      return { job: publicJob(job) };
    } catch (err) {
      if (isApiError(err) && err.status === 403) {
        ctx.catalog.audit.append({
          actor: who.name,
          action: 'restore.approve_denied',
          target: id,
          details: { reason: err.message },
        });
      }
      throw err;
    }
  },

  'POST /api/restores/{id}/reject': async (ctx, req) => {
    const { id } = validate(jobParams, req.params, 'path');
    const body = validate(rejectRequest, req.body, 'body');
    const who = caller(req);
    const pending = ctx.catalog.getJob(id);
    if (pending?.kind !== 'restore') throw new ApiError(404, 'not_found', `[api] no restore ${id}`);
    if (who.role !== 'admin' && who.name !== pending.requested_by) {
      ctx.catalog.audit.append({
        actor: who.name,
        action: 'restore.reject_denied',
        target: id,
        details: { requested_by: pending.requested_by },
      });
      throw new ApiError(
        403,
        'forbidden',
        `[api] ${who.name} may not reject restore ${id}: an admin or its requester (${pending.requested_by}) may`,
      );
    }
    const job = ctx.runner.reject(id, who.name, body.reason);
    ctx.catalog.audit.append({
      actor: who.name,
      action: who.name === job.requested_by ? 'restore.withdraw' : 'restore.reject',
      target: id,
      details: { requested_by: job.requested_by, reason: body.reason ?? null },
    });
    return { job: publicJob(job) };
  },

  'POST /api/sources/{name}/drills': async (ctx, req, reply) => {
    const { name } = validate(sourceParams, req.params, 'path');
    const body = validate(drillRequest, req.body ?? {}, 'body');
    configuredSource(ctx, name);
    const who = caller(req);
    const job = ctx.runner.submit({
      kind: 'drill',
      source: name,
      trigger: 'api',
      requestedBy: who.name,
      params: body.snapshot ? { snapshot: body.snapshot } : {},
    });
    ctx.catalog.audit.append({
      actor: who.name,
      action: 'drill.request',
      target: name,
      details: { job: job.id, status: job.status, snapshot: body.snapshot ?? null },
    });
    if (job.status === 'skipped') {
      reply.status(409);
      return { error: { code: 'conflict', message: `[api] ${job.error}` }, job: publicJob(job) };
    }
    reply.status(202);
    return { job: publicJob(job) };
  },

  'GET /api/audit': async (ctx, req) => {
    const q = validate(auditQuery, req.query, 'query');
    const entries = ctx.catalog.audit.list({
      since: q.since ? new Date(q.since).toISOString() : undefined,
      action: q.action,
      limit: q.limit ?? 100,
    });
    if (q.verify !== 'true') return { entries };
    const v = ctx.catalog.audit.verify();
    return {
      entries,
      verification: { ok: v.ok, entries: v.entries, ...(v.firstBad ? { first_bad: v.firstBad } : {}) },
    };
  },
};

/** A value for `filename*=UTF-8''…`: percent-encoded, including the characters RFC 5987 reserves. */
function rfc5987(value: string): string {
  return encodeURIComponent(value).replace(
    /['()*!]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function withProgress(ctx: ApiContext, job: JobRecord): Record<string, unknown> {
  const out = publicJob(job);
  if (job.status === 'running') out.progress = ctx.runner.progress.get(job.id) ?? null;
  return out;
}

/** A snapshot by id or unique prefix (never "latest": the dashboard names what it shows). */
function resolveSnapshot(ctx: ApiContext, ref: string) {
  return pickSnapshot(
    ctx.snapshots.entries(),
    ref,
    undefined,
    ctx.repositoryLocation,
    ctx.snapshots.problems(),
  );
}

interface DrillSummary {
  id: string;
  time: string;
  source: string;
  snapshot: string;
  passed: boolean;
  rto_ms: number | null;
  restore_ms: number | null;
  failed_checks: string[];
  error: string | null;
}

function drillOf(c: CachedSnapshot): DrillSummary {
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

/** A restore may name a configured source or one only the repository knows (a fresh machine). */
function configuredSourceOrRecorded(ctx: ApiContext, name: string): void {
  if (sourceConfig(ctx, sourceOfUnit(name))) return;
  if (ctx.snapshots.entries().some((e) => belongsTo(e.snapshot.source, name))) return;
  throw new ApiError(404, 'not_found', `[api] no source "${name}" in the config or the repository`, 'source');
}
