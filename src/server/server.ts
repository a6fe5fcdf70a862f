/**
 * @module server/server
 * `lifeboat serve` as a library: the catalog, a long-lived read-only repository handle for the
 * snapshot cache and health, the job runner, the scheduler (on an injected clock), alerts,
 * metrics and the HTTP API, wired together. Tests create it in-process with a TestClock and
 * drive `tick()`; the CLI creates it with the system clock and a timer.
 */
import { hostname } from 'node:os';
import { type Logger, pino } from 'pino';
import { parseByteSize } from '../byte-size.js';
import type { JobRecord } from '../catalog/catalog.js';
import { syncFromSnapshots } from '../catalog/catalog-rebuild.js';
import type { CatalogStore } from '../catalog/catalog-store.js';
import { type Clock, systemClock } from '../clock.js';
import { type LifeboatConfig, unsetChannels } from '../config/config.js';
import { parseDuration } from '../config/duration.js';
import { describe } from '../errors.js';
import { FleetJobs } from '../jobs/fleet/fleet-jobs.js';
import type { FleetQueueOptions, FleetWorkerStatus } from '../jobs/fleet/fleet-queue.js';
import { FleetSchedule, slotJobId } from '../jobs/fleet/fleet-schedule.js';
import { JobQueue } from '../jobs/queue/job-queue.js';
import { parseSchedule, type Schedule, schedulesOf } from '../jobs/queue/schedule.js';
import {
  firstSeen,
  lastGoodBackups,
  type SourceStatus,
  sourceStatuses,
} from '../jobs/queue/source-status.js';
import { AlertDispatcher, type DispatchReport } from '../notify/alert-dispatcher.js';
import {
  type AlertThresholds,
  DEFAULT_THRESHOLDS,
  evaluateAlerts,
  type FinishedRun,
  type SourceFacts,
} from '../notify/alert-rules.js';
import { createChannel, unsetChannel } from '../notify/channel-registry.js';
import { Repository, type RepositoryOptions } from '../repo/repository.js';
import { runTotals, sourceOfUnit } from '../sources/source-units.js';
import { openBackend, type StorageOptions } from '../storage/registry.js';
import type { ApiContext } from './api-context.js';
import { FailedAuthLimiter } from './auth.js';
import { createHttpApi } from './http-api.js';
import { parseListen } from './listen.js';
import { ServerMetrics, type SourceMetrics } from './metrics.js';
import { Scheduler } from './scheduler.js';
import { SnapshotBrowser } from './snapshot-browse.js';
import { SnapshotCache } from './snapshot-cache.js';

export interface ServerOptions {
  config: LifeboatConfig;
  catalog: CatalogStore;
  /** Where and how to open the repository; `storage` as the CLI builds it (retries, limits, S3 settings). */
  repository: { url: string; password: string; options?: RepositoryOptions; storage?: StorageOptions };
  clock?: Clock;
  /** A timer drives the scheduler (default); tests pass false and call `tick()`. */
  autoSchedule?: boolean;
  log?: Logger;
  /** argv that runs this Lifeboat with the same config; physical drills run `wal-fetch` with it. */
  lifeboatArgv?: string[];
  /** The environment the repository was given in (--repo, --password-file applied); process.env by default. */
  env?: NodeJS.ProcessEnv;
  /**
   * Fleet mode (the catalog is PostgreSQL): the fleet queue's settings. Jobs are dispatched
   * through it, this server's worker runs those its `server.labels` reach, and the schedules
   * are claimed slot by slot across instances (docs/distributed.md).
   */
  fleet?: FleetQueueOptions;
}

const DEFAULT_GRACE_MS = 30_000;
/** Jobs whose end changes the snapshot list (or the drill reports beside it). */
const SNAPSHOT_KINDS: string[] = ['backup', 'forget', 'prune', 'drill', 'app_backup', 'app_drill'];
const DEFAULT_CHECK_PERCENT = 5;
const DEFAULT_REPEAT_MS = 4 * 3_600_000;
const HEALTH_CACHE_MS = 2_000;

