/**
 * @module jobs/queue/public-job
 * A job as the API and `lifeboat jobs --json` show it: parameters, results and errors
 * without secrets, plus its duration.
 */
import type { JobRecord } from '../../catalog/catalog.js';
import { redactSettings, redactText } from './redact.js';

/** A job as the API shows it: parameters and errors without secrets. */
export function publicJob(job: JobRecord): Record<string, unknown> {
  // Progress is added for running jobs only, live or stored (server/routes/jobs-routes).
  const { owner: _owner, progress: _progress, ...rest } = job;
  const duration =
    job.started_at && job.finished_at
      ? (new Date(job.finished_at).getTime() - new Date(job.started_at).getTime()) / 1000
      : null;
  return {
    ...rest,
    duration_seconds: duration,
    params: redactSettings(job.params),
    error: job.error === null ? null : redactText(job.error),
    result: job.result === null ? null : redactSettings(job.result),
  };
}
