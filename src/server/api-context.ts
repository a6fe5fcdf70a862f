/**
 * @module server/api-context
 * What the routes and services of the HTTP API need from the server (LifeboatServer is it),
 * and who calls.
 */
import type { Logger } from 'pino';
import type { CatalogStore } from '../catalog/catalog-store.js';
import type { Role, TokenLabels } from '../catalog/tokens.js';
import type { Clock } from '../clock.js';
import type { LifeboatConfig } from '../config/config.js';
import type { ConfiguredSource } from '../config/config-schema.js';
import type { FleetJobs } from '../jobs/fleet/fleet-jobs.js';
import type { FleetWorkerStatus } from '../jobs/fleet/fleet-queue.js';
import type { JobQueue } from '../jobs/queue/job-queue.js';
import type { SourceStatus } from '../jobs/queue/source-status.js';
import type { Repository } from '../repo/repository.js';
import type { FailedAuthLimiter } from './auth.js';
import type { ServerMetrics } from './metrics.js';
import type { SnapshotBrowser } from './snapshot-browse.js';
import type { SnapshotCache } from './snapshot-cache.js';

/** What the routes need from the server. */
export interface ApiContext {
  config: LifeboatConfig;
  catalog: CatalogStore;
  /** The job queue. */
  runner: JobQueue;
  snapshots: SnapshotCache;
  /** Reads snapshot trees, files and drill reports for the dashboard. */
  browser: SnapshotBrowser;
  metrics: ServerMetrics;
  limiter: FailedAuthLimiter;
  clock: Clock;
  /** A fresh repository handle (an app restore's plan reads the targets); the caller closes it. */
  openRepository(): Promise<Repository>;
  /** Where the repository is, credentials removed. */
  repositoryLocation: string;
  sourceStatuses(): Promise<SourceStatus[]>;
  health(): Promise<{ ok: boolean; checks: Record<string, string>; reasons: string[] }>;
  /** Fleet mode's workers; a single server: mode `single`, none. */
  workers(): Promise<{ mode: 'single' | 'fleet'; workers: FleetWorkerStatus[] }>;
  /** Fleet mode's queue (the remote workers' routes run its steps); none on a single server. */
  fleet?: FleetJobs;
  log: Logger;
}

/** Who calls: the token's name and role (set by the auth hook). */
export interface Caller {
  name: string;
  role: Role;
  /** A worker token's labels (what its worker may claim); null for the other roles. */
  labels: TokenLabels | null;
}

/** A configured source by name, an own key only (`constructor` is no source). */
export function sourceConfig(ctx: ApiContext, name: string): ConfiguredSource | undefined {
  return Object.hasOwn(ctx.config.sources, name) ? ctx.config.sources[name] : undefined;
}
