/**
 * @module daemon/worker-daemon
 * `lifeboat worker` as a process: a fleet worker (jobs/fleet/fleet-jobs) that runs the jobs its
 * labels reach and nothing else: no HTTP, no schedules. Jobs run with the same code as in
 * `lifeboat serve` (jobs/queue/job-queue), against the shared PostgreSQL catalog. A worker
 * whose repository password is write-only takes backups only (docs/distributed.md).
 */
import { hostname } from 'node:os';
import type { CatalogStore } from '../catalog/catalog-store.js';
import { systemClock } from '../clock.js';
import type { LifeboatConfig } from '../config/config.js';
import { parseDuration } from '../config/duration.js';
import { describe } from '../errors.js';
import type { FleetQueueOptions, Labels } from '../jobs/fleet/fleet-queue.js';
import { labelsText } from '../jobs/fleet/fleet-settings.js';
import { releaseAllLocks } from '../repo/lock.js';
import { Repository, type RepositoryOptions } from '../repo/repository.js';
import { openBackend, type StorageOptions } from '../storage/registry.js';

export interface WorkerOptions {
  config: LifeboatConfig;
  /** The PostgreSQL catalog; closed when the worker stops. */
  catalog: CatalogStore;
  fleet: FleetQueueOptions;
  labels: Labels;
  concurrency: number;
  repository: { url: string; password: string; options?: RepositoryOptions; storage?: StorageOptions };
  logLevel?: string;
  lifeboatArgv?: string[];
  env?: NodeJS.ProcessEnv;
  print: (line: string) => void;
}

const DEFAULT_GRACE_MS = 30_000;

/**
 * Runs the worker until SIGTERM or SIGINT; then running jobs get the shutdown grace, the rest
 * are interrupted and handed back to the queue (another worker runs them), and it exits 0.
 */
export async function runWorker(o: WorkerOptions): Promise<never> {
  const { pino } = await import('pino');
  const log = pino(
    { level: o.logLevel ?? process.env.LIFEBOAT_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
    pino.destination(2),
  );
  const { FleetJobs } = await import('../jobs/fleet/fleet-jobs.js');
  const { JobQueue } = await import('../jobs/queue/job-queue.js');
  const repo = o.repository;
  const openRepository = async () =>
    Repository.open(await openBackend(repo.url, repo.storage), repo.password, {
      ...repo.options,
      clock: systemClock,
    });
  // Opened once now: a wrong password fails here, and the key's role decides what it takes.
  const writeOnly = await openRepository().then(async (r) => {
    await r.close().catch(() => {});
    await r.closeStorage().catch(() => {});
    return r.writeOnly;
  });
  const fleet = await FleetJobs.start(o.fleet, {
    config: o.config,
    catalog: o.catalog,
    clock: systemClock,
    log,
  });
  const runner = new JobQueue({
    catalog: o.catalog,
    clock: systemClock,
    config: o.config,
    log,
    concurrency: o.concurrency,
    lifeboatArgv: o.lifeboatArgv,
    env: o.env,
    openRepository,
    dispatch: fleet.dispatch,
  });
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve(s));
  });
  const name = `${hostname()}:${process.pid}`;
  await fleet.work(runner, o.labels, o.concurrency, name, writeOnly);
  o.print(
    `lifeboat: worker ${name} running (labels ${labelsText(o.labels)}, concurrency ${o.concurrency}${writeOnly ? ', backups only: the repository key is write-only' : ''}, catalog ${o.catalog.location})`,
  );
  const got = await signal;
  const graceMs = o.config.server?.shutdown_grace
    ? parseDuration(o.config.server.shutdown_grace)
    : DEFAULT_GRACE_MS;
  log.info({ signal: got, grace_ms: graceMs }, `${got}: finishing running jobs (up to ${graceMs / 1000}s)`);
  for (const s of ['SIGTERM', 'SIGINT'] as const) {
    process.once(s, () => {
      void releaseAllLocks().finally(() => process.exit(1));
    });
  }
  const [interrupted] = await Promise.all([
    runner.drain(graceMs, `the worker got ${got}`),
    fleet.stopWorking(graceMs + 5_000),
  ]);
  await fleet.close().catch((err) => log.warn({ err: describe(err) }, 'closing the fleet queue failed'));
  await releaseAllLocks();
  await o.catalog.close();
  const note = interrupted.length
    ? `; interrupted and handed back to the queue: ${interrupted.map((j) => `${j.kind} ${j.id.slice(0, 8)}`).join(', ')}`
    : '';
  log.info({ interrupted: interrupted.map((j) => j.id) }, `stopped${note}`);
  o.print(`lifeboat: worker stopped${note}`);
  log.flush();
  process.exit(0);
}
