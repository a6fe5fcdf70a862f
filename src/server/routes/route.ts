/**
 * @module server/routes/route
 * A route of the HTTP API: its spec (method, path, least role, schemas of what it takes and
 * answers) and its handler, declared together in the resource's file (server/routes/*). The
 * HTTP layer registers every route from its spec, checks the role and validates the path,
 * query and body with the spec's schemas before the handler runs (handlers get them parsed);
 * the OpenAPI document is generated from the same specs (server/openapi).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { JobRecord } from '../../catalog/catalog.js';
import type { Role } from '../../catalog/tokens.js';
import { publicJob } from '../../jobs/queue/public-job.js';
import type { ApiContext, Caller } from '../api-context.js';
import { ApiError } from '../api-error.js';

/** A route's spec: what the document says and the HTTP layer checks. */
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

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a handler gets: the request's parts, parsed with the spec's schemas. */
export interface RouteInput<P, Q, B> {
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  req: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteDefinition<P, Q, B> extends RouteSpec {
  params?: P & z.ZodObject;
  query?: Q & z.ZodObject;
  body?: B & z.ZodType;
  handler: (ctx: ApiContext, input: RouteInput<P, Q, B>) => Promise<unknown>;
}

/** A route with its parts' types erased, as the HTTP layer holds them. */
export type Route = RouteSpec & {
  handler: (
    ctx: ApiContext,
    input: { params: unknown; query: unknown; body: unknown; req: FastifyRequest; reply: FastifyReply },
  ) => Promise<unknown>;
};

/** Declares a route; the handler's input is typed from the spec's schemas. */
export function defineRoute<P = undefined, Q = undefined, B = undefined>(
  route: RouteDefinition<P, Q, B>,
): Route {
  return route as unknown as Route;
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

/** The caller of a route that needs a token (the auth hook has set it). */
export function callerOf(req: FastifyRequest): Caller {
  if (!req.caller) throw new ApiError(401, 'unauthorized', '[auth] missing bearer token');
  return req.caller;
}

/**
 * The answer to a request that submitted a job: 202 with the job, or 409 when it was
 * recorded as skipped (a job of its source still runs).
 */
export function submitted(reply: FastifyReply, job: JobRecord): unknown {
  if (job.status === 'skipped') {
    reply.status(409);
    return { error: { code: 'conflict', message: `[api] ${job.error}` }, job: publicJob(job) };
  }
  reply.status(202);
  return { job: publicJob(job) };
}
