/**
 * @module jobs/fleet/remote-worker
 * `lifeboat worker --server URL,...`: a fleet worker that holds a worker token instead of the
 * catalog's credentials. It asks a serve instance (server/routes/worker-routes) for each
 * catalog and queue step: register, beat, claim, and, for the job it runs, read it, record
 * its status, append its audit entries, submit its retention, complete or fail it. The job
 * itself runs here, with this host's config (its sources, the repository and its password),
 * through the same code as everywhere (`JobQueue.runDispatched`).
 *
 * Every call goes to the first URL that answers: a serve instance that dies mid-call is
 * replaced by the next (or the same one once back), and since every step's state is in
 * PostgreSQL, any instance carries on where another stopped. The token is sent in the
 * Authorization header only, and never logged.
 */
import { hostname } from 'node:os';
import type { AuditEntry, NewAuditEntry } from '../../catalog/audit-log.js';
import type { JobRecord, JobUpdate } from '../../catalog/catalog.js';
import type { AuditStore, CatalogStore } from '../../catalog/catalog-store.js';
import { systemClock } from '../../clock.js';
import { describe, type ErrorCode, LifeboatError } from '../../errors.js';
import type { Log } from '../../notify/alert-dispatcher.js';
import type { JobRequest } from '../queue/job-queue.js';
import {
  type FleetClaim,
  type FleetHandler,
  type FleetJob,
  type Labels,
  runHandler,
  settleWithin,
} from './fleet-queue.js';

/** Answers that say "this instance cannot answer now": the next URL is tried. */
const RETRY_STATUSES = new Set([500, 502, 503, 504]);

const CODE_OF: Record<number, ErrorCode> = {
  400: 'usage',
  401: 'forbidden',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
};

export interface CallOptions {
  /** How long to keep trying the URLs in turn (default 60 s). */
  budgetMs?: number;
  /** One request's limit (default 30 s). */
  timeoutMs?: number;
  /** Gives up (the worker is stopping). */
  signal?: AbortSignal;
}

/** The serve instances' worker routes, over HTTP, with the worker token. */
export class WorkerClient {
  private preferred = 0;

  constructor(
    private readonly urls: string[],
    private readonly token: string,
  ) {
    if (urls.length === 0) throw new LifeboatError('usage', '[worker] --server needs at least one URL');
  }

  /** The URLs as given (no credentials: a worker token goes in a header). */
  get location(): string {
    return this.urls.join(',');
  }

  /**
   * One call, to the first instance that answers: a connection error or a 5xx moves on to the
   * next URL, round after round, until `budgetMs`; a 4xx is the answer (a LifeboatError).
   */
  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, o: CallOptions = {}): Promise<T> {
    const end = Date.now() + (o.budgetMs ?? 60_000);
    let last = '';
    for (let round = 0; ; round++) {
      for (let i = 0; i < this.urls.length; i++) {
        const at = (this.preferred + i) % this.urls.length;
        const base = this.urls[at].replace(/\/+$/, '');
        try {
          const res = await fetch(base + path, {
            method,
            headers: {
              authorization: `Bearer ${this.token}`,
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.any([
              AbortSignal.timeout(o.timeoutMs ?? 30_000),
              ...(o.signal ? [o.signal] : []),
            ]),
          });
          const text = await res.text();
          const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          if (res.ok) {
            this.preferred = at;
            return parsed as T;
          }
          const message =
            (parsed.error as { message?: string } | undefined)?.message ?? `${res.status} ${res.statusText}`;
          if (!RETRY_STATUSES.has(res.status)) {
            this.preferred = at;
            throw new LifeboatError(CODE_OF[res.status] ?? 'internal', message, { retryable: false });
          }
          last = `${base}: ${message}`;
        } catch (err) {
          if ((err as { name?: string }).name === 'LifeboatError') throw err;
          last = `${base}: ${describe(err)}`;
        }
      }
      if (Date.now() >= end || o.signal?.aborted) {
        throw new LifeboatError(
          'unavailable',
          `[worker] no server answered ${method} ${path} (last: ${last}); check --server and that a serve instance runs`,
          { retryable: true },
        );
      }
      await systemClock.sleep(Math.min(2000, 250 * (round + 1)), o.signal).catch(() => {});
    }
  }
}

