/**
 * @module server/api-schemas
 * What the HTTP API accepts and answers, as zod schemas: the routes (server/routes) name them
 * in their specs, requests are validated with them centrally (a 400 names the bad field), the
 * OpenAPI document is generated from them, and the dashboard's types are inferred from them
 * (the types at the end; web/src/api.ts imports them type-only), so none of the three can
 * drift from the others. No Node.js imports here: the dashboard's type check reads this file.
 */
import { z } from 'zod';
import { JOB_KINDS, JOB_STATUSES, JOB_TRIGGERS } from '../catalog/job-states.js';
import { recoveryTargetText, restoreScopeFields } from '../jobs/queue/job-kinds.js';

const isoTime = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'expected an ISO 8601 time such as 2026-01-01T00:00:00Z');
const limit = (max: number) => z.coerce.number().int().min(1).max(max);

// ---- requests ----------------------------------------------------------------------------

export const jobParams = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/, 'expected a job id (16 hex characters)'),
});

export const snapshotsQuery = z.strictObject({
  source: z.string().min(1).optional().describe('only this source (and its units)'),
  tag: z.string().min(1).optional().describe('only snapshots with this tag'),
  before: isoTime.optional().describe('only snapshots taken before this time'),
  after: isoTime.optional().describe('only snapshots taken after this time'),
  limit: limit(1000).optional().describe('page size, newest first; default 100'),
  offset: z.coerce.number().int().min(0).optional().describe('snapshots to skip; default 0'),
});

export const jobsQuery = z.strictObject({
  source: z.string().min(1).optional(),
  status: z.enum(JOB_STATUSES).optional(),
  kind: z.enum(JOB_KINDS).optional(),
  since: isoTime.optional().describe('jobs created at or after this time'),
  before: isoTime.optional().describe('jobs created before this time'),
  limit: limit(1000).optional().describe('default 100'),
});

export const snapshotParams = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{8,64}$/, 'expected a snapshot id or a prefix of 8+ hex characters'),
});

export const treeQuery = z.strictObject({
  path: z.string().optional().describe('a folder inside the snapshot, "a/b"; default: the root'),
  limit: limit(10_000).optional().describe('entries per page, in tree order; default 1000'),
  offset: z.coerce.number().int().min(0).optional().describe('entries to skip; default 0'),
});

export const fileQuery = z.strictObject({
  path: z.string().min(1).describe('a file inside the snapshot, "a/b/c.txt"'),
});

export const drillsQuery = z.strictObject({
  source: z.string().min(1).optional().describe('only drills of this source'),
  limit: limit(1000).optional().describe('newest first; default 100'),
});

export const alertsQuery = z.strictObject({
  state: z.enum(['firing', 'resolved']).optional(),
});

export const statsQuery = z.strictObject({
  source: z.string().min(1).optional().describe('only this source'),
  since: isoTime.optional().describe('from this time; default: 30 days ago'),
});

export const auditQuery = z.strictObject({
  since: isoTime.optional(),
  action: z.string().min(1).optional().describe('an action (restore.approve) or a prefix (restore)'),
  limit: limit(1000).optional().describe('default 100'),
  verify: z.enum(['true', 'false']).optional().describe('also verify the hash chain'),
});

export const drillRequest = z.strictObject({
  /** Snapshot id or prefix; default: the latest of the source. */
  snapshot: z.string().min(1).optional(),
});

export const rejectRequest = z.strictObject({
  reason: z.string().min(1).max(500).optional().describe('why, recorded in the job and the audit log'),
});

export const backupRequest = z.strictObject({
  tags: z
    .array(z.string().regex(/^[^\s,]{1,64}$/, 'expected a tag (no spaces or commas, at most 64 characters)'))
    .max(20)
    .optional(),
});

// The fields in the order a 400 lists them as allowed (and the document shows them).
const { tables, include, collections, ...scopeFlags } = restoreScopeFields;

export const restoreRequest = z.strictObject({
  snapshot: z.string().min(1).describe('an id, a unique prefix of 8+ hex characters, or "latest"'),
  source: z
    .string()
    .min(1)
    .optional()
    .describe('the source whose snapshot to restore (needed with "latest")'),
  to: z.string().min(1).describe('where to restore: a path or URL'),
  // What part of the snapshot: declared once, in jobs/queue/job-kinds (restore scope).
  tables,
  include,
  collections,
  at: recoveryTargetText
    .optional()
    .describe(
      'point in time for a PostgreSQL physical source: an ISO time, "latest", "name:POINT", "lsn:X/Y" or "xid:N"; needs source and snapshot "latest"',
    ),
  ...scopeFlags,
  overwrite: z.boolean().optional(),
  dry_run: z.boolean().optional(),
});

