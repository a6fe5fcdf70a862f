/**
 * @module jobs/queue/job-kinds
 * What each kind of job is asked to do: its params, as zod schemas, joined into one union
 * discriminated by `kind`. The queue takes requests of this type, the runner reads a stored
 * job's params through it, and the API's request schemas (server/api-schemas) are built from
 * the same fields, so a field is declared once. No Node.js imports: the dashboard's types
 * come from here too (through the API's schemas).
 */
import { z } from 'zod';
import type { JobKind } from '../../catalog/job-states.js';
import { DURATION_PATTERN } from '../../config/duration.js';
import { LifeboatError } from '../../errors.js';
import { parseTarget } from '../../sources/postgres/recovery-target.js';
import { RESTORE_SCOPES, type ScopeField, scopeValues } from '../../sources/restore-scopes.js';

// ---- restore scope ---------------------------------------------------------------------
// What part of a snapshot a restore brings back. The scopes themselves (tables, paths,
// schemas, a Redis database or key pattern, collections) are declared once, in
// sources/restore-scopes, as the engines honour them; here they become request fields with
// the restore options beside them. The API's restore request spreads `restoreScopeFields`, a
// restore job records `restoreScopeParams(request)`, and the runner hands
// `restoreScopeOptions(params)` to runRestore.

const { include, tables, schemas, db, pattern, collections } = RESTORE_SCOPES;

// One field per scope of the catalogue: a scope added there fails to compile until it has one.
const scopeFields = {
  tables: z.array(z.string().min(1)).optional().describe(tables.help),
  include: z.array(z.string().min(1)).optional().describe(include.help),
  collections: z.array(z.string().min(1)).optional().describe(collections.help),
  schemas: z.array(z.string().min(1)).optional().describe(schemas.help),
  db: z.number().int().min(0).optional().describe(db.help),
  pattern: z.string().min(1).optional().describe(pattern.help),
} satisfies Record<ScopeField, z.ZodType>;

export const restoreScopeFields = {
  ...scopeFields,
  data_only: z
    .boolean()
    .optional()
    .describe(
      'PostgreSQL, with tables: replace only their rows, in one transaction; definitions and what depends on them stay',
    ),
  no_privileges: z
    .boolean()
    .optional()
    .describe(
      'files: drop setuid/setgid bits and refuse device nodes (always so for a snapshot a write-only key wrote)',
    ),
  devices: z.boolean().optional().describe('files, without privileges: create device nodes all the same'),
};

export type RestoreScope = z.output<z.ZodObject<typeof restoreScopeFields>>;

/** The scope as a restore job records it: the lists always, the rest only when set. */
export function restoreScopeParams(scope: RestoreScope): RestoreScope {
  return {
    tables: scope.tables ?? [],
    include: scope.include ?? [],
    ...scopeValues(scope, 'field'),
    ...(scope.collections?.length ? { collections: scope.collections } : {}),
    ...(scope.data_only ? { data_only: true } : {}),
    ...(scope.no_privileges ? { no_privileges: true } : {}),
    ...(scope.devices ? { devices: true } : {}),
  };
}

/** The scope as runRestore takes it (jobs/restore). */
export function restoreScopeOptions(scope: RestoreScope) {
  return {
    include: scope.include ?? [],
    tables: scope.tables ?? [],
    collections: scope.collections ?? [],
    ...scopeValues(scope, 'field'),
    dataOnly: !!scope.data_only,
    noPrivileges: !!scope.no_privileges,
    devices: !!scope.devices,
  };
}

// ---- params per kind ---------------------------------------------------------------------

/** A point in time for a PostgreSQL physical source, in the forms `restore --at` takes. */
export const recoveryTargetText = z.string().refine((v) => {
  try {
    parseTarget(v);
    return true;
  } catch {
    return false;
  }
}, 'expected an ISO 8601 time, "latest", "name:RESTORE_POINT", "lsn:X/Y" or "xid:N"');

