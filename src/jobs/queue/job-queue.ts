/**
 * @module jobs/queue/job-queue
 * The job queue: records each job in the catalog and runs it (jobs/queue/job-runner) when it
 * may. Rules: never two jobs of one source at once (nor two prunes or checks): a request that
 * would overlap is recorded as `skipped`; a prune without a grace period waits until nothing
 * else runs and holds back what comes after it (one with a grace runs beside everything but
 * a check); at most `concurrency` jobs run at once; a restore that needs approval
 * waits as `awaiting_approval` until a second admin approves it. A successful backup is
 * followed by its source's retention (a forget job). Each job opens its own Repository and
 * closes it after, so concurrent jobs share no state and an idle server holds no index or
 * worker threads. The daemon and `lifeboat jobs retry` both use this; errors are
 * LifeboatErrors (the API maps their codes to statuses).
 */
import { hostname } from 'node:os';
import type { JobKind, JobRecord, JobTrigger, JobUpdate } from '../../catalog/catalog.js';
import type { CatalogStore } from '../../catalog/catalog-store.js';
import { FINAL_STATUSES } from '../../catalog/job-states.js';
import { PROCESS_OWNER } from '../../catalog/process-owner.js';
import { withoutPasswordsInText } from '../../catalog/secret-free.js';
import type { Clock } from '../../clock.js';
import type { LifeboatConfig } from '../../config/config.js';
import { describe, errnoCode, LifeboatError } from '../../errors.js';
import type { Log } from '../../notify/alert-dispatcher.js';
import type { Repository } from '../../repo/repository.js';
import { pruneGraceMs } from '../prune.js';
import { type JobOrderInput, paramsOf } from './job-kinds.js';
import { JobProgressBoard } from './job-progress.js';
import { runJob } from './job-runner.js';
import { redactText } from './redact.js';
import { checkApprover } from './restore-approval.js';

export interface JobQueueOptions {
  catalog: CatalogStore;
  clock: Clock;
  config: LifeboatConfig;
  /** A fresh repository handle per job; the queue closes it. */
  openRepository: () => Promise<Repository>;
  log: Log;
  concurrency: number;
  /** argv that runs this Lifeboat with the same config (physical drills run `wal-fetch` with it). */
  lifeboatArgv?: string[];
  /** The environment the repository was given in (--repo, --password-file applied); process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** After a job reaches a final status (metrics, alerts). */
  onFinished?: (job: JobRecord) => void | Promise<void>;
  /**
   * After a job's work, before its final status is recorded: whoever sees the job finished
   * (an API client polling it) then also sees its effects (the server's snapshot list).
   */
  beforeFinal?: (job: JobRecord) => Promise<void>;
  /**
   * Fleet mode (jobs/fleet/fleet-jobs): a queued job goes here instead of this process's
   * queue, and whichever worker takes it runs it with `runDispatched`. Jobs of every instance
   * then count as busy (the lease, not the owner's pid, says whether they still run).
   */
  dispatch?: (job: JobRecord) => Promise<void>;
  /**
   * Submits a job's follow-up (a backup's retention) instead of this queue: a remote worker
   * (jobs/fleet/remote-worker) asks a serve instance to record and dispatch it.
   */
  followUp?: (job: JobRecord, req: JobRequest) => Promise<unknown>;
}

/** A job to record and run: its kind and params (jobs/queue/job-kinds), and who asks why. */
export type JobRequest = JobOrderInput & {
  source: string | null;
  trigger: JobTrigger;
  /** Token name, `cli:<user>`, or `scheduler`. */
  requestedBy: string;
  retryOf?: string;
  /**
   * The job's id when it must be one job however often it is asked for (a fleet schedule's
   * slot, claimed again after the instance that recorded it died before its claim committed):
   * a job already recorded under it is returned (and dispatched again while queued).
   */
  id?: string;
  /** Recorded as awaiting_approval; runs after `approve`. */
  needsApproval?: boolean;
};

interface Active {
  job: JobRecord;
  key: string;
  done: Promise<JobRecord>;
  resolve: (job: JobRecord) => void;
  started: boolean;
  /** Runs with nothing beside it: a prune without a grace period (exclusive lock). */
  alone: boolean;
}

/**
 * How long a backup waits for the repository lock held by other work (another instance's
 * prune without grace, a key rotation) before it fails: long enough for a prune.
 */