// ---- applications (config `apps:`) ----------------------------------------------------------

export const appParams = z.strictObject({ name: z.string().min(1) });

export const pointsQuery = z.strictObject({
  before: isoTime.optional().describe('only points that started before this time'),
});

export const appRestoreRequest = z.strictObject({
  point: z
    .string()
    .min(1)
    .optional()
    .describe('a recovery point id, a unique prefix, or "latest" (the newest complete point); or'),
  at: isoTime.optional().describe('a time: each source recovers to it, or to its newest backup before it'),
  env: z.string().min(1).describe('the environment of the app to restore into'),
  only: z.array(z.string().min(1)).optional().describe('only these sources of the app'),
  verify: z
    .boolean()
    .optional()
    .describe(
      'start PostgreSQL on each data directory recovered to a point in time and check it reached it (default true)',
    ),
});

export const appDrillRequest = z.strictObject({
  point: z.string().min(1).optional().describe('a point id or prefix; default: the newest complete point'),
});

// ---- responses (for the document) --------------------------------------------------------

export const errorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    field: z.string().optional().describe('the request field at fault (400)'),
  }),
});

export const jobResponse = z.object({
  id: z.string(),
  kind: z.enum(JOB_KINDS),
  source: z.string().nullable(),
  trigger: z.enum(JOB_TRIGGERS),
  status: z.enum(JOB_STATUSES),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  duration_seconds: z.number().nullable(),
  bytes_read: z.number().nullable(),
  bytes_stored: z.number().nullable(),
  snapshot: z.string().nullable(),
  snapshots: z.array(z.string()),
  error: z.string().nullable(),
  requested_by: z.string().nullable(),
  approved_by: z.string().nullable(),
  params: z.record(z.string(), z.unknown()),
  result: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe(
      'what came out; a backup: status (ok, partial, failed), units (snapshot, bytes, and skipped and skipped_count when paths could not be read), warning naming what was left out',
    ),
  rebuilt: z.boolean(),
  retry_of: z.string().nullable(),
  progress: z
    .object({
      phase: z.string(),
      files_done: z.number(),
      files_total: z.number().nullable(),
      bytes_done: z.number(),
      bytes_processed_unchanged: z.number().describe('of bytes_done: unchanged data, not read again'),
      bytes_total: z.number().nullable(),
      total_is_estimate: z.boolean().describe('the total is from a scan still under way'),
      percent: z.number().nullable().describe('of the current phase, 0..100'),
      eta_seconds: z.number().nullable().describe('seconds left at the rate so far'),
      elapsed_seconds: z.number(),
      phases_done: z.number(),
      updated_at: z.string(),
    })
    .nullable()
    .optional()
    .describe(
      'running jobs: live progress (in a fleet, as the instance running it last stored it, about every 2 s)',
    ),
});

export const treeResponse = z.object({
  snapshot: z.string(),
  path: z.string(),
  total: z.number().describe('entries in the folder; `entries` is one page of them'),
  offset: z.number(),
  entries: z.array(
    z.object({
      name: z.string(),
      type: z.string(),
      size: z.number().nullable(),
      mode: z.number().nullable(),
      mtime: z.string().nullable(),
      sha256: z.string().nullable(),
      target: z.string().nullable(),
    }),
  ),
});

export const drillResponse = z.looseObject({
  id: z.string(),
  time: z.string(),
  source: z.string(),
  snapshot: z.string(),
  passed: z.boolean(),
  rto_ms: z.number().nullable(),
  restore_ms: z.number().nullable(),
  failed_checks: z.array(z.string()),
  error: z.string().nullable(),
});

export const alertResponse = z.object({
  key: z.string(),
  kind: z.string(),
  source: z.string().nullable(),
  state: z.enum(['firing', 'resolved']),
  summary: z.string(),
  details: z.record(z.string(), z.unknown()),
  first_at: z.string(),
  last_sent_at: z.string().nullable(),
  resolved_at: z.string().nullable(),
  sends: z.number(),
});

export const statsResponse = z.object({
  since: z.string(),
  backups: z
    .array(
      z.object({
        source: z.string(),
        snapshot: z.string(),
        time: z.string(),
        bytes_read: z.number(),
        bytes_added: z.number(),
        duration_ms: z.number(),
      }),
    )
    .describe('snapshots in the repository taken since `since`, oldest first'),
  daily: z
    .array(z.object({ day: z.string(), succeeded: z.number(), failed: z.number() }))
    .describe('backup jobs finished per day (UTC), from the catalog'),
  growth: z
    .array(z.object({ time: z.string(), bytes: z.number() }))
    .describe('data added to the repository by the backups still in it, cumulative, oldest first'),
});