const remoteOnly = (what: string) => () =>
  Promise.reject(
    new LifeboatError(
      'internal',
      `[worker] a remote worker has no catalog access for ${what}: only the calls of a running job go to the server`,
    ),
  );

/**
 * The catalog as a running job sees it from a remote worker: its own job (read, update), its
 * audit entries; the serve instance checks that this worker holds the job. Everything else
 * is refused: a job needs none of it.
 */
export class RemoteCatalog implements CatalogStore {
  readonly kind = 'postgres' as const;
  readonly created = false;
  readonly audit: AuditStore;

  constructor(
    private readonly client: WorkerClient,
    /** The current heartbeat row's id (it changes when the worker registers again). */
    private readonly worker: () => string,
  ) {
    this.audit = {
      append: (entry: NewAuditEntry) => this.appendAudit(entry),
      list: remoteOnly('the audit log'),
      verify: remoteOnly('the audit log'),
    };
  }

  get location(): string {
    return this.client.location;
  }

  tokens = {
    create: remoteOnly('tokens'),
    list: remoteOnly('tokens'),
    revoke: remoteOnly('tokens'),
    authenticate: remoteOnly('tokens'),
    touch: remoteOnly('tokens'),
  };

  private jobPath(id: string): string {
    return `/api/worker/${this.worker()}/jobs/${encodeURIComponent(id)}`;
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    return (await this.client.call<{ job: JobRecord }>('GET', this.jobPath(id))).job;
  }

  async updateJob(id: string, update: JobUpdate): Promise<JobRecord> {
    return (await this.client.call<{ job: JobRecord }>('POST', `${this.jobPath(id)}/update`, update)).job;
  }

  private async appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    if (!entry.target)
      throw new LifeboatError('internal', `[worker] audit entry ${entry.action} names no job`);
    const { action, target, details } = entry;
    return (
      await this.client.call<{ entry: AuditEntry }>('POST', `${this.jobPath(target)}/audit`, {
        action,
        target,
        details: details ?? {},
      })
    ).entry;
  }

  /** A backup's retention: the server records and dispatches it. */
  async followUp(job: JobRecord, req: JobRequest): Promise<void> {
    await this.client.call('POST', `${this.jobPath(job.id)}/follow-up`, {
      kind: req.kind,
      ...(req.params ? { params: req.params } : {}),
    });
  }

  async close(): Promise<void> {}
  ping = remoteOnly('ping');
  getMeta = remoteOnly('settings');
  setMeta = remoteOnly('settings');
  createJob = remoteOnly('recording jobs');
  findJob = remoteOnly('other jobs');
  listJobs = remoteOnly('other jobs');
  activeJobs = remoteOnly('other jobs');
  recentBackups = remoteOnly('other jobs');
  lastFinished = remoteOnly('other jobs');
  lastFailure = remoteOnly('other jobs');
  lastBackupOutcomes = remoteOnly('other jobs');
  knownSnapshots = remoteOnly('other jobs');
  insertFinishedJobs = remoteOnly('recording jobs');
  getAlert = remoteOnly('alerts');
  listAlerts = remoteOnly('alerts');
  saveAlert = remoteOnly('alerts');
}

/** A claim as the server answers it. */
interface Claimed {
  queue_job_id: string;
  attempt: number;
  job: FleetJob;
}

interface Running {
  claim: Pick<FleetClaim, 'queueJobId' | 'job' | 'attempt'>;
  abort: AbortController;
  done: Promise<void>;
  lost: boolean;
}

export interface RemoteWorkerOptions {
  concurrency: number;
  name: string;
  log: Log;
  /** How long a claim waits at the server for a job (default 5 s). */
  waitSeconds?: number;
  /** Only jobs of these kinds (a write-only repository key: backups); null: every kind. */
  kinds?: readonly string[] | null;
}

/** The remote twin of FleetWorker: the same steps, each asked of a serve instance. */
export class RemoteWorker {
  private id = '';
  private leaseSeconds = 60;
  private readonly running = new Map<string, Running>();
  private beat: NodeJS.Timeout | undefined;
  private loop: Promise<void> = Promise.resolve();
  private stopping = false;
  /** Aborts a claim waiting at (or for) a server when the worker stops. */
  private readonly halt = new AbortController();
  private wake: (() => void) | undefined;

  constructor(
    private readonly client: WorkerClient,
    readonly labels: Labels,
    private readonly handler: FleetHandler,
    private readonly o: RemoteWorkerOptions,
  ) {}

