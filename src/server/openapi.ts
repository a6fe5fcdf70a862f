/**
 * @module server/openapi
 * The OpenAPI 3.1 document at /api/openapi.json, generated from the routes' specs (their
 * paths, roles, schemas and answers), so the document cannot drift from what is served.
 */
import { z } from 'zod';
import { VERSION } from '../version.js';
import { errorResponse } from './api-schemas.js';
import { defineRoute, type Route, type RouteSpec } from './routes/route.js';

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

/** The document for `routes`. */
export function openApiDocument(routes: readonly RouteSpec[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
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

/** GET /api/openapi.json: the document of `routes` and of itself, built once. */
export function openApiRoute(routes: readonly Route[]): Route {
  let document: Record<string, unknown> | undefined;
  const route = defineRoute({
    method: 'GET',
    path: '/api/openapi.json',
    role: 'viewer',
    summary: 'This document',
    responses: { 200: { description: 'the OpenAPI 3.1 document' } },
    handler: async () => {
      document ??= openApiDocument([...routes, route]);
      return document;
    },
  });
  return route;
}