export function defaultLogger(level = process.env.LIFEBOAT_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['req.headers.authorization', '*.password', '*.token', '*.secret'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}

export class LifeboatServer implements ApiContext {
  readonly config: LifeboatConfig;
  readonly catalog: CatalogStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly limiter: FailedAuthLimiter;
  readonly runner: JobQueue;
  readonly scheduler: Scheduler;
  /** Fleet mode: the source schedules, claimed once per slot across instances. */
  readonly fleetSchedule: FleetSchedule | undefined;
  readonly snapshots: SnapshotCache;
  readonly browser: SnapshotBrowser;
  readonly metrics: ServerMetrics;
  readonly alerts: AlertDispatcher;
  readonly app: ReturnType<typeof createHttpApi>;
  readonly graceMs: number;
  /** A fresh repository handle; the caller closes it. */
  readonly openRepository: () => Promise<Repository>;
  private readonly thresholds: AlertThresholds;
  private health_: { at: number; ok: boolean; reason: string } = { at: -Infinity, ok: true, reason: 'ok' };
  private lastFree: number | undefined;
  private stopping: Promise<JobRecord[]> | undefined;
  /** Fleet mode: the jobs active, and those recently ended, at the last look; the timer that looks. */
  private fleetActive = new Set<string>();
  private fleetEnded: Set<string> | undefined;
  private fleetWatch: NodeJS.Timeout | undefined;

  private constructor(
    options: ServerOptions,
    private readonly reader: Repository,
    schedules: Map<string, Schedule>,
    readonly fleet: FleetJobs | undefined,
  ) {
    this.config = options.config;
    this.catalog = options.catalog;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? defaultLogger();
    const server = this.config.server ?? {};
    this.graceMs = server.shutdown_grace ? parseDuration(server.shutdown_grace) : DEFAULT_GRACE_MS;
    const a = server.alerts ?? {};
    this.thresholds = {
      ...DEFAULT_THRESHOLDS,
      ...(a.duration_factor !== undefined ? { durationFactor: a.duration_factor } : {}),
      ...(a.size_change_percent !== undefined ? { sizeChangePercent: a.size_change_percent } : {}),
      ...(a.history !== undefined ? { history: a.history } : {}),
      ...(a.min_free_space !== undefined ? { minFreeBytes: parseByteSize(a.min_free_space) } : {}),
    };
    this.limiter = new FailedAuthLimiter(this.clock);
    this.snapshots = new SnapshotCache(reader, {
      onError: (message) => this.log.warn({ err: message }, 'snapshot listing problem'),
    });
    const repoSettings = options.repository;
    const openRepository = async () =>
      Repository.open(await openBackend(repoSettings.url, repoSettings.storage), repoSettings.password, {
        ...repoSettings.options,
        clock: this.clock,
      });
    this.openRepository = openRepository;
    this.browser = new SnapshotBrowser(openRepository, () => this.snapshots.version);
    this.runner = new JobQueue({
      catalog: this.catalog,
      clock: this.clock,
      config: this.config,
      log: this.log,
      concurrency: server.concurrency ?? 2,
      lifeboatArgv: options.lifeboatArgv,
      env: options.env,
      openRepository,
      onFinished: (job) => this.afterJob(job),
      dispatch: fleet?.dispatch,
      // A client that sees a backup (or a drill) finish finds its snapshot (or report) listed.
      beforeFinal: async (job) => {
        if (SNAPSHOT_KINDS.includes(job.kind)) await this.snapshots.refresh();
      },
    });
    this.metrics = new ServerMetrics(
      {
        now: () => this.clock.now(),
        sources: () => this.sourceMetrics(),
        jobsRunning: () => this.runner.runningJobs().length,
        alertsFiring: async () => (await this.catalog.listAlerts('firing')).length,
        snapshots: () => this.snapshots.size,
        freeBytes: () => this.lastFree,
      },
      Object.keys(this.config.sources),
    );
    this.alerts = new AlertDispatcher(
      this.catalog,
      [
        ...(this.config.notifications ?? []).map(createChannel),
        ...unsetChannels(this.config).map((u) => unsetChannel(u.config, u.position, u.error)),
      ],
      this.clock,
      {
        repeatMs: a.repeat ? parseDuration(a.repeat) : DEFAULT_REPEAT_MS,
        origin: { host: hostname(), repository: reader.location, repository_id: reader.config.id },
        log: this.log,
      },
    );
    this.scheduler = new Scheduler(this.clock, { auto: options.autoSchedule ?? true });
    this.fleetSchedule = fleet
      ? new FleetSchedule({
          queue: fleet.queue,
          clock: this.clock,
          instance: `${hostname()}:${process.pid}`,
          auto: options.autoSchedule ?? true,
        })
      : undefined;
    for (const [id, schedule] of schedules) {
      if (this.fleetSchedule) {
        this.fleetSchedule.add({
          id,
          schedule,
          submit: async (slot) => (await this.submitScheduled(id, slotJobId(id, slot))).id,
        });
      } else {
        this.scheduler.add({ id, schedule, run: () => this.scheduled(id) });
      }
    }
    // Alerts (RPO, free space) and the snapshot list are looked at every minute.
    this.scheduler.add({
      id: 'maintenance',
      schedule: parseSchedule('* * * * *', 'maintenance'),
      run: () => this.maintenance(),
    });
    this.app = createHttpApi(this);
  }

  /** Validates the schedules, opens the repository, loads the snapshot list, syncs the catalog. */
  static async create(options: ServerOptions): Promise<LifeboatServer> {
    const schedules = schedulesOf(options.config);
    const reader = await Repository.open(
      await openBackend(options.repository.url, options.repository.storage),
      options.repository.password,
      {
        ...options.repository.options,
        clock: options.clock ?? systemClock,
      },
    );
    const log = options.log ?? defaultLogger();
    let fleet: FleetJobs | undefined;
    try {
      fleet = options.fleet
        ? await FleetJobs.start(options.fleet, {
            config: options.config,
            catalog: options.catalog,
            clock: options.clock ?? systemClock,
            log,
          })
        : undefined;
    } catch (err) {
      await reader.close().catch(() => {});
      await reader.closeStorage().catch(() => {});
      throw err;
    }
    const server = new LifeboatServer({ ...options, log }, reader, schedules, fleet);
    await server.snapshots.refresh();
    // In fleet mode the lease finds jobs whose worker died and runs them again; what the
    // queue never held (a `lifeboat jobs retry` that was killed) is recovered here.
    const recovered = await server.runner.recoverStale(fleet ? (jobs) => fleet.queue.known(jobs) : undefined);
    const rebuilt = await server.syncCatalog();
    const now = server.clock.now();
    for (const name of Object.keys(options.config.sources)) await firstSeen(server.catalog, name, now);
    server.log.info(
      { snapshots: server.snapshots.size, rebuilt, recovered, catalog: server.catalog.location },
      `catalog ready: ${server.snapshots.size} snapshots, ${rebuilt} jobs rebuilt from the repository, ${recovered} interrupted jobs recovered`,
    );
    return server;
  }

  get repositoryLocation(): string {
    return this.reader.location;
  }

  /** Starts the scheduler and listens; resolves with the address. */
  async start(listen: string): Promise<string> {
    const { host, port } = parseListen(listen);
    this.scheduler.start();
    this.fleetSchedule?.start();
    await this.fleet?.work(
      this.runner,
      this.config.server?.labels ?? {},
      this.config.server?.concurrency ?? 2,
    );
    if (this.fleet) {
      const every = (this.fleet.queue.options.pollSeconds ?? 2) * 1000;
      this.fleetWatch = setInterval(() => void this.watchFleetJobs(), every);
      this.fleetWatch.unref();
    }
    const address = await this.app.listen({ host, port });
    await this.catalog.audit.append({
      actor: 'server',
      action: 'server.start',
      target: null,
      details: { listen: address, pid: process.pid },
    });
    void this.maintenance();
    return address;
  }

  /** Starts only the scheduler (tests that use `app.inject`). */
  startScheduler(): void {
    this.scheduler.start();
    this.fleetSchedule?.start();
  }

  /** Fires what is due now (tests drive a TestClock and call this). */
  tick(): string[] {
    return this.scheduler.tick();
  }

  /**
   * Stops scheduling, lets running jobs finish within the grace period (marking the rest
   * interrupted), then closes the HTTP server, the catalog and the repository.
   */
  stop(graceMs = this.graceMs, reason = 'the server stopped'): Promise<JobRecord[]> {
    this.stopping ??= (async () => {
      this.scheduler.stop();
      if (this.fleetWatch) clearInterval(this.fleetWatch);
      await this.fleetSchedule?.stop();
      // Fleet mode: the worker takes nothing more; what it runs is interrupted after the grace
      // and handed back to the queue, which runs it again elsewhere.
      const [interrupted] = await Promise.all([
        this.runner.drain(graceMs, reason),
        this.fleet?.stopWorking(graceMs + 5_000),
      ]);
      await this.fleet?.close();
      await this.app.close().catch(() => {});
      try {
        await this.catalog.audit.append({
          actor: 'server',
          action: 'server.stop',
          target: null,
          details: { reason, interrupted: interrupted.map((j) => j.id) },
        });
      } catch {}
      this.alerts.close();
      await this.browser.close();
      await this.reader.close().catch(() => {});
      await this.reader.closeStorage().catch(() => {});
      return interrupted;
    })();
    return this.stopping;
  }

  async sourceStatuses(): Promise<SourceStatus[]> {
    return sourceStatuses({
      config: this.config,
      snapshots: this.snapshots.entries(),
      catalog: this.catalog,
      now: this.clock.now(),
      running: [
        ...this.runner.runningJobs(),
        ...(await this.catalog.activeJobs()).filter((j) => j.status === 'running'),
      ],
      nextRun: (name) => (this.fleetSchedule ?? this.scheduler).nextRun(`backup:${name}`),
    });
  }

  /** The overview's workers: fleet mode lists every worker with a live heartbeat. */
  async workers(): Promise<{ mode: 'single' | 'fleet'; workers: FleetWorkerStatus[] }> {
    if (!this.fleet) return { mode: 'single', workers: [] };
    return { mode: 'fleet', workers: await this.fleet.workers() };
  }

  async health(): Promise<{ ok: boolean; checks: Record<string, string>; reasons: string[] }> {
    const checks: Record<string, string> = {};
    const reasons: string[] = [];
    try {
      await this.catalog.ping();
      checks.catalog = 'ok';
    } catch (err) {
      checks.catalog = `unavailable: ${describe(err)}`;
      reasons.push(`catalog: ${describe(err)}`);
    }
    const repo = await this.repositoryHealth();
    checks.repository = repo.reason;
    if (!repo.ok) reasons.push(`repository: ${repo.reason}`);
    const sched = this.scheduler.health();
    checks.scheduler = sched.ok ? (sched.reason ?? 'ok') : (sched.reason ?? 'not running');
    if (!sched.ok) reasons.push(`scheduler: ${sched.reason}`);
    if (this.fleetSchedule && this.fleet) {
      const fs = this.fleetSchedule.health();
      const fq = this.fleet.health();
      checks.fleet = !fs.ok ? (fs.reason ?? 'not running') : (fs.reason ?? fq.reason ?? 'ok');
      if (!fs.ok) reasons.push(`fleet: ${fs.reason}`);
    }
    return { ok: reasons.length === 0, checks, reasons };
  }

  /** Looks at what holds now and sends, repeats or resolves alerts. */
  async evaluateAlerts(): Promise<DispatchReport> {
    const now = this.clock.now();
    const last = this.lastGood();
    const sources: SourceFacts[] = [];
    for (const [name, s] of Object.entries(this.config.sources)) {
      sources.push({
        name,
        maxAgeMs: s.max_age ? parseDuration(s.max_age) : undefined,
        lastSuccess: lastTime(last.get(name)?.run),
        watchedSince: await firstSeen(this.catalog, name, now),
        // Runs that saved other units are skipped by the rules: read a few more than needed.
        recent: (await this.catalog.recentBackups(name, 4 * (this.thresholds.history + 1))).map(toRun),
        lastDrill: lastRun(await this.catalog.lastFinished('drill', name)),
      });
    }
    this.lastFree = await this.reader.freeSpace().catch(() => undefined);
    const check = await this.catalog.lastFinished('check', null);
    const conditions = evaluateAlerts({
      now,
      sources,
      freeSpace:
        this.lastFree === undefined ? undefined : { bytes: this.lastFree, location: this.reader.location },
      lastCheck: check ? toRun(check) : undefined,
      thresholds: this.thresholds,
    });
    return this.alerts.reconcile(conditions);
  }

  // ---- internals ---------------------------------------------------------------------

  private async scheduled(id: string): Promise<void> {
    try {
      await this.submitScheduled(id);
    } catch (err) {
      this.log.warn({ task: id, err: describe(err) }, 'scheduled job not started');
    }
  }

  /** Records (and starts or dispatches) the job of a schedule's slot; `jobId` names it (fleet). */
  private submitScheduled(id: string, jobId?: string): Promise<JobRecord> {
    const [kind, source] = id.split(':') as [string, string | undefined];
    const base = {
      source: source ?? null,
      trigger: 'schedule',
      requestedBy: 'scheduler',
      ...(jobId ? { id: jobId } : {}),
    } as const;
    if (kind === 'backup') return this.runner.submit({ ...base, kind: 'backup' });
    if (kind === 'drill') return this.runner.submit({ ...base, kind: 'drill', params: {} });
    if (kind === 'prune') {
      // The grace it runs with is recorded in the job (a retry keeps it).
      const grace = this.config.repository?.prune_grace;
      return this.runner.submit({
        ...base,
        kind: 'prune',
        source: null,
        params: grace === undefined ? {} : { grace },
      });
    }
    if (kind === 'check') {
      return this.runner.submit({
        ...base,
        kind: 'check',
        source: null,
        params: { read_data_percent: checkPercent(this.config) },
      });
    }
    return Promise.reject(new Error(`unknown scheduled task ${id}`));
  }

  /**
   * Fleet mode: a job that ended on another instance may have written or removed snapshots;
   * the snapshot list is refreshed then, so this instance's API shows them (and resolves
   * `latest`) as soon as the job shows finished, not at the next minute's maintenance.
   */
  private async watchFleetJobs(): Promise<void> {
    try {
      const active = new Set((await this.catalog.activeJobs()).map((j) => j.id));
      // Also jobs that started and ended between two looks (created in the last 10 minutes).
      const since = new Date(this.clock.now().getTime() - 600_000).toISOString();
      const ended = new Set(
        (await this.catalog.listJobs({ since, limit: 500 }))
          .filter((j) => j.finished_at && SNAPSHOT_KINDS.includes(j.kind))
          .map((j) => j.id),
      );
      const changed =
        [...this.fleetActive].some((id) => !active.has(id)) ||
        (this.fleetEnded !== undefined && [...ended].some((id) => !this.fleetEnded?.has(id)));
      this.fleetActive = active;
      this.fleetEnded = ended;
      if (changed) await this.snapshots.refresh();
    } catch (err) {
      this.log.warn({ err: describe(err) }, 'fleet: looking for finished jobs failed');
    }
  }

  private async maintenance(): Promise<void> {
    try {
      await this.snapshots.refresh();
      await this.syncCatalog();
      await this.evaluateAlerts();
    } catch (err) {
      this.log.error({ err: describe(err) }, 'maintenance failed');
    }
  }

  /** Rebuilt jobs for snapshots the catalog does not know, except of sources backing up now. */
  private async syncCatalog(): Promise<number> {
    const busy = new Set((await this.catalog.activeJobs()).map((j) => j.source));
    const entries = this.snapshots.entries().filter((e) => !busy.has(sourceOfUnit(e.snapshot.source)));
    return syncFromSnapshots(this.catalog, entries);
  }

  private async afterJob(job: JobRecord): Promise<void> {
    if (job.kind === 'backup' && job.status === 'failed' && job.source) this.metrics.backupFailed(job.source);
    // The snapshot list was refreshed before the final status (beforeFinal).
    if (job.status !== 'skipped') await this.evaluateAlerts();
  }

  /** Per source, the newest run that saved every unit (from the snapshot list, memoized). */
  private lastGood() {
    return this.snapshots.memo('last-good-by-source', () => lastGoodBackups(this.snapshots.entries()));
  }

  /** The newest whole backup of each source, its units summed (docs/server.md, "Metrics"). */
  private sourceMetrics(): SourceMetrics[] {
    const last = this.lastGood();
    return Object.entries(this.config.sources).map(([name, s]) => {
      const run = last.get(name)?.run;
      const totals = run && runTotals(run);
      return {
        name,
        lastSuccess: lastTime(run),
        lastDurationSeconds: totals && totals.durationMs / 1000,
        lastBytesRead: totals?.bytesRead,
        lastBytesStored: totals?.bytesAdded,
        maxAgeSeconds: s.max_age ? parseDuration(s.max_age) / 1000 : undefined,
      };
    });
  }

  private async repositoryHealth(): Promise<{ ok: boolean; reason: string }> {
    const now = performance.now();
    // Only a good answer is reused: a recovered repository shows at once.
    if (this.health_.ok && now - this.health_.at < HEALTH_CACHE_MS) return this.health_;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer within 5s')), 5_000);
    });
    try {
      await Promise.race([this.reader.probeStorage(), timeout]);
      this.health_ = { at: now, ok: true, reason: 'ok' };
    } catch (err) {
      this.health_ = {
        at: now,
        ok: false,
        reason: `unreachable at ${this.reader.location}: ${describe(err)}`,
      };
    } finally {
      clearTimeout(timer);
    }
    return this.health_;
  }
}