export const BACKUP_LOCK_WAIT_MS = 2 * 60 * 60 * 1000;

/** Jobs that may not overlap share a key: one per source, one for prune, one for check. */
export function conflictKey(kind: JobKind, source: string | null): string {
  if (source) return `source:${source}`;
  return `repository:${kind}`;
}

export class JobQueue {
  private readonly queue: Active[] = [];
  private readonly running = new Map<string, Active>();
  private readonly waiters = new Map<string, Active>();
  /** Jobs given up on at shutdown: a late finish must not overwrite `interrupted`. */
  private readonly abandoned = new Set<string>();
  private accepting = true;
  /** Restore targets whose password the catalog does not keep, by job id (memory only). */
  private readonly secretTargets = new Map<string, string>();
  /** Live progress of the backups and restores running here. */
  readonly progress: JobProgressBoard;
  /**
   * Admission (submit, approve, reject, the drain of the queue) runs one at a time: each
   * checks what runs and records its decision with catalog calls in between, and two at once
   * could both pass the check (two jobs of one source).
   */
  private admission: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: JobQueueOptions) {
    this.progress = new JobProgressBoard(
      o.clock,
      async (id, progress) => {
        await o.catalog.updateJob(id, { progress });
      },
      (err) => o.log.warn({ err: describe(err) }, 'job progress not stored'),
    );
  }

  /** Records the job and starts it when it may run; an overlapping request is recorded as skipped. */
  async submit(req: JobRequest): Promise<JobRecord> {
    if (!this.accepting) {
      throw new LifeboatError('unavailable', '[server] shutting down: no new jobs are started');
    }
    const to = req.params?.to;
    const secretTo = typeof to === 'string' && withoutPasswordsInText(to) !== to ? to : undefined;
    // The catalog keeps the target without its password; the restore reads it from memory.
    if (secretTo) req = { ...req, params: { ...req.params, target_password_kept: false } } as JobRequest;
    return this.exclusive(() => this.record(req, secretTo));
  }

  /** `secretTo` is kept for the job before it can start (an idle queue starts it at once). */
  private async record(req: JobRequest, secretTo?: string): Promise<JobRecord> {
    if (!this.accepting) {
      throw new LifeboatError('unavailable', '[server] shutting down: no new jobs are started');
    }
    if (req.id) {
      const known = await this.o.catalog.getJob(req.id);
      if (known) {
        // Recorded by an instance that died before it could say so: this is the job. A second
        // delivery of a job that ends meanwhile does nothing (the fleet worker finds it ended).
        if (known.status === 'queued' && this.o.dispatch) await this.o.dispatch(known);
        return known;
      }
    }
    const base = {
      ...(req.id ? { id: req.id } : {}),
      kind: req.kind,
      source: req.source,
      trigger: req.trigger,
      requested_by: req.requestedBy,
      params: req.params ?? {},
      retry_of: req.retryOf ?? null,
    };
    if (req.needsApproval) {
      const job = await this.o.catalog.createJob({ ...base, status: 'awaiting_approval' });
      if (secretTo) this.secretTargets.set(job.id, secretTo);
      return job;
    }
    const key = conflictKey(req.kind, req.source);
    const busy = await this.busyWith(key);
    if (busy) {
      const what = req.source ? `source ${req.source}` : req.kind;
      const job = await this.o.catalog.createJob({
        ...base,
        status: 'skipped',
        error: `skipped: job ${busy.id} (${busy.kind}) of ${what} is still ${busy.status}`,
      });
      this.o.log.warn(
        { job: job.id, kind: job.kind, source: job.source, busy: busy.id },
        job.error ?? 'skipped',
      );
      void this.finished(job);
      return job;
    }
    const job = await this.o.catalog.createJob({
      ...base,
      status: 'queued',
      owner: this.o.dispatch ? null : PROCESS_OWNER,
    });
    if (secretTo) this.secretTargets.set(job.id, secretTo);
    await this.enqueueOrDispatch(job);
    return job;
  }

  /** A second person lets an awaiting restore run. */
  approve(id: string, approver: string): Promise<JobRecord> {
    return this.exclusive(() => this.approveNow(id, approver));
  }

  private async approveNow(id: string, approver: string): Promise<JobRecord> {
    const job = await this.o.catalog.getJob(id);
    if (!job) throw new LifeboatError('not_found', `[jobs] no job ${id}`);
    if (job.status !== 'awaiting_approval') {
      throw new LifeboatError('conflict', `[jobs] job ${id} is ${job.status}, not awaiting approval`);
    }
    checkApprover(job, approver);
    if (!this.accepting)
      throw new LifeboatError('unavailable', '[server] shutting down: no new jobs are started');
    const queued = await this.o.catalog.updateJob(id, {
      status: 'queued',
      approved_by: approver,
      owner: this.o.dispatch ? null : PROCESS_OWNER,
    });
    await this.enqueueOrDispatch(queued);
    return queued;
  }

  /**
   * Ends a restore awaiting approval without running it: an admin rejects it, or its
   * requester withdraws it (`by` is who; the caller checks that they may).
   */
  reject(id: string, by: string, reason?: string): Promise<JobRecord> {
    return this.exclusive(() => this.rejectNow(id, by, reason));
  }

  private async rejectNow(id: string, by: string, reason?: string): Promise<JobRecord> {
    const job = await this.o.catalog.getJob(id);
    if (!job) throw new LifeboatError('not_found', `[jobs] no job ${id}`);
    if (job.status !== 'awaiting_approval') {
      throw new LifeboatError('conflict', `[jobs] job ${id} is ${job.status}, not awaiting approval`);
    }
    const verb = by === job.requested_by ? 'withdrawn' : 'rejected';
    this.secretTargets.delete(id);
    return this.o.catalog.updateJob(id, {
      status: 'rejected',
      finished_at: this.o.clock.now().toISOString(),
      error: `${verb} by ${by}${reason ? `: ${reason}` : ''}`,
    });
  }

  /**
   * Fleet mode: runs a job the fleet queue handed to this process (recorded by any instance,
   * perhaps run before by a worker that died: the last attempt's result wins). Resolves with
   * its final record; `interrupted` when this process stopped before it finished.
   */
  runDispatched(job: JobRecord): Promise<JobRecord> {
    const known = this.waiters.get(job.id);
    if (known) return known.done;
    if (!this.accepting) {
      return Promise.reject(
        new LifeboatError('unavailable', '[server] shutting down: no new jobs are started'),
      );
    }
    this.enqueue(job);
    return this.waiters.get(job.id)?.done ?? this.wait(job.id);
  }

  /** Resolves when the job reaches a final status (only for jobs this process runs). */
  async wait(id: string): Promise<JobRecord> {
    const active = this.waiters.get(id);
    if (active) return active.done;
    const job = await this.o.catalog.getJob(id);
    if (!job) throw new Error(`no job ${id}`);
    return job;
  }

  /** Jobs this process runs right now. */
  runningJobs(): JobRecord[] {
    return [...this.running.values()].map((a) => a.job);
  }

  /** Resolves when nothing is queued or running here (tests). */
  async idle(): Promise<void> {
    // Admissions under way first: a submit that has not reached the queue yet counts.
    await this.admission;
    while (this.waiters.size > 0) {
      await Promise.all([...this.waiters.values()].map((a) => a.done));
      await this.admission;
    }
  }

  /**
   * Jobs left queued or running by a process that is gone (a crash, a kill -9) are marked
   * interrupted, except those `keep` names. Returns how many.
   */
  async recoverStale(
    keep: (jobs: JobRecord[]) => Promise<Set<string>> = async () => new Set(),
  ): Promise<number> {
    let n = 0;
    const active = await this.o.catalog.activeJobs();
    // Fleet mode keeps the jobs its queue holds: the lease hands them on.
    const kept = await keep(active);
    for (const job of active) {
      if (kept.has(job.id)) continue;
      if (job.owner === PROCESS_OWNER || ownerAlive(job.owner)) continue;
      await this.o.catalog.updateJob(job.id, {
        status: 'interrupted',
        finished_at: this.o.clock.now().toISOString(),
        error: `the process that ran it (${job.owner ?? 'unknown'}) stopped before it finished; nothing it left half-written is referenced by a snapshot`,
      });
      n++;
    }
    return n;
  }

  /**
   * Stops taking jobs; queued ones are marked interrupted at once, running ones get `graceMs`
   * to finish and are marked interrupted after it. Returns the jobs interrupted.
   */
  async drain(graceMs: number, reason: string): Promise<JobRecord[]> {
    this.accepting = false;
    const interrupted: JobRecord[] = [];
    // After any admission under way, so a job it is recording is in the queue to interrupt.
    await this.exclusive(async () => {
      for (const a of this.queue.splice(0)) {
        interrupted.push(await this.interrupt(a, `${reason} before the job started`));
      }
    });
    const running = [...this.running.values()];
    if (running.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.all(running.map((a) => a.done)), timeout]);
      clearTimeout(timer);
    }
    for (const a of [...this.running.values()]) {
      interrupted.push(
        await this.interrupt(
          a,
          `${reason} and the job did not finish within the ${Math.round(graceMs / 1000)}s grace period; a snapshot is written only when a backup completes, so none is half-written (data already uploaded is reused by the next backup)`,
        ),
      );
    }
    return interrupted;
  }

  // ---- internals ---------------------------------------------------------------------

  /** Runs `work` after every admission step before it has ended. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.admission.then(work);
    this.admission = run.catch(() => {});
    return run;
  }

  private async busyWith(key: string): Promise<JobRecord | undefined> {
    for (const a of [...this.running.values(), ...this.queue]) if (a.key === key) return a.job;
    // Jobs of other live processes (`lifeboat jobs retry`, another server on this catalog).
    for (const job of await this.o.catalog.activeJobs()) {
      if (!this.o.dispatch && (job.owner === PROCESS_OWNER || !ownerAlive(job.owner))) continue;
      if (conflictKey(job.kind, job.source) === key) return job;
    }
    return undefined;
  }

  private async enqueueOrDispatch(job: JobRecord): Promise<void> {
    if (!this.o.dispatch) {
      this.enqueue(job);
      return;
    }
    try {
      await this.o.dispatch(job);
    } catch (err) {
      await this.o.catalog.updateJob(job.id, {
        status: 'failed',
        finished_at: this.o.clock.now().toISOString(),
        error: `not queued: ${describe(err)}`,
      });
      throw err;
    }
  }

  private enqueue(job: JobRecord): void {
    let resolve!: (job: JobRecord) => void;
    const done = new Promise<JobRecord>((r) => {
      resolve = r;
    });
    const active: Active = {
      job,
      key: conflictKey(job.kind, job.source),
      done,
      resolve,
      started: false,
      alone: runsAlone(job, this.o.config),
    };
    this.queue.push(active);
    this.waiters.set(job.id, active);
    this.pump();
  }

  private pump(): void {
    if (!this.accepting) return;
    const aloneRunning = [...this.running.values()].some((a) => a.alone);
    for (let i = 0; i < this.queue.length && this.running.size < this.o.concurrency; ) {
      const a = this.queue[i];
      if (a.alone) {
        // A prune without a grace runs alone; what is queued after it waits for it.
        if (this.running.size > 0) return;
      } else if (
        aloneRunning ||
        [...this.running.values()].some((r) => r.key === a.key || keptApart(r.job.kind, a.job.kind))
      ) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(a);
      if (a.alone) return;
    }
  }

  /** Takes the job's place among the running at once (pump decides on it); records it after. */
  private start(a: Active): void {
    a.started = true;
    this.running.set(a.job.id, a);
    const running: JobUpdate = {
      status: 'running',
      started_at: this.o.clock.now().toISOString(),
      owner: PROCESS_OWNER,
      // A fleet job run again (its worker died) starts clean.
      ...(this.o.dispatch ? { finished_at: null, error: null } : {}),
    };
    a.job = { ...a.job, status: 'running', started_at: running.started_at ?? null, owner: PROCESS_OWNER };
    void this.runJob(a, running);
  }

  private async runJob(a: Active, running: JobUpdate): Promise<void> {
    let update: JobUpdate;
    let followUp: JobRequest | undefined;
    try {
      a.job = await this.o.catalog.updateJob(a.job.id, running);
      this.o.log.info(
        { job: a.job.id, kind: a.job.kind, source: a.job.source, trigger: a.job.trigger },
        'job started',
      );
      if (this.abandoned.has(a.job.id)) return;
      const out = await this.execute(a.job);
      update = { status: out.failed ? 'failed' : 'succeeded', ...out.update };
      if (out.followUp) followUp = { ...out.followUp, trigger: 'retention', requestedBy: 'server' };
    } catch (err) {
      update = { status: 'failed', error: redactText(describe(err)) };
    }
    try {
      await this.o.beforeFinal?.(a.job);
    } catch (err) {
      this.o.log.error({ job: a.job.id, err: describe(err) }, 'work before the final status failed');
    }
    this.running.delete(a.job.id);
    await this.progress.clear(a.job.id);
    if (this.abandoned.has(a.job.id)) return;
    const job = await this.o.catalog.updateJob(a.job.id, {
      ...update,
      finished_at: this.o.clock.now().toISOString(),
    });
    a.job = job;
    this.waiters.delete(job.id);
    const fields = { job: job.id, kind: job.kind, source: job.source, status: job.status };
    if (job.status === 'failed') this.o.log.error({ ...fields, err: job.error }, `job failed: ${job.error}`);
    else this.o.log.info({ ...fields, snapshot: job.snapshot ?? undefined }, 'job finished');
    if (followUp && this.accepting) {
      // Only a shutdown begun meanwhile refuses it (then it would have been interrupted anyway).
      const submit = this.o.followUp ? this.o.followUp(job, followUp) : this.submit(followUp);
      await submit.catch((err) =>
        this.o.log.warn({ job: job.id, err: describe(err) }, 'the follow-up job was not recorded'),
      );
    }
    await this.finished(job);
    a.resolve(job);
    this.pump();
  }

  private async finished(job: JobRecord): Promise<void> {
    try {
      await this.o.onFinished?.(job);
    } catch (err) {
      this.o.log.error({ job: job.id, err: describe(err) }, 'after-job work failed');
    }
  }

  private async execute(job: JobRecord) {
    const secret = this.secretTargets.get(job.id);
    this.secretTargets.delete(job.id);
    const repo = await this.o.openRepository();
    try {
      return await runJob(
        {
          catalog: this.o.catalog,
          config: this.o.config,
          progress: this.progress,
          lifeboatArgv: this.o.lifeboatArgv,
          env: this.o.env,
          openRepository: this.o.openRepository,
          lockWait: {
            waitMs: BACKUP_LOCK_WAIT_MS,
            onWait: (why) =>
              this.o.log.info({ job: job.id, source: job.source }, `waiting for the lock: ${why}`),
          },
        },
        repo,
        job,
        secret,
      );
    } finally {
      await repo.close().catch(() => {});
      await repo.closeStorage().catch(() => {});
    }
  }

  private async interrupt(a: Active, message: string): Promise<JobRecord> {
    this.abandoned.add(a.job.id);
    this.running.delete(a.job.id);
    this.waiters.delete(a.job.id);
    const job = await this.o.catalog.updateJob(a.job.id, {
      status: 'interrupted',
      finished_at: this.o.clock.now().toISOString(),
      error: message,
    });
    a.resolve(job);
    return job;
  }
}

