/**
 * @module errors
 * One error type for the whole program: a stable string `code`, a message that names the
 * object and the next step, and whether retrying may help. The CLI maps codes to exit codes,
 * the HTTP API to statuses (both tables below).
 */
export type ErrorCode =
  | 'usage'
  | 'config_invalid'
  | 'repo_not_found'
  | 'repo_exists'
  | 'repo_corrupt'
  | 'wrong_password'
  | 'locked'
  | 'not_found'
  | 'target_not_empty'
  | 'source_unreadable'
  | 'source_failed'
  | 'storage_failed'
  | 'no_space'
  | 'retained'
  | 'integrity'
  | 'forbidden'
  | 'output_failed'
  | 'interrupted'
  | 'notify_failed'
  | 'partial'
  | 'unsupported'
  | 'conflict'
  | 'unavailable'
  | 'internal';

export interface LifeboatErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class LifeboatError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  override readonly cause?: unknown;

  constructor(code: ErrorCode, message: string, options: LifeboatErrorOptions = {}) {
    super(message);
    this.name = 'LifeboatError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.cause = options.cause;
  }
}

/** Type guard by shape, not instanceof, so errors crossing module copies still match. */
export function isLifeboatError(err: unknown): err is LifeboatError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'LifeboatError' &&
    typeof (err as { code?: unknown }).code === 'string'
  );
}

/**
 * Exit codes: 0 ok, 1 failure, 2 usage, 3 partial (some of the work done, the rest named as
 * failed: sources not backed up, paths unreadable, files a damaged repository could not give
 * back). Finer codes are documented in docs/cli.md.
 */
export const EXIT_CODES: Record<ErrorCode, number> = {
  usage: 2,
  config_invalid: 2,
  repo_not_found: 1,
  repo_exists: 1,
  repo_corrupt: 1,
  wrong_password: 1,
  locked: 1,
  not_found: 1,
  target_not_empty: 1,
  source_unreadable: 1,
  source_failed: 1,
  storage_failed: 1,
  no_space: 1,
  retained: 1,
  integrity: 1,
  forbidden: 1,
  output_failed: 1,
  interrupted: 1,
  notify_failed: 1,
  partial: 3,
  unsupported: 1,
  conflict: 1,
  unavailable: 1,
  internal: 1,
};

/**
 * The HTTP status the API answers a LifeboatError with (its body names the code). Errors of
 * the request (usage, not found, forbidden, conflict) are 4xx; whatever went wrong on the
 * server's side is 500, and `unavailable` (shutting down) 503.
 */
export const HTTP_STATUSES: Record<ErrorCode, number> = {
  usage: 400,
  config_invalid: 400,
  repo_not_found: 500,
  repo_exists: 500,
  repo_corrupt: 500,
  wrong_password: 500,
  locked: 409,
  not_found: 404,
  target_not_empty: 500,
  source_unreadable: 500,
  source_failed: 500,
  storage_failed: 500,
  no_space: 500,
  retained: 500,
  integrity: 500,
  forbidden: 403,
  output_failed: 500,
  interrupted: 500,
  notify_failed: 500,
  partial: 500,
  unsupported: 500,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/**
 * An error as `--json` prints it: its stable code, the exit code it ends with, the message,
 * and whether retrying may help. Anything not a LifeboatError is `internal`.
 */
export function errorJson(
  err: unknown,
  exit: number,
): { type: 'error'; code: ErrorCode; exit: number; message: string; retryable: boolean } {
  if (isLifeboatError(err)) {
    return { type: 'error', code: err.code, exit, message: err.message, retryable: err.retryable };
  }
  const message = `internal error: ${describe(err)} (rerun with --debug for details, and report it)`;
  return { type: 'error', code: 'internal', exit, message, retryable: false };
}

/** The node errno code of an error, if any (ENOENT, ENOSPC, ...). */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

/** Short description of any thrown value, for wrapping into a LifeboatError message. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * A failed write of a restore target, as a LifeboatError that says what to do: `verb` says
 * what was being done to `path` ("write", "create the directory", ...).
 */
export function writeFailed(tag: string, path: string, err: unknown, verb = 'write'): LifeboatError {
  if (isLifeboatError(err)) return err;
  const code = errnoCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new LifeboatError(
      'no_space',
      `[${tag}] no space left writing ${path} (free space, or restore elsewhere with --to)`,
      { cause: err },
    );
  }
  const hint = code === 'EACCES' || code === 'EPERM' ? ' (check that this user may write there)' : '';
  return new LifeboatError('source_failed', `[${tag}] cannot ${verb} ${path}: ${describe(err)}${hint}`, {
    cause: err,
  });
}

/**
 * Whether `err` says stored data is verifiably wrong (it fails authentication, does not
 * match its id or length, or is missing from the index): lost for good, unlike a read error,
 * which may pass. A restore leaves out what needs such data and goes on with the rest.
 */
export function isDamage(err: unknown): boolean {
  return isLifeboatError(err) && (err.code === 'integrity' || err.code === 'repo_corrupt');
}