export const snapshotResponse = z.looseObject({
  id: z.string(),
  short_id: z.string(),
  time: z.string(),
  source: z.string(),
  engine: z.string(),
  kind: z.string(),
  host: z.string(),
  tags: z.array(z.string()),
  stats: z.record(z.string(), z.unknown()),
  unit: z
    .object({ source: z.string(), name: z.string(), label: z.string() })
    .nullable()
    .describe('for a unit of a source saved as several (a database, the roles): its source, name and label'),
  sourceConfig: z
    .record(z.string(), z.unknown())
    .describe('settings recorded with the snapshot, secrets redacted'),
  skipped: z
    .array(z.object({ path: z.string(), error: z.string() }))
    .optional()
    .describe('paths the backup could not read and left out (the first 100); absent when it read everything'),
  skippedCount: z.number().optional().describe('how many paths were left out in all'),
  meta: z.record(z.string(), z.unknown()).optional().describe('engine facts recorded with the snapshot'),
  backup: z
    .object({ bytesRead: z.number(), bytesAdded: z.number(), durationMs: z.number() })
    .optional()
    .describe('what the backup read and added, and how long it took'),
});

export const snapshotProblemResponse = z.object({
  id: z.string(),
  kind: z.enum(['damaged', 'unreadable']),
  message: z.string(),
});

export const snapshotsPage = z.object({
  total: z.number(),
  offset: z.number(),
  limit: z.number(),
  snapshots: z.array(snapshotResponse),
  problems: z
    .array(snapshotProblemResponse)
    .describe(
      'snapshot files that do not read, not in `snapshots`: damaged (lost; forget them by id) or unreadable (retried)',
    ),
});

export const sourceResponse = z.looseObject({
  name: z.string(),
  type: z.string(),
  protected: z.boolean(),
  schedule: z.object({ cron: z.string(), timezone: z.string() }).nullable(),
  next_run: z.string().nullable(),
  schedule_error: z.string().optional().describe('why the schedule cannot run (an invalid cron expression)'),
  last_backup: z
    .object({
      snapshot: z.string(),
      time: z.string(),
      age_seconds: z.number(),
      units: z
        .array(z.object({ unit: z.string(), label: z.string(), snapshot: z.string(), time: z.string() }))
        .optional(),
    })
    .nullable()
    .describe(
      'the newest backup that saved every unit of the source (time: its start); units: each unit’s snapshot',
    ),
  rpo: z
    .object({
      max_age: z.string(),
      max_age_seconds: z.number(),
      age_seconds: z.number().nullable(),
      breached: z.boolean(),
    })
    .nullable(),
  last_failure: z.object({ job: z.string(), time: z.string(), error: z.string().nullable() }).nullable(),
  last_job: z
    .object({ id: z.string(), status: z.string(), time: z.string() })
    .nullable()
    .describe('the newest backup job that finished (succeeded or failed)'),
  running_job: z.string().nullable(),
  snapshots: z.number().describe('snapshots of the source (its units count for it)'),
});

export const engineResponse = z.object({
  type: z.string().describe('the source type ("postgres")'),
  scopes: z
    .array(
      z.object({
        field: z.string().describe('the field of POST /api/restores it fills'),
        flag: z.string().describe('the CLI flag of `lifeboat restore`, without its dashes'),
        type: z.enum(['names', 'text', 'integer']),
        help: z.string(),
        label: z.string(),
        choices: z.string().optional().describe('the statistic of a snapshot whose keys are the choices'),
      }),
    )
    .describe('what a restore of its snapshots can be narrowed to'),
  data_only: z.boolean().describe('restores honour data_only'),
  privileges: z.boolean().describe('restores honour no_privileges and devices'),
  stats: z
    .array(z.object({ name: z.string(), help: z.string(), drill: z.enum(['equal', 'none']) }))
    .describe('the statistics its snapshots record; "equal": a drill compares them with the restore'),
});

export const auditEntryResponse = z.object({
  seq: z.number(),
  time: z.string(),
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  prev_hash: z.string(),
  hash: z.string(),
});

export const auditPage = z.object({
  entries: z.array(auditEntryResponse),
  verification: z
    .object({
      ok: z.boolean(),
      entries: z.number(),
      first_bad: z.object({ seq: z.number(), reason: z.string() }).optional(),
    })
    .optional(),
});

export const whoamiResponse = z.object({ name: z.string(), role: z.enum(['viewer', 'operator', 'admin']) });

