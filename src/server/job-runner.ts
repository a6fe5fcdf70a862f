/**
 * @module server/job-runner
 * Runs jobs (backup, forget, prune, check, restore) through the same functions the CLI calls,
 * recording each in the catalog. Rules: never two jobs of one source at once (nor two prunes
 * or checks): a request that would overlap is recorded as `skipped`; prune waits until nothing
 * else runs and holds back what comes after it; at most `concurrency` jobs run at once. A
 * successful backup is followed by its source's retention (a forget job). Each job opens its
 * own Repository and closes it after, so concurrent jobs share no state and an idle server
 * holds no index or worker threads. The daemon and `lifeboat jobs retry` both use this.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import {
  type Catalog,
  FINAL_STATUSES,
  type JobKind,
  type JobRecord,
  type JobTrigger,
  type JobUpdate,
  PROCESS_OWNER,
} from '../catalog/catalog.js';
import { withoutPasswordsInText } from '../catalog/secret-free.js';
import type { Clock } from '../clock.js';
import type { LifeboatConfig } from '../config/config.js';
import { describe, errnoCode, LifeboatError } from '../errors.js';
import { backupSource } from '../jobs/backup.js';
import { runCheck } from '../jobs/check.js';
import { runForget } from '../jobs/forget.js';
import { pointRestoreCommand, restoreToPoint } from '../jobs/pitr.js';
import { runPrune } from '../jobs/prune.js';
import { runRestore } from '../jobs/restore.js';
import type { KeepPolicy } from '../jobs/retention.js';
import type { Log } from '../notify/alert-dispatcher.js';
import type { Repository } from '../repo/repository.js';
import { selfArgv } from '../self-command.js';
import { ApiError } from './api-error.js';
import { JobProgressBoard } from './job-progress.js';
import { redactText } from './redact.js';
import { restoreApprovalReason } from './target-match.js';

export interface JobRunnerOptions {
  catalog: Catalog;
  clock: Clock;
  config: LifeboatConfig;
  /** A fresh repository handle per job; the runner closes it. */
  openRepository: () => Promise<Repository>;
  log: Log;
  concurrency: number;
  /** argv that runs this Lifeboat with the same config (physical drills run `wal-fetch` with it). */
  lifeboatArgv?: string[];
  /** The environment the repository was given in (restores to a point record its password source); process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** After a job reaches a final status (metrics, alerts). */
  onFinished?: (job: JobRecord) => void | Promise<void>;
  /**
   * After a job's work, before its final status is recorded: whoever sees the job finished
   * (an API client polling it) then also sees its effects (the server's snapshot list).
   */
  beforeFinal?: (job: JobRecord) => Promise<void>;
}

export interface JobRequest {
  kind: JobKind;
  source: string | null;
  trigger: JobTrigger;
  /** Token name, `cli:<user>`, or `scheduler`. */
  requestedBy: string;
  params?: Record<string, unknown>;
  retryOf?: string;
  /** Recorded as awaiting_approval; runs after `approve`. */
  needsApproval?: boolean;
}

interface Active {
  job: JobRecord;
  key: string;
  done: Promise<JobRecord>;
  resolve: (job: JobRecord) => void;
  started: boolean;
}

/** Jobs that may not overlap share a key: one per source, one for prune, one for check. */
export function conflictKey(kind: JobKind, source: string | null): string {
  if (source) return `source:${source}`;
  return `repository:${kind}`;
}

export class JobRunner {
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

  constructor(private readonly o: JobRunnerOptions) {
    this.progress = new JobProgressBoard(o.clock);
  }

  /** Records the job and starts it when it may run; an overlapping request is recorded as skipped. */
  submit(req: JobRequest): JobRecord {
    if (!this.accepting) {
      throw new ApiError(503, 'unavailable', '[server] shutting down: no new jobs are started');
    }
    const to = req.params?.to;
    const secretTo = typeof to === 'string' && withoutPasswordsInText(to) !== to ? to : undefined;
    // The catalog keeps the target without its password; the restore reads it from memory.
    if (secretTo) req = { ...req, params: { ...req.params, target_password_kept: false } };
    const job = this.record(req);
    if (secretTo && job.status !== 'skipped') this.secretTargets.set(job.id, secretTo);
    return job;
  }