  /** The heartbeat row's id (for RemoteCatalog). */
  readonly workerId = (): string => this.id;

  async start(): Promise<void> {
    await this.register();
    this.beat = setInterval(() => void this.heartbeat(), Math.max(200, (this.leaseSeconds * 1000) / 4));
    this.loop = this.poll();
  }

  /** Takes no more jobs; running ones get `graceMs`, then are aborted and left to the lease. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.halt.abort();
    this.wake?.();
    await settleWithin(
      [...this.running.values()].map((r) => r.done),
      graceMs,
    );
    for (const r of this.running.values()) r.abort.abort();
    if (this.beat) clearInterval(this.beat);
    await this.loop.catch(() => {});
    // Jobs still running stay in the row, so the reaper hands them on after the lease.
    if (this.running.size === 0) {
      await this.client
        .call('POST', `/api/worker/${this.id}/unregister`, undefined, { budgetMs: 5000, timeoutMs: 5000 })
        .catch((err) =>
          this.o.log.warn({ err: describe(err) }, 'unregistering failed; the lease removes it'),
        );
    }
  }

  private async register(): Promise<void> {
    const r = await this.client.call<{ worker: string; lease_seconds: number }>(
      'POST',
      '/api/worker/register',
      {
        name: this.o.name,
        host: hostname(),
        pid: process.pid,
        labels: this.labels,
        ...(this.o.kinds ? { kinds: [...this.o.kinds] } : {}),
      },
    );
    this.id = r.worker;
    this.leaseSeconds = r.lease_seconds;
  }

  private async heartbeat(): Promise<void> {
    try {
      const r = await this.client.call<{ ok: boolean }>(
        'POST',
        `/api/worker/${this.id}/heartbeat`,
        { running: [...this.running.keys()] },
        { budgetMs: (this.leaseSeconds * 1000) / 2, timeoutMs: (this.leaseSeconds * 1000) / 2 },
      );
      if (!r.ok) throw new LifeboatError('conflict', '[worker] reaped');
    } catch (err) {
      if ((err as LifeboatError).code !== 'conflict') {
        this.o.log.warn({ err: describe(err) }, 'heartbeat failed');
        return;
      }
      // Reaped: we were silent past the lease and our jobs were handed on. Let them go.
      this.o.log.warn({ worker: this.id }, 'this worker missed its lease: its jobs run elsewhere');
      for (const r of this.running.values()) {
        r.lost = true;
        r.abort.abort();
      }
      if (!this.stopping)
        await this.register().catch((e) => this.o.log.warn({ err: describe(e) }, 'register failed'));
    }
  }

  private async poll(): Promise<void> {
    while (!this.stopping) {
      if (this.running.size >= this.o.concurrency) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      try {
        const { claim } = await this.client.call<{ claim: Claimed | null }>(
          'POST',
          `/api/worker/${this.id}/claim`,
          { wait_seconds: this.o.waitSeconds ?? 5 },
          { timeoutMs: ((this.o.waitSeconds ?? 5) + 30) * 1000, signal: this.halt.signal },
        );
        if (claim) this.run({ queueJobId: claim.queue_job_id, attempt: claim.attempt, job: claim.job });
      } catch (err) {
        if (this.stopping) break;
        this.o.log.warn({ err: describe(err) }, 'claiming a job failed');
        await systemClock.sleep(1000, this.halt.signal).catch(() => {});
      }
    }
  }

  private run(claim: Running['claim']): void {
    const r: Running = { claim, abort: new AbortController(), done: Promise.resolve(), lost: false };
    this.running.set(claim.queueJobId, r);
    r.done = this.runJob(r);
  }

  private async runJob(r: Running): Promise<void> {
    const { claim } = r;
    const error = await runHandler(this.handler, claim, r.abort.signal);
    try {
      if (!r.lost) {
        const path = `/api/worker/${this.id}/jobs/${claim.job.id}`;
        if (error === undefined) await this.client.call('POST', `${path}/complete`);
        else await this.client.call('POST', `${path}/fail`, { message: error.slice(0, 10_000) });
      }
    } catch (err) {
      this.o.log.warn({ job: claim.job.id, err: describe(err) }, 'ending the job in the queue failed');
    } finally {
      this.running.delete(claim.queueJobId);
      this.wake?.();
    }
  }
}
