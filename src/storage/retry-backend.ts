/**
 * @module storage/retry-backend
 * Wraps a backend with what a network store needs and a local disk does not: per-request
 * timeouts, retries of transient failures with exponential backoff and full jitter (or the
 * wait a server asked for with Retry-After), and a circuit breaker that stops sending
 * requests after a run of failures, so a job against a store that is down fails within a
 * bounded time with a message naming the store and the last error.
 *
 * Every request has a deadline: each attempt is bounded by the transport's connect and idle
 * limits and by the request timeout, and no retry starts once the request's retry budget is
 * spent, so an endpoint that accepts connections and never answers fails a job within
 * `retryBudgetMs` plus one attempt (`effectiveRetryPolicy` computes it; 63 s by default).
 *
 * Only errors a backend marks `retryable` are retried and count towards the breaker:
 * 'not_found', permission errors and 'retained' are answers, not outages. Backends run their
 * SDKs with retries off, so this is the one place that decides.
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import { describe, isLifeboatError, LifeboatError } from '../errors.js';
import { type Backend, type FileHandle, type FileInfo, type FileType, stillRead } from './backend.js';
import { ForwardingBackend } from './forwarding-backend.js';
import { objectName } from './layout.js';
import { retryAfterOf, storageError } from './transient-errors.js';

export interface RetryOptions {
  /** Retries after the first attempt of one request (default 5; 0 disables). */
  retries?: number;
  /** Longest one request may take, in ms (default 120 000; 0 disables). Listing: longest pause between entries. */
  timeoutMs?: number;
  /** Longest a connection may take to come up, TCP and TLS or SSH handshake (default 10 000; 0 disables). */
  connectTimeoutMs?: number;
  /** Longest a connection may stay silent, no byte either way, within a request (default 20 000; 0 disables). */
  idleTimeoutMs?: number;
  /** No retry of a request starts later than this after its first attempt (default 40 000; 0: retries only). */
  retryBudgetMs?: number;
  /** Consecutive failed requests that open the circuit breaker (default 10; 0 disables). */
  circuitBreakerAfter?: number;
  /** How long the open breaker refuses requests before letting one through (default 30 s). */
  halfOpenAfterMs?: number;
  /** First backoff step (default 500 ms); doubles each retry, up to maxDelayMs (default 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
  /** Called before each retry (the CLI logs these with --debug). */
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryEvent {
  what: string;
  attempt: number;
  delayMs: number;
  error: unknown;
}