  private record(req: JobRequest): JobRecord {
    const base = {
      kind: req.kind,
      source: req.source,
      trigger: req.trigger,
      requested_by: req.requestedBy,
      params: req.params ?? {},
      retry_of: req.retryOf ?? null,
    };
    if (req.needsApproval) return this.o.catalog.createJob({ ...base, status: 'awaiting_approval' });
    const key = conflictKey(req.kind, req.source);
    const busy = this.busyWith(key);
    if (busy) {
      const what = req.source ? `source ${req.source}` : req.kind;
      const job = this.o.catalog.createJob({
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
    const job = this.o.catalog.createJob({ ...base, status: 'queued', owner: PROCESS_OWNER });
    this.enqueue(job);
    return job;
  }

  /** A second person lets an awaiting restore run. */
  approve(id: string, approver: string): JobRecord {
    const job = this.o.catalog.getJob(id);
    if (!job) throw new ApiError(404, 'not_found', `[jobs] no job ${id}`);
    if (job.status !== 'awaiting_approval') {
      throw new ApiError(409, 'conflict', `[jobs] job ${id} is ${job.status}, not awaiting approval`);
    }
    if (job.requested_by === approver) {
      throw new ApiError(
        403,
        'forbidden',
        `[jobs] ${approver} requested restore ${id} and cannot approve it: a second admin must`,
      );
    }
    if (!this.accepting)
      throw new ApiError(503, 'unavailable', '[server] shutting down: no new jobs are started');
    const queued = this.o.catalog.updateJob(id, {
      status: 'queued',
      approved_by: approver,
      owner: PROCESS_OWNER,
    });
    this.enqueue(queued);
    return queued;
  }

  /**
   * Ends a restore awaiting approval without running it: an admin rejects it, or its
   * requester withdraws it (`by` is who; the caller checks that they may).
   */
  reject(id: string, by: string, reason?: string): JobRecord {
    const job = this.o.catalog.getJob(id);
    if (!job) throw new ApiError(404, 'not_found', `[jobs] no job ${id}`);
    if (job.status !== 'awaiting_approval') {
      throw new ApiError(409, 'conflict', `[jobs] job ${id} is ${job.status}, not awaiting approval`);
    }
    const verb = by === job.requested_by ? 'withdrawn' : 'rejected';
    this.secretTargets.delete(id);
    return this.o.catalog.updateJob(id, {
      status: 'rejected',
      finished_at: this.o.clock.now().toISOString(),
      error: `${verb} by ${by}${reason ? `: ${reason}` : ''}`,
    });
  }

  /** Resolves when the job reaches a final status (only for jobs this process runs). */
  wait(id: string): Promise<JobRecord> {
    const active = this.waiters.get(id);
    if (active) return active.done;
    const job = this.o.catalog.getJob(id);
    if (!job) return Promise.reject(new Error(`no job ${id}`));
    return Promise.resolve(job);
  }

  /** Jobs this process runs right now. */
  runningJobs(): JobRecord[] {
    return [...this.running.values()].map((a) => a.job);
  }

  /** Resolves when nothing is queued or running here (tests). */
  async idle(): Promise<void> {
    while (this.waiters.size > 0) await Promise.all([...this.waiters.values()].map((a) => a.done));
  }

  /**
   * Jobs left queued or running by a process that is gone (a crash, a kill -9) are marked
   * interrupted. Returns how many.
   */
  recoverStale(): number {
    let n = 0;
    for (const job of this.o.catalog.activeJobs()) {
      if (job.owner === PROCESS_OWNER || ownerAlive(job.owner)) continue;
      this.o.catalog.updateJob(job.id, {
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
    for (const a of this.queue.splice(0)) {
      interrupted.push(this.interrupt(a, `${reason} before the job started`));
    }
    const running = [...this.running.values()];
    if (running.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.all(running.map((a) => a.done)), timeout]);
      clearTimeout(timer);
    }
    for (const a of this.running.values()) {
      interrupted.push(
        this.interrupt(
          a,
          `${reason} and the job did not finish within the ${Math.round(graceMs / 1000)}s grace period; a snapshot is written only when a backup completes, so none is half-written (data already uploaded is reused by the next backup)`,
        ),
      );
    }
    return interrupted;
  }

  // ---- internals ---------------------------------------------------------------------

  private busyWith(key: string): JobRecord | undefined {
    for (const a of [...this.running.values(), ...this.queue]) if (a.key === key) return a.job;
    // Jobs of other live processes (`lifeboat jobs retry`, another server on this catalog).
    for (const job of this.o.catalog.activeJobs()) {
      if (job.owner === PROCESS_OWNER || !ownerAlive(job.owner)) continue;
      if (conflictKey(job.kind, job.source) === key) return job;
    }
    return undefined;
  }

  private enqueue(job: JobRecord): void {
    let resolve!: (job: JobRecord) => void;
    const done = new Promise<JobRecord>((r) => {
      resolve = r;
    });
    const active: Active = { job, key: conflictKey(job.kind, job.source), done, resolve, started: false };
    this.queue.push(active);
    this.waiters.set(job.id, active);
    this.pump();
  }

  private pump(): void {
    if (!this.accepting) return;
    const pruneRunning = [...this.running.values()].some((a) => a.job.kind === 'prune');
    for (let i = 0; i < this.queue.length && this.running.size < this.o.concurrency; ) {
      const a = this.queue[i];
      if (a.job.kind === 'prune') {
        // Prune runs alone; what is queued after it waits for it.
        if (this.running.size > 0) return;
      } else if (pruneRunning || [...this.running.values()].some((r) => r.key === a.key)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(a);
      if (a.job.kind === 'prune') return;
    }
  }

  private start(a: Active): void {
    a.started = true;
    this.running.set(a.job.id, a);
    a.job = this.o.catalog.updateJob(a.job.id, {
      status: 'running',
      started_at: this.o.clock.now().toISOString(),
      owner: PROCESS_OWNER,
    });
    this.o.log.info(
      { job: a.job.id, kind: a.job.kind, source: a.job.source, trigger: a.job.trigger },
      'job started',
    );
    void this.runJob(a);
  }

  private async runJob(a: Active): Promise<void> {
    let update: JobUpdate;
    let followUp: JobRequest | undefined;
    try {
      const out = await this.execute(a.job);
      update = { status: out.failed ? 'failed' : 'succeeded', ...out.update };
      followUp = out.followUp;
    } catch (err) {
      update = { status: 'failed', error: redactText(describe(err)) };
    }
    try {
      await this.o.beforeFinal?.(a.job);
    } catch (err) {
      this.o.log.error({ job: a.job.id, err: describe(err) }, 'work before the final status failed');
    }
    this.running.delete(a.job.id);
    this.progress.clear(a.job.id);
    if (this.abandoned.has(a.job.id)) return;
    const job = this.o.catalog.updateJob(a.job.id, {
      ...update,
      finished_at: this.o.clock.now().toISOString(),
    });
    a.job = job;
    this.waiters.delete(job.id);
    const fields = { job: job.id, kind: job.kind, source: job.source, status: job.status };
    if (job.status === 'failed') this.o.log.error({ ...fields, err: job.error }, `job failed: ${job.error}`);
    else this.o.log.info({ ...fields, snapshot: job.snapshot ?? undefined }, 'job finished');
    if (followUp && this.accepting) this.submit(followUp);
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

  private interrupt(a: Active, message: string): JobRecord {
    this.abandoned.add(a.job.id);
    this.running.delete(a.job.id);
    this.waiters.delete(a.job.id);
    const job = this.o.catalog.updateJob(a.job.id, {
      status: 'interrupted',
      finished_at: this.o.clock.now().toISOString(),
      error: message,
    });
    a.resolve(job);
    return job;
  }

  private async execute(
    job: JobRecord,
  ): Promise<{ update: JobUpdate; failed?: boolean; followUp?: JobRequest }> {
    const repo = await this.o.openRepository();
    try {
      switch (job.kind) {
        case 'backup':
          return await this.backup(repo, job);
        case 'forget':
          return await this.forget(repo, job);
        case 'prune': {
          const r = await runPrune(repo, {});
          return { update: { result: { ...r } } };
        }
        case 'check': {
          const percent = Number(job.params.read_data_percent ?? 0);
          const r = await runCheck(repo, { readDataPercent: percent });
          const result = { ...r, errors: r.errors.slice(0, 20), warnings: r.warnings.slice(0, 20) };
          if (r.ok) return { update: { result } };
          const more = r.errors.length > 1 ? ` (and ${r.errors.length - 1} more)` : '';
          return { failed: true, update: { result, error: redactText(`${r.errors[0]}${more}`) } };
        }
        case 'restore':
          return await this.restore(repo, job);
        case 'drill': {
          const snapshot = typeof job.params.snapshot === 'string' ? job.params.snapshot : undefined;
          // Loaded here: drills bring the database drivers, which other jobs do without.
          const { drillFailure, runDrills } = await import('../jobs/drill.js');
          const outcomes = await runDrills(repo, {
            source: job.source ?? undefined,
            snapshot,
            configured: this.o.config.sources as Record<string, Record<string, unknown>>,
            lifeboatArgv: this.o.lifeboatArgv,
          });
          const results = outcomes.map(({ id, report }) => ({
            drill: id,
            source: report.source,
            snapshot: report.snapshot,
            passed: report.passed,
            rto_ms: report.rtoMs,
            rpo_ms: report.recovery?.rpoMs,
            checks: report.checks,
          }));
          // One drill: its result as is; a source of several units: one result per unit.
          const result =
            results.length === 1 ? results[0] : { passed: results.every((r) => r.passed), drills: results };
          const failures = outcomes
            .map(({ report }) => {
              const failure = drillFailure(report);
              return failure && (outcomes.length > 1 ? `${report.source}: ${failure}` : failure);
            })
            .filter((f): f is string => Boolean(f));
          if (failures.length === 0) return { update: { result } };
          return { failed: true, update: { result, error: redactText(`[drill] ${failures.join('; ')}`) } };
        }
      }
    } finally {
      await repo.close().catch(() => {});
      await repo.backend.close().catch(() => {});
    }
  }

  private async backup(repo: Repository, job: JobRecord) {
    const name = job.source ?? '';
    const config = this.o.config.sources[name];
    if (!config) {
      return {
        failed: true,
        update: { error: `[backup] no source "${name}" in the config (it may have been removed since)` },
      };
    }
    const tags = Array.isArray(job.params.tags) ? (job.params.tags as string[]) : [];
    const report = await backupSource(repo, {
      name,
      config: config as Record<string, unknown>,
      tags,
      progress: () => this.progress.track(job.id),
    });
    const units = report.saved.map(({ id, snapshot: s }) => ({
      snapshot: id,
      source: s.source,
      bytes_read: s.backup?.bytesRead ?? 0,
      bytes_added: s.backup?.bytesAdded ?? 0,
      duration_ms: s.backup?.durationMs ?? 0,
      ...(s.skippedCount ? { skipped: s.skipped ?? [], skipped_count: s.skippedCount } : {}),
    }));
    // Saved, but not all of it: the result says what is missing, as a warning.
    const skipped = units.reduce((n, u) => n + (u.skipped_count ?? 0), 0);
    const first = units.flatMap((u) => u.skipped ?? [])[0];
    const warning =
      skipped > 0
        ? redactText(
            `[backup] ${skipped} path${skipped === 1 ? '' : 's'} could not be read and ${skipped === 1 ? 'is' : 'are'} not in the snapshot${first ? `: ${first.path} (${first.error})${skipped > 1 ? ', ...' : ''}` : ''}`,
          )
        : undefined;
    const update: JobUpdate = {
      snapshots: units.map((u) => u.snapshot),
      bytes_read: units.reduce((n, u) => n + u.bytes_read, 0),
      bytes_stored: units.reduce((n, u) => n + u.bytes_added, 0),
      result: { status: report.status, units, ...(warning ? { warning } : {}) },
    };
    // A unit or hook that failed fails the job, with what was saved still recorded.
    if (report.failures.length > 0) {
      const [one, ...more] = report.failures;
      const error =
        more.length === 0
          ? one.error.message
          : `[backup] ${report.failures.map((f) => `${f.name}: ${f.error.message}`).join('; ')}`;
      return { failed: true, update: { ...update, error: redactText(error) } };
    }
    const followUp: JobRequest | undefined = hasPolicy(config.retention)
      ? {
          kind: 'forget',
          source: name,
          trigger: 'retention',
          requestedBy: 'server',
          params: { units: [...new Set(units.map((u) => u.source))] },
        }
      : undefined;
    return { update, followUp };
  }

  private async forget(repo: Repository, job: JobRecord) {
    const name = job.source ?? '';
    const policy = this.o.config.sources[name]?.retention as KeepPolicy | undefined;
    if (!hasPolicy(policy)) {
      return { failed: true, update: { error: `[forget] source "${name}" has no retention in the config` } };
    }
    // Each unit of the source keeps its own snapshots under the source's policy.
    const configPolicies: Record<string, KeepPolicy> = { [name]: policy };
    const r = await runForget(repo, { policy: {}, configPolicies, source: name, dryRun: false });
    return {
      update: {
        result: {
          removed: r.removed,
          kept: r.groups.flatMap((g) => g.decisions.filter((d) => d.keep).map((d) => d.entry.id)).length,
          // Snapshots dated ahead of the storage clock: kept, counted by no rule (retention.ts).
          not_counted: r.groups.flatMap((g) => g.decisions.filter((d) => d.ahead).map((d) => d.entry.id)),
        },
      },
    };
  }

  /** `at` on a physical source: base backup plus recovery settings (wal-commands restoreAt). */
  private async restoreToPoint(repo: Repository, job: JobRecord): Promise<Record<string, unknown>> {
    const p = job.params as { source: string; at: string; to: string; dry_run?: boolean };
    // As `restore --at`: the repository and its password source go into the data directory.
    const recovery = pointRestoreCommand(
      this.o.lifeboatArgv ?? selfArgv(),
      p.source,
      this.o.config,
      this.o.env ?? process.env,
    );
    // A dry run writes nothing: it is what lets such a request skip the second admin.
    const r = await restoreToPoint(repo, {
      source: p.source,
      at: p.at,
      to: resolve(p.to),
      ...recovery,
      dryRun: !!p.dry_run,
    });
    return {
      snapshot: r.base.id,
      target: redactText(r.target),
      at: r.at,
      window: { from: r.window.from ?? null, to: r.window.to ?? null },
      dry_run: r.dryRun,
    };
  }

  private async restore(repo: Repository, stored: JobRecord) {
    const secret = this.secretTargets.get(stored.id);
    this.secretTargets.delete(stored.id);
    if (stored.params.target_password_kept === false && secret === undefined) {
      throw new LifeboatError(
        'usage',
        `[jobs] restore ${stored.id}: the password in its target URL is kept in memory only and was lost when the server restarted (request the restore again)`,
      );
    }
    const job = secret === undefined ? stored : { ...stored, params: { ...stored.params, to: secret } };
    const p = job.params as RestoreParams;
    if (!job.approved_by && !p.dry_run && typeof p.to === 'string') {
      // The target was checked when the restore was requested; a symlink made since must not
      // carry an unapproved restore onto a protected source.
      const reason = await restoreApprovalReason(this.o.config.sources, p.source ?? job.source ?? '', p.to);
      if (reason) {
        this.o.catalog.audit.append({
          actor: 'server',
          action: 'restore.denied',
          target: job.id,
          details: { reason, requested_by: job.requested_by, to: redactText(p.to) },
        });
        throw new LifeboatError(
          'forbidden',
          `[jobs] restore ${job.id} was not approved, and ${reason} now (the target changed since the request; request it again, and a second admin approves it)`,
        );
      }
    }
    const actor = job.approved_by ? `${job.requested_by} (approved by ${job.approved_by})` : job.requested_by;
    this.o.catalog.audit.append({
      actor: 'server',
      action: 'restore.start',
      target: job.id,
      details: {
        snapshot: p.snapshot,
        to: p.to ? redactText(p.to) : null,
        ...(p.at ? { at: p.at } : {}),
        requested_by: job.requested_by,
        approved_by: job.approved_by,
      },
    });
    try {
      const result =
        typeof p.at === 'string'
          ? await this.restoreToPoint(repo, job)
          : await this.restoreSnapshot(repo, job);
      this.o.catalog.audit.append({
        actor: 'server',
        action: 'restore.finish',
        target: job.id,
        details: { status: 'succeeded', by: actor, ...result },
      });
      return { update: { snapshots: [], result } };
    } catch (err) {
      const error = redactText(describe(err));
      this.o.catalog.audit.append({
        actor: 'server',
        action: 'restore.finish',
        target: job.id,
        details: { status: 'failed', by: actor, error },
      });
      throw err;
    }
  }

  private async restoreSnapshot(repo: Repository, job: JobRecord): Promise<Record<string, unknown>> {
    const p = job.params as RestoreParams;
    const r = await runRestore(repo, {
      snapshot: p.snapshot,
      source: p.source,
      configured: this.o.config.sources as Record<string, Record<string, unknown>>,
      options: {
        to: p.to,
        include: p.include ?? [],
        tables: p.tables ?? [],
        collections: p.collections ?? [],
        dataOnly: !!p.data_only,
        noPrivileges: !!p.no_privileges,
        devices: !!p.devices,
        overwrite: !!p.overwrite,
        dryRun: !!p.dry_run,
      },
      progress: this.progress.track(job.id),
    });
    return {
      snapshot: r.snapshotId,
      target: redactText(r.target),
      stats: r.stats,
      items: r.items.length,
    };
  }
}

/** A restore job's params (POST /api/restores). A type, not an interface: it is cast from a Record. */
type RestoreParams = {
  snapshot: string;
  source?: string;
  to?: string;
  tables?: string[];
  include?: string[];
  collections?: string[];
  data_only?: boolean;
  no_privileges?: boolean;
  devices?: boolean;
  overwrite?: boolean;
  dry_run?: boolean;
  at?: string;
};

function hasPolicy(p: KeepPolicy | undefined): p is KeepPolicy {
  return !!p && Object.entries(p).some(([k, v]) => (k === 'tags' ? Array.isArray(v) && v.length > 0 : !!v));
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