/**
 * Whether a job runs with nothing beside it: a prune without a grace period takes the
 * exclusive lock, which every other job would wait for. One with a grace (its params, else
 * the config's repository.prune_grace) takes no lock backups wait for. Params that do not
 * read count as no grace: the job fails when it runs.
 */
export function runsAlone(job: Pick<JobRecord, 'id' | 'kind' | 'params'>, config: LifeboatConfig): boolean {
  if (job.kind !== 'prune') return false;
  try {
    return pruneGraceMs(paramsOf('prune', job).grace, config) === 0;
  } catch {
    return true;
  }
}

/**
 * Kinds that never run at once although their keys differ: a check reads the packs marked
 * for deletion, which a prune with a grace may delete meanwhile.
 */
function keptApart(a: JobKind, b: JobKind): boolean {
  return (a === 'prune' && b === 'check') || (a === 'check' && b === 'prune');
}

/**
 * Whether the process named by `host:pid:nonce` may still run. Other hosts cannot be asked;
 * the nonce tells this process from an earlier one with the same pid (pid 1 in a container).
 */
export function ownerAlive(owner: string | null): boolean {
  if (!owner) return false;
  if (owner === PROCESS_OWNER) return true;
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  if (host !== hostname()) return true;
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

export function isFinal(job: JobRecord): boolean {
  return FINAL_STATUSES.includes(job.status);
}
