/**
 * @module jobs/fleet/fleet-jobs
 * Fleet mode: the job queue (jobs/queue/job-queue) of `lifeboat serve` or `lifeboat worker`
 * wired to the fleet queue (jobs/fleet/fleet-queue) when the catalog is PostgreSQL. A job is
 * recorded in the shared catalog, dispatched to its source's fleet queue with its source's
 * `runs_on` labels, and run by whichever worker carrying those labels takes it, with the
 * same execution code as a single server (`JobQueue.runDispatched`). A worker that dies is
 * found out by the lease and its job runs again elsewhere (same catalog job, new owner); a
 * job whose retries are used up is recorded failed here, by whichever instance notices first.
 */
import type { JobRecord } from '../../catalog/catalog.js';
import type { CatalogStore } from '../../catalog/catalog-store.js';
import type { JobKind } from '../../catalog/job-states.js';
import type { Clock } from '../../clock.js';
import type { LifeboatConfig } from '../../config/config.js';
import { describe, LifeboatError } from '../../errors.js';
import type { Log } from '../../notify/alert-dispatcher.js';
import type { JobQueue } from '../queue/job-queue.js';
import {
  type FleetHandler,
  FleetQueue,
  type FleetQueueOptions,
  type FleetWorker,
  type FleetWorkerStatus,
  type Labels,
  labelsMatch,
} from './fleet-queue.js';
import { labelsText } from './fleet-settings.js';

/**
 * The job kinds a write-only key can run: they add snapshots and read nothing back (a backup
 * with such a key has no parent snapshot to compare with). Forget, prune, check, drill and
 * restore need a full key.
 */
export const WRITE_ONLY_KINDS: readonly JobKind[] = ['backup', 'app_backup'];

export interface FleetJobsOptions {
  config: LifeboatConfig;
  catalog: CatalogStore;
  clock: Clock;
  log: Log;
}

/**
 * A fleet job's handler: runs the catalog job it names with `runner` (the same execution code
 * as a single server). Used by the workers that hold the catalog and by the remote ones
 * (jobs/fleet/remote-worker), whose `catalog` asks a serve instance.
 */
export function runFleetJob(catalog: Pick<CatalogStore, 'getJob'>, runner: JobQueue, log: Log): FleetHandler {
  return async (fleetJob, run) => {
    const job = await catalog.getJob(fleetJob.id);
    if (!job) {
      log.warn({ job: fleetJob.id }, 'a fleet job names no job in the catalog; dropped');
      return;
    }
    // Ended already: an earlier attempt recorded its end and died before telling the queue.
    if (!['queued', 'running', 'interrupted'].includes(job.status)) return;
    if (run.attempt > 0) {
      log.info({ job: job.id, attempt: run.attempt }, 'running a job again: its worker stopped answering');
    }
    const done = await runner.runDispatched(job);
    // Stopped here before it finished: the queue hands it on (after the lease).
    if (done.status === 'interrupted') throw new LifeboatError('unavailable', `[fleet] ${done.error}`);
  };
}

export class FleetJobs {
  private worker: FleetWorker | undefined;
  private reconciler: NodeJS.Timeout | undefined;
  private reconciling = false;

  private constructor(
    readonly queue: FleetQueue,
    private readonly o: FleetJobsOptions,
  ) {}

  /** Connects to the fleet queue and starts looking for given-up jobs to record as failed. */
  static async start(queueOptions: FleetQueueOptions, o: FleetJobsOptions): Promise<FleetJobs> {
    const fleet = new FleetJobs(await FleetQueue.start(queueOptions), o);
    fleet.reconciler = setInterval(
      () => void fleet.reconcile(),
      Math.max(1000, fleet.queue.leaseSeconds * 500),
    );
    fleet.reconciler.unref();
    return fleet;
  }

  /** The labels a source's jobs ask for (`runs_on`); none for repository jobs. */
  labelsOf(source: string | null): Labels {
    if (!source || !Object.hasOwn(this.o.config.sources, source)) return {};
    return this.o.config.sources[source].runs_on ?? {};
  }

  /** The job queue's `dispatch`: a recorded job goes to its source's fleet queue. */
  readonly dispatch = async (job: JobRecord): Promise<void> => {
    const labels = this.labelsOf(job.source);
    const id = await this.queue.dispatch({ id: job.id, kind: job.kind, source: job.source, labels });
    if (!id) throw new LifeboatError('conflict', `[fleet] the queue refused job ${job.id} as a duplicate`);
    await this.warnIfNoWorker(job, labels);
  };

  /** Says so in the log when no live worker takes the job (its labels or kind): it waits queued. */
  private async warnIfNoWorker(job: JobRecord, labels: Labels): Promise<void> {
    try {
      const workers = await this.queue.workers();
      const able = workers.some(
        (w) => labelsMatch(labels, w.labels) && (!w.kinds || w.kinds.includes(job.kind)),
      );
      if (able) return;
      this.o.log.warn(
        { job: job.id, kind: job.kind, source: job.source, labels },
        `no live worker takes this ${job.kind} job (labels ${labelsText(labels)}${WRITE_ONLY_KINDS.includes(job.kind) ? '' : ', a full repository key'}): it waits queued until one starts`,
      );
    } catch (err) {
      this.queue.noteError(err);
    }
  }

  /**
   * Starts this process's worker: it runs the jobs its labels reach through `runner`; with
   * `writeOnly` (its repository key is write-only), only those of WRITE_ONLY_KINDS.
   */
  async work(
    runner: JobQueue,
    labels: Labels,
    concurrency: number,
    name?: string,
    writeOnly = false,
  ): Promise<void> {
    this.worker = await this.queue.work(labels, runFleetJob(this.o.catalog, runner, this.o.log), {
      concurrency,
      ...(name ? { name } : {}),
      ...(writeOnly ? { kinds: WRITE_ONLY_KINDS } : {}),
    });
  }

  /** The overview's list of workers with a live heartbeat. */
  workers(): Promise<FleetWorkerStatus[]> {
    return this.queue.workers();
  }

  health(): { ok: boolean; reason?: string } {
    return this.queue.health();
  }

  /** Takes no more jobs; running ones get `graceMs` to finish (the rest are left to the lease). */
  async stopWorking(graceMs: number): Promise<void> {
    await this.worker?.stop(graceMs);
  }

  async close(): Promise<void> {
    if (this.reconciler) clearInterval(this.reconciler);
    this.reconciler = undefined;
    await this.queue.stop(0);
  }

  /** Records as failed the catalog jobs whose fleet jobs were given up (retries used up). */
  private async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      const active = await this.o.catalog.activeJobs();
      const given = await this.queue.givenUp(active);
      for (const [id, error] of given) {
        const job = await this.o.catalog.updateJob(id, {
          status: 'failed',
          finished_at: this.o.clock.now().toISOString(),
          error: `the job did not finish after its retries: ${error}`,
        });
        this.o.log.error(
          { job: id, kind: job.kind, source: job.source, err: job.error },
          `job failed: ${job.error}`,
        );
      }
    } catch (err) {
      this.queue.noteError(err);
      this.o.log.warn({ err: describe(err) }, 'fleet: looking for given-up jobs failed');
    } finally {
      this.reconciling = false;
    }
  }
}