export const RETRY_DEFAULTS = {
  retries: 5,
  timeoutMs: 120_000,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 20_000,
  retryBudgetMs: 40_000,
  circuitBreakerAfter: 10,
  halfOpenAfterMs: 30_000,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
} as const;

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How late a transport may notice its connect or idle limit (S3's handler defers its timer). */
const TRANSPORT_SLACK_MS = 3_000;

/** The policy in force for `options`, defaults filled in, and what it means for a silent endpoint. */
export interface EffectiveRetryPolicy {
  retries: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  retryBudgetMs: number;
  /**
   * The longest one request can take against an endpoint that accepts the connection and
   * never answers: the last retry starts within the budget and ends at the connect or idle
   * limit (or the request timeout, if lower). Infinity when nothing bounds it.
   */
  silentEndpointMs: number;
}

export function effectiveRetryPolicy(options: RetryOptions = {}): EffectiveRetryPolicy {
  const retries = options.retries ?? RETRY_DEFAULTS.retries;
  const timeoutMs = options.timeoutMs ?? RETRY_DEFAULTS.timeoutMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? RETRY_DEFAULTS.connectTimeoutMs;
  const idleTimeoutMs = options.idleTimeoutMs ?? RETRY_DEFAULTS.idleTimeoutMs;
  const retryBudgetMs = options.retryBudgetMs ?? RETRY_DEFAULTS.retryBudgetMs;
  // A silent endpoint trips the idle limit once connected, or the connect limit before; S3's
  // HTTP handler arms its idle timer up to 3 s after the request starts.
  const transport =
    connectTimeoutMs > 0 && idleTimeoutMs > 0
      ? Math.max(connectTimeoutMs, idleTimeoutMs) + TRANSPORT_SLACK_MS
      : Infinity;
  const attempt = Math.min(transport, timeoutMs > 0 ? timeoutMs : Infinity);
  const maxDelay = options.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs;
  const base = options.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs;
  let unbudgeted = attempt;
  for (let i = 1; i <= retries; i++) unbudgeted += Math.min(maxDelay, base * 2 ** (i - 1)) + attempt;
  const silentEndpointMs = retryBudgetMs > 0 ? Math.min(unbudgeted, retryBudgetMs + attempt) : unbudgeted;
  return { retries, timeoutMs, connectTimeoutMs, idleTimeoutMs, retryBudgetMs, silentEndpointMs };
}

function isRetryable(err: unknown): boolean {
  return isLifeboatError(err) && err.retryable;
}

export class RetryBackend extends ForwardingBackend {
  private readonly retries: number;
  private readonly timeoutMs: number;
  private readonly retryBudgetMs: number;
  private readonly now: () => number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly halfOpenAfterMs: number;
  private readonly breakAfter: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly breaker;
  /** The failure that last counted towards the breaker, for the message when it opens. */
  private lastFailure: unknown;

  constructor(
    inner: Backend,
    private readonly options: RetryOptions = {},
  ) {
    super(inner);
    this.retries = options.retries ?? RETRY_DEFAULTS.retries;
    this.timeoutMs = options.timeoutMs ?? RETRY_DEFAULTS.timeoutMs;
    this.retryBudgetMs = options.retryBudgetMs ?? RETRY_DEFAULTS.retryBudgetMs;
    this.now = options.now ?? Date.now;
    this.baseDelayMs = options.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs;
    this.maxDelayMs = options.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs;
    this.halfOpenAfterMs = options.halfOpenAfterMs ?? RETRY_DEFAULTS.halfOpenAfterMs;
    this.breakAfter = options.circuitBreakerAfter ?? RETRY_DEFAULTS.circuitBreakerAfter;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
    this.breaker =
      this.breakAfter > 0
        ? circuitBreaker(handleWhen(isRetryable), {
            halfOpenAfter: this.halfOpenAfterMs,
            breaker: new ConsecutiveBreaker(this.breakAfter),
          })
        : undefined;
  }

  /** True while the breaker refuses requests. */
  get circuitOpen(): boolean {
    return this.breaker?.state === CircuitState.Open;
  }

  override freeSpace?(): Promise<number> {
    return this.run('read free space', () => this.inner.freeSpace!());
  }

  override removeUnfinished?(): Promise<number> {
    return this.run('remove unfinished writes', () => this.inner.removeUnfinished!());
  }

  // listUnfinished is not retried: check only warns about what it lists, nothing depends on it.

  override retentionUntil?(h: FileHandle): Promise<Date | undefined> {
    return this.run(`read the retention of ${objectName(h)}`, () => this.inner.retentionUntil!(h));
  }

  override create(): Promise<void> {
    return this.run('create the repository', () => this.inner.create());
  }

  override async save(h: FileHandle, data: Buffer): Promise<void> {
    let attempts = 0;
    try {
      await this.run(`write ${objectName(h)}`, () => {
        // A second attempt means the first failed or timed out, and may still be sending.
        if (++attempts > 1) stillRead.add(data);
        return this.inner.save(h, data);
      });
    } catch (err) {
      stillRead.add(data);
      throw err;
    }
  }

  override load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    return this.run(`read ${objectName(h)}`, () => this.inner.load(h, offset, length));
  }

  override stat(h: FileHandle): Promise<FileInfo> {
    return this.run(`stat ${objectName(h)}`, () => this.inner.stat(h));
  }

  override remove(h: FileHandle): Promise<void> {
    return this.run(`remove ${objectName(h)}`, () => this.inner.remove(h));
  }

  /**
   * A listing is retried whole: it is gathered in memory (names and sizes only), so a
   * failure on page 40 of 50 starts over instead of yielding duplicates.
   */
  override async *list(type: FileType): AsyncIterable<FileInfo> {
    const all = await this.run(
      `list ${type} objects`,
      async () => {
        const out: FileInfo[] = [];
        const it = this.inner.list(type)[Symbol.asyncIterator]();
        for (;;) {
          const next = await this.timed(`list ${type} objects`, it.next(), () => void it.return?.());
          if (next.done) break;
          out.push(next.value);
        }
        return out;
      },
      false,
    );
    yield* all;
  }

  /** One request with retries, through the breaker; `timed` false when fn times itself. */
  private async run<T>(what: string, fn: () => Promise<T>, timed = true): Promise<T> {
    let attempt = 0;
    const started = this.now();
    for (;;) {
      attempt++;
      try {
        const call = () => (timed ? this.timed(what, fn()) : fn());
        if (!this.breaker) return await call();
        return await this.breaker.execute(async () => {
          try {
            return await call();
          } catch (err) {
            if (isRetryable(err)) this.lastFailure = err;
            throw err;
          }
        });
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw this.unavailable(what);
        if (!isRetryable(err)) throw err;
        if (attempt > this.retries) throw this.givenUp(what, attempt, started, err);
        const delayMs = this.delay(attempt, err);
        if (this.retryBudgetMs > 0 && this.now() - started + delayMs >= this.retryBudgetMs) {
          throw this.givenUp(
            what,
            attempt,
            started,
            err,
            ` (retry budget ${seconds(this.retryBudgetMs)} spent; raise repository.retry_budget for flaky links)`,
          );
        }
        this.options.onRetry?.({ what, attempt, delayMs, error: err });
        await this.sleep(delayMs);
      }
    }
  }

  /** Full jitter on an exponential step; a server's Retry-After wins when it asks for longer. */
  private delay(attempt: number, err: unknown): number {
    const step = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    const jittered = Math.round(this.random() * step);
    const asked = retryAfterOf(err);
    return asked === undefined ? jittered : Math.max(asked, jittered);
  }

  /** Rejects with a retryable timeout error when `p` takes longer than the timeout. */
  private timed<T>(what: string, p: Promise<T>, onTimeout?: () => void): Promise<T> {
    if (this.timeoutMs <= 0) return p;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout?.();
        reject(
          storageError(
            'storage_failed',
            `[storage] ${what} at ${this.location} timed out after ${seconds(this.timeoutMs)} (raise repository.timeout for slow links)`,
            { retryable: true },
          ),
        );
      }, this.timeoutMs);
    });
    // The abandoned request may still fail later; nobody is waiting for it then.
    p.catch(() => {});
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private givenUp(what: string, attempts: number, started: number, err: unknown, why = ''): LifeboatError {
    const code = isLifeboatError(err) ? err.code : 'storage_failed';
    return new LifeboatError(
      code,
      `[storage] giving up on ${this.location}: ${what} failed ${attempts} times in ${seconds(this.now() - started)}${why}; last error: ${describe(err)}`,
      { cause: err },
    );
  }

  private unavailable(what: string): LifeboatError {
    const last = this.lastFailure === undefined ? 'none recorded' : describe(this.lastFailure);
    return new LifeboatError(
      'storage_failed',
      `[storage] ${this.location} is unavailable: ${this.breakAfter} requests in a row failed, so the circuit breaker stopped sending requests (${what} was not tried; check the store and run again); last error: ${last}`,
      { cause: this.lastFailure, retryable: false },
    );
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** Adds timeouts, retries and a circuit breaker to `backend`. */
export function withRetries(backend: Backend, options: RetryOptions = {}): RetryBackend {
  return new RetryBackend(backend, options);
}
