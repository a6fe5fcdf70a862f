/**
 * @module storage/transient-errors
 * Which failures of a remote store are worth retrying, and how long the server asked us to
 * wait. Backends use this to mark their errors `retryable` and attach `retryAfterMs`; the
 * retry wrapper reads only those two facts, never an SDK's own error types.
 */
import { errnoCode, LifeboatError, type LifeboatErrorOptions } from '../errors.js';

/** HTTP statuses that mean "try again": timeouts, throttling, server errors. */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** Node and libuv codes of a connection that broke or never came up. */
const RETRYABLE_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Error names SDKs use for a dropped or timed-out request. */
const RETRYABLE_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'InternalError',
  'ServiceUnavailable',
  'ServerBusy',
  'OperationTimedOut',
]);

export function isRetryableStatus(status: number | undefined): boolean {
  return status !== undefined && RETRYABLE_STATUS.has(status);
}

/** True when the error (or one of its causes) is a broken or refused connection. */
export function isNetworkError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = errnoCode(e);
    if (code && RETRYABLE_ERRNO.has(code)) return true;
    const name = (e as { name?: unknown }).name;
    if (typeof name === 'string' && RETRYABLE_NAMES.has(name)) return true;
    const message = e instanceof Error ? e.message : '';
    if (/socket hang up|ECONNRESET|EPIPE|network|timed? ?out|premature close|aborted/i.test(message)) {
      return true;
    }
  }
  return false;
}

/** True for SDK error codes or names that mean throttling or a server-side hiccup. */
export function isRetryableName(name: string | undefined): boolean {
  return name !== undefined && RETRYABLE_NAMES.has(name);
}

/**
 * Milliseconds from a Retry-After header: delta-seconds or an HTTP date. Undefined when
 * absent or unreadable; capped at ten minutes (a server asking for more is treated as down).
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, ms), 10 * 60_000);
}

export interface StorageErrorOptions extends LifeboatErrorOptions {
  /** The server asked to wait this long before trying again (Retry-After). */
  retryAfterMs?: number;
}

/** A LifeboatError that may carry `retryAfterMs` for the retry wrapper. */
export function storageError(
  code: LifeboatError['code'],
  message: string,
  options: StorageErrorOptions = {},
): LifeboatError {
  const err = new LifeboatError(code, message, options);
  if (options.retryAfterMs !== undefined) {
    Object.defineProperty(err, 'retryAfterMs', { value: options.retryAfterMs, enumerable: true });
  }
  return err;
}

/** The Retry-After an error carries, if any. */
export function retryAfterOf(err: unknown): number | undefined {
  const v = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
