/**
 * @module jobs/queue/job-context
 * What a job's runner gets from the queue and gives back: shared by job-runner and the
 * runners it dispatches to (app-jobs), so neither imports the other for its types.
 */
import type { JobUpdate } from '../../catalog/catalog.js';
import type { CatalogStore } from '../../catalog/catalog-store.js';
import type { LifeboatConfig } from '../../config/config.js';
import type { Repository } from '../../repo/repository.js';
import type { JobOrder } from './job-kinds.js';
import type { JobProgressBoard } from './job-progress.js';

/** What the runner needs from whoever runs jobs (the queue). */
export interface JobRunnerContext {
  catalog: CatalogStore;
  config: LifeboatConfig;
  progress: JobProgressBoard;
  /** argv that runs this Lifeboat with the same config (physical drills run `wal-fetch` with it). */
  lifeboatArgv?: string[];
  /** The environment the repository was given in (--repo, --password-file applied); process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** A further repository handle (an app job's parallel lanes); the job closes it. */
  openRepository?: () => Promise<Repository>;
  /**
   * A backup waits this long for the repository lock while other work holds it (a prune
   * without grace on another instance), instead of failing; onWait is told who holds it.
   */
  lockWait?: { waitMs: number; onWait?: (why: string) => void };
}

/** A job to submit after this one; the queue adds who and why. */
export type FollowUp = JobOrder & { source: string | null };

export interface JobOutcome {
  update: JobUpdate;
  failed?: boolean;
  followUp?: FollowUp;
}
