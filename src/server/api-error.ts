/**
 * @module server/api-error
 * An error with the HTTP status it answers with: `{"error": {"code", "message", "field"?}}`,
 * for what only HTTP knows (a bad request field, a missing token, a rate limit). Every error
 * becomes its answer in `errorReply`: LifeboatErrors from the core by the code → status table
 * in errors.ts (HTTP_STATUSES), so no route guesses a status.
 */
import { HTTP_STATUSES, isLifeboatError } from '../errors.js';
import { redactText } from '../jobs/queue/redact.js';

export type ApiErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'not_implemented'
  | 'unavailable'
  | 'internal';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    /** The request field at fault, for 400s: `snapshot`, `query.before`. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function isApiError(err: unknown): err is ApiError {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ApiError';
}

/** The status and body that answer `err`: ApiErrors as they say, LifeboatErrors by their code. */
export function errorReply(err: unknown): { status: number; body: unknown } {
  if (isApiError(err)) {
    return {
      status: err.status,
      body: { error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } },
    };
  }
  if (isLifeboatError(err)) {
    return {
      status: HTTP_STATUSES[err.code] ?? 500,
      body: { error: { code: err.code, message: redactText(err.message) } },
    };
  }
  // fastify's own errors of the request (a body it cannot parse, one too large).
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
