/**
 * @module server/http-api
 * The HTTP API (fastify): thin routes over the server core, one file per resource under
 * server/routes, each route's spec and handler together. Here, once for every route: a hook
 * checks the bearer token and the role before any handler runs, the path, query and body are
 * validated with the spec's schemas, and errors become `{"error": {"code", "message",
 * "field"?}}` (server/api-error).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, LogController, type RawServerDefault } from 'fastify';
import type { Logger } from 'pino';
import { roleAllows } from '../catalog/tokens.js';
import { describe } from '../errors.js';
import type { ApiContext } from './api-context.js';
import { ApiError, errorReply } from './api-error.js';
import { validate } from './api-validate.js';
import { bearerToken } from './auth.js';
import { openApiRoute } from './openapi.js';
import { alertsRoutes } from './routes/alerts-routes.js';
import { appsRoutes } from './routes/apps-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { drillsRoutes } from './routes/drills-routes.js';
import { jobsRoutes } from './routes/jobs-routes.js';
import { restoresRoutes } from './routes/restores-routes.js';
import type { Route } from './routes/route.js';
import { snapshotsRoutes } from './routes/snapshots-routes.js';
import { sourcesRoutes } from './routes/sources-routes.js';
import { statsRoutes } from './routes/stats-routes.js';
import { systemRoutes } from './routes/system-routes.js';
import { workerRoutes } from './routes/worker-routes.js';
import { loadWebAssets, registerDashboard } from './web-assets.js';

const RESOURCES: readonly Route[] = [
  ...systemRoutes,
  ...sourcesRoutes,
  ...snapshotsRoutes,
  ...drillsRoutes,
  ...alertsRoutes,
  ...statsRoutes,
  ...jobsRoutes,
  ...restoresRoutes,
  ...appsRoutes,
  ...auditRoutes,
  ...workerRoutes,
];

/** Every route the API serves, the document's own included. */
export const ROUTES: readonly Route[] = [...RESOURCES, openApiRoute(RESOURCES)];

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
    const caller = await ctx.catalog.tokens.authenticate(token);
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
    await ctx.catalog.tokens.touch(caller.name);
    req.caller = caller;
    const need = spec?.role ?? 'viewer';
    if (!roleAllows(caller.role, need)) {
      if (req.method !== 'GET') {
        await ctx.catalog.audit.append({
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
    const { status, body } = errorReply(err);
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

  for (const route of ROUTES) {
    const { handler, ...spec } = route;
    app.route({
      method: spec.method,
      url: spec.path.replace(/\{(\w+)\}/g, ':$1'),
      config: { spec },
      exposeHeadRoute: !spec.download,
      // Validated here from the spec, in this order, before the handler runs.
      handler: (req, reply) =>
        handler(ctx, {
          params: spec.params && validate(spec.params, req.params, 'path'),
          query: spec.query && validate(spec.query, req.query, 'query'),
          body: spec.body && validate(spec.body, req.body, 'body'),
          req,
          reply,
        }),
    });
  }
  registerDashboard(app, loadWebAssets());
  return app;
}
