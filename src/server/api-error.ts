/**
 * @module server/api-error
 * An error with the HTTP status it answers with: `{"error": {"code", "message", "field"?}}`.
 * LifeboatErrors from the core are mapped to statuses in one place (http-api).
 */
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
