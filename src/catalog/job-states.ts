/**
 * @module catalog/job-states
 * The job kinds, statuses and triggers the catalog records, as plain constants: no Node.js
 * imports, so the job params schemas and the API's schemas (which the dashboard's types
 * come from) can use them.
 */
export const JOB_KINDS = [
  'backup',
  'restore',
  'forget',
  'prune',
  'check',
  'drill',
  'app_backup',
  'app_restore',
  'app_drill',
] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATUSES = [
  'queued',
  'awaiting_approval',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'interrupted',
  'rejected',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses a job does not leave. */
export const FINAL_STATUSES: readonly JobStatus[] = [
  'succeeded',
  'failed',
  'skipped',
  'interrupted',
  'rejected',
];

/** schedule: the server's scheduler; api: an HTTP call; cli: a command; retry: `jobs retry`;
 * retention: the forget that follows a backup; rebuilt: synthesized from a snapshot. */
export const JOB_TRIGGERS = ['schedule', 'api', 'cli', 'retry', 'retention', 'rebuilt'] as const;
export type JobTrigger = (typeof JOB_TRIGGERS)[number];