// Loose objects: a stored job keeps what it was given (a rebuilt backup's units, say), and a
// retry resubmits all of it.
const backupParams = z.looseObject({ tags: z.array(z.string()).optional() });
const forgetParams = z.looseObject({
  /** The units of the source whose snapshots the backup just wrote. */
  units: z.array(z.string()).optional(),
});
const pruneParams = z.looseObject({
  /**
   * The grace period (`24h`; `0`: delete at once, backups wait); default the config's
   * `repository.prune_grace`. Above 0 the prune runs beside backups and restores.
   */
  grace: z
    .union([z.string(), z.number()])
    .refine(
      (v) => v === 0 || v === '0' || (typeof v === 'string' && DURATION_PATTERN.test(v)),
      'expected a duration such as 24h or 7d, or 0',
    )
    .optional(),
});
const checkParams = z.looseObject({ read_data_percent: z.coerce.number().optional() });
const drillParams = z.looseObject({
  /** Snapshot id or prefix; default: the latest of the source. */
  snapshot: z.string().optional(),
});
const restoreParams = z.looseObject({
  /** The snapshot's full id, resolved when the restore was requested. */
  snapshot: z.string(),
  /** The snapshot's source (a unit's own name for a unit). */
  source: z.string().optional(),
  to: z.string().optional(),
  ...restoreScopeFields,
  overwrite: z.boolean().optional(),
  dry_run: z.boolean().optional(),
  /** A point in time (PostgreSQL physical sources): base backup plus WAL replay. */
  at: z.string().optional(),
  /** False when `to` held a password: the catalog keeps the target without it, the queue in memory. */
  target_password_kept: z.boolean().optional(),
});

// Application jobs (jobs/app-*): the app by name, resolved from the config when the job runs.
const appBackupParams = z.looseObject({ app: z.string(), tags: z.array(z.string()).optional() });
const appDrillParams = z.looseObject({
  app: z.string(),
  /** A point id or prefix; default: the newest complete point. */
  point: z.string().optional(),
});
const appRestoreParams = z.looseObject({
  app: z.string(),
  /** The environment of the app whose targets the sources restore to. */
  env: z.string(),
  point: z.string().optional(),
  at: z.string().optional(),
  only: z.array(z.string()).optional(),
  /** Start PostgreSQL on each data directory recovered to a point in time and check it (jobs/pitr-verify). */
  verify: z.boolean().optional(),
  /**
   * The plan (jobs/app-plan) shown when the restore was requested, targets without
   * credentials: approving and running re-plan and refuse when the plan changed.
   */
  plan: z.looseObject({}),
});

/** The params schema of each kind. */
export const JOB_PARAMS = {
  backup: backupParams,
  restore: restoreParams,
  forget: forgetParams,
  prune: pruneParams,
  check: checkParams,
  drill: drillParams,
  app_backup: appBackupParams,
  app_restore: appRestoreParams,
  app_drill: appDrillParams,
} satisfies Record<JobKind, z.ZodObject>;

export type ParamsOf<K extends JobKind> = z.output<(typeof JOB_PARAMS)[K]>;
export type RestoreParams = ParamsOf<'restore'>;
export type AppRestoreParams = ParamsOf<'app_restore'>;

const order = <K extends JobKind>(kind: K) =>
  z.object({ kind: z.literal(kind), params: JOB_PARAMS[kind] as (typeof JOB_PARAMS)[K] });

/** A job's kind with its params: the union the queue takes. */
export const jobOrder = z.discriminatedUnion('kind', [
  order('backup'),
  order('restore'),
  order('forget'),
  order('prune'),
  order('check'),
  order('drill'),
  order('app_backup'),
  order('app_restore'),
  order('app_drill'),
]);
export type JobOrder = z.output<typeof jobOrder>;

/** A job's kind with its params as a caller gives them (none: `{}`). */
export type JobOrderInput = {
  [K in JobKind]: { kind: K; params?: z.input<(typeof JOB_PARAMS)[K]> };
}[JobKind];

/** A stored job's params read as those of `kind`, or a usage error naming the job. */
export function paramsOf<K extends JobKind>(kind: K, job: { id: string; params: unknown }): ParamsOf<K> {
  const r = JOB_PARAMS[kind].safeParse(job.params ?? {});
  if (r.success) return r.data as ParamsOf<K>;
  const issue = r.error.issues[0];
  throw new LifeboatError(
    'usage',
    `[jobs] ${kind} job ${job.id}: params.${issue.path.join('.')}: ${issue.message} (request the job again)`,
  );
}

/** A stored job as a new order of the same kind and params (`lifeboat jobs retry`). */
export function orderOf(job: { id: string; kind: JobKind; params: unknown }): JobOrder {
  return { kind: job.kind, params: paramsOf(job.kind, job) } as JobOrder;
}