export function checkPercent(config: LifeboatConfig): number {
  const v = config.server?.check_subset;
  if (v === undefined) return DEFAULT_CHECK_PERCENT;
  return typeof v === 'number' ? v : Number(v.replace(/%$/, ''));
}

function lastTime(run: { time: string } | undefined): Date | undefined {
  return run ? new Date(run.time) : undefined;
}

function lastRun(job: JobRecord | undefined): FinishedRun | undefined {
  return job ? toRun(job) : undefined;
}

function toRun(job: JobRecord): FinishedRun {
  const started = new Date(job.started_at ?? job.created_at);
  const durationMs = job.finished_at ? new Date(job.finished_at).getTime() - started.getTime() : null;
  return {
    id: job.id,
    status: job.status === 'succeeded' ? 'succeeded' : 'failed',
    startedAt: started,
    durationMs,
    bytesRead: job.bytes_read,
    error: job.error,
    units: unitsOfJob(job),
  };
}

/** The units a backup job saved: the server's per-unit result, or a rebuilt job's params. */
function unitsOfJob(job: JobRecord): string[] | undefined {
  const result = job.result?.units;
  const units = Array.isArray(result)
    ? result.map((u) => String((u as { source?: unknown }).source))
    : Array.isArray(job.params.units)
      ? job.params.units.map(String)
      : typeof job.params.unit === 'string'
        ? [job.params.unit]
        : undefined;
  return units?.sort();
}