/** Fleet mode's workers (docs/distributed.md); a single server answers mode `single` and none. */
export const workersResponse = z.object({
  mode: z.enum(['single', 'fleet']),
  workers: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      host: z.string(),
      pid: z.number(),
      labels: z.record(z.string(), z.string()),
      kinds: z
        .array(z.string())
        .nullable()
        .describe(
          'the job kinds it takes; null: every kind (a worker with a write-only key takes backups only)',
        ),
      started_at: z.string(),
      last_seen: z.string(),
      current: z.array(
        z.object({ id: z.string(), kind: z.string(), source: z.string().nullable(), since: z.string() }),
      ),
    }),
  ),
});

export const pointResponse = z.object({
  id: z.string(),
  time: z.string(),
  finished: z.string(),
  complete: z.boolean(),
  bytes_read: z.number(),
  bytes_added: z.number(),
  sources: z.array(
    z.object({
      source: z.string(),
      complete: z.boolean(),
      bytes_read: z.number(),
      bytes_added: z.number(),
      snapshots: z.array(
        z.object({
          id: z.string(),
          source: z.string(),
          time: z.string(),
          engine: z.string(),
          kind: z.string(),
        }),
      ),
    }),
  ),
});

export const appResponse = z.object({
  name: z.string(),
  sources: z.array(z.string()),
  parallel: z.number(),
  environments: z.array(
    z.object({
      name: z.string(),
      protected: z.boolean(),
      /** Where each source restores, without credentials. */
      targets: z.record(z.string(), z.string()),
    }),
  ),
  latest_point: pointResponse.nullable(),
  points: z.number().describe('recovery points in the repository'),
  last_drill: z
    .object({
      id: z.string(),
      time: z.string(),
      point: z.string(),
      passed: z.boolean(),
      rto_ms: z.number().nullable(),
    })
    .nullable(),
});

const targetContents = z.object({
  target: z.string(),
  exists: z.boolean(),
  summary: z.string(),
  items: z.array(z.string()).optional(),
});

/** An application restore's plan (jobs/app-plan AppPlan), as the CLI's `--json` prints it. */
export const appPlanResponse = z.object({
  app: z.string(),
  env: z.string(),
  protected: z.boolean(),
  point: z.object({ id: z.string(), time: z.string(), complete: z.boolean() }).optional(),
  at: z.string().optional(),
  sources: z.array(
    z.object({
      source: z.string(),
      engine: z.string(),
      to: z.string(),
      method: z.enum(['snapshot', 'pitr']),
      snapshots: z.array(
        z.object({
          id: z.string(),
          source: z.string(),
          time: z.string(),
          target: targetContents.optional(),
          targetError: z.string().optional(),
        }),
      ),
      recoversTo: z.string(),
      window: z.object({ from: z.string().optional(), to: z.string().optional() }).optional(),
    }),
  ),
  skewMs: z.number(),
  notes: z.array(z.string()),
});

export const jobEnvelope = z.object({ job: jobResponse });

export const healthResponse = z.object({
  status: z.enum(['ok', 'unhealthy']),
  checks: z.record(z.string(), z.string()),
  reasons: z.array(z.string()).optional(),
});

// ---- types for the dashboard -------------------------------------------------------------
// What the API answers (output) and accepts (input): web/src/api.ts re-exports these.

export type JobJson = z.output<typeof jobResponse>;
export type SourceJson = z.output<typeof sourceResponse>;
export type SnapshotJson = z.output<typeof snapshotResponse>;
export type SnapshotProblemJson = z.output<typeof snapshotProblemResponse>;
export type SnapshotsPageJson = z.output<typeof snapshotsPage>;
export type TreeJson = z.output<typeof treeResponse>;
export type TreeEntryJson = TreeJson['entries'][number];
export type DrillJson = z.output<typeof drillResponse>;
export type AlertJson = z.output<typeof alertResponse>;
export type AuditEntryJson = z.output<typeof auditEntryResponse>;
export type AuditPageJson = z.output<typeof auditPage>;
export type StatsJson = z.output<typeof statsResponse>;
export type WhoamiJson = z.output<typeof whoamiResponse>;
export type WorkersJson = z.output<typeof workersResponse>;
export type RestoreRequestJson = z.input<typeof restoreRequest>;
export type EngineJson = z.output<typeof engineResponse>;
export type RestoreScopeJson = EngineJson['scopes'][number];
export type AppJson = z.output<typeof appResponse>;
export type PointJson = z.output<typeof pointResponse>;
export type AppPlanJson = z.output<typeof appPlanResponse>;
export type AppRestoreRequestJson = z.input<typeof appRestoreRequest>;
