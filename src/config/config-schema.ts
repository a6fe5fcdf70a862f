/**
 * @module config/config-schema
 * The schema of lifeboat.yaml: repository settings, sources (each engine's own schema from
 * sources/engine-schemas plus the keys every source takes), notifications. Also published as a
 * JSON Schema for editors.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { byteSizeSchema } from '../byte-size-schema.js';
import { type ChannelConfig, notificationSchema } from '../notify/notification-config.js';
import { sourceSchemas } from '../sources/engine-schemas.js';
import { knownSourceTypes, SOURCE_NAME_PATTERN, type SourceConfig } from '../sources/registry.js';
import { DURATION_PATTERN } from './duration.js';
import { repositoryStorageKeys } from './storage-settings-schema.js';

const duration = z.string().regex(DURATION_PATTERN, 'expected a duration such as 30m, 26h, 7d, 2w or 1y');
const count = z.number().int().min(0);

export const retentionSchema = z.strictObject({
  last: count.optional(),
  hourly: count.optional(),
  daily: count.optional(),
  weekly: count.optional(),
  monthly: count.optional(),
  yearly: count.optional(),
  /** Every snapshot younger than this (`30d`), counted back from the newest: restic's keep-within. */
  within: duration.optional(),
  /** Snapshots with any of these tags are always kept. */
  tags: z.array(z.string()).optional(),
});

export const hooksSchema = z.strictObject({
  before_backup: z.string().optional(),
  after_backup: z.string().optional(),
  before_restore: z.string().optional(),
  after_restore: z.string().optional(),
  timeout: duration.optional(),
});

/** A cron expression ("0 3 * * *"), or one with its time zone (`{cron, timezone}`); UTC by default. */
export const scheduleSchema = z.union([
  z.string().min(1),
  z.strictObject({ cron: z.string().min(1), timezone: z.string().min(1).optional() }),
]);

/** `lifeboat serve`: where it listens, its catalog, repository-wide schedules, alert thresholds. */
export const serverSchema = z.strictObject({
  /** HOST:PORT; default 127.0.0.1:8080. */
  listen: z.string().min(1).optional(),
  /**
   * Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client; the
   * client's address is what the failed-login limit counts. Default: none (the peer's address).
   */
  trusted_proxies: z
    .array(
      z.string().refine((v) => {
        const [address, bits, extra] = v.split('/');
        const family = isIP(address);
        if (!family || extra !== undefined) return false;
        return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
      }, 'expected an IP address or a CIDR range such as 10.0.0.0/8'),
    )
    .optional(),
  /** The catalog file (job history, tokens, audit log, alert state); default beside the config file. */
  catalog: z.string().min(1).optional(),
  /** Time zone for schedules that name none; default UTC. */
  timezone: z.string().min(1).optional(),
  prune_schedule: scheduleSchema.optional(),
  check_schedule: scheduleSchema.optional(),
  /** Percentage of packs the scheduled check reads in full (5 or "5%"); default 5. */
  check_subset: z.union([z.number().gt(0).max(100), z.string().regex(/^\d+(\.\d+)?%?$/)]).optional(),
  /** Jobs run at once (never two of one source); default 2. */
  concurrency: z.number().int().min(1).optional(),
  /** How long running jobs may finish after SIGTERM before they are marked interrupted; default 30s. */
  shutdown_grace: duration.optional(),
  /**
   * With a PostgreSQL catalog (fleet mode): the labels this instance's worker offers; it runs
   * only jobs of sources whose `runs_on` it carries all of (none: only jobs without labels).
   */
  labels: z.record(z.string().min(1), z.string()).optional(),
  /** Fleet mode's queue: lease, poll interval and retries (docs/distributed.md). */
  fleet: z
    .strictObject({
      /** A worker silent this long is gone and its jobs run again elsewhere; default 60s. */
      lease: duration.optional(),
      /** How often an idle worker looks for jobs; default 2s. */
      poll: duration.optional(),
      /** Attempts after the first when a job's worker stops answering; default 2. */
      retries: z.number().int().min(0).optional(),
      /** Wait before such a retry (doubled per attempt); default 30s. */
      retry_delay: duration.optional(),
    })
    .optional(),
  alerts: z
    .strictObject({
      /** An alert that still holds is sent again this often; default 4h. */
      repeat: duration.optional(),
      /** A backup slower than this many times the median of recent ones is an anomaly; default 3. */
      duration_factor: z.number().gt(1).optional(),
      /** A backup whose size differs from the recent median by more than this percentage; default 50. */
      size_change_percent: z.number().gt(0).optional(),
      /** How many recent successful backups the medians use; default 10. */
      history: z.number().int().min(3).optional(),
      /** Local repositories: alert below this much free space ("10GiB"); default 1GiB. */
      min_free_space: byteSizeSchema.optional(),
    })
    .optional(),
});

/**
 * A source's restore drill: where to restore (default: a scratch target Lifeboat makes),
 * what to check, and when `lifeboat serve` runs it.
 */
export const drillSchema = z.strictObject({
  /** When `lifeboat serve` runs a drill of the source's latest snapshot (cron, as `schedule`). */
  schedule: scheduleSchema.optional(),
  scratch_url: z.string().min(1).optional(),
  checks: z
    .array(
      z.strictObject({
        name: z.string().min(1).optional(),
        sql: z.string().min(1).optional(),
        expect: z.union([z.string(), z.number()]).optional(),
        http: z
          .strictObject({
            url: z.string().min(1),
            status: z.number().int().optional(),
            body_contains: z.string().optional(),
          })
          .optional(),
        command: z.string().min(1).optional(),
      }),
    )
    .optional(),
});

/** Keys every source takes, whatever its type. */
export const commonSourceKeys = {
  schedule: scheduleSchema.optional(),
  retention: retentionSchema.optional(),
  max_age: duration.optional(),
  hooks: hooksSchema.optional(),
  protected: z.boolean().optional(),
  tags: z.array(z.string()).optional(),
  drill: drillSchema.optional(),
  /** Fleet mode: only a worker carrying all these labels (`{host: db1}`) runs the source's jobs. */
  runs_on: z.record(z.string().min(1), z.string()).optional(),
};

/**
 * An application: the sources it is made of (backed up together as one recovery point) and,
 * per environment, where each source restores to.
 */
export const appSchema = z.strictObject({
  sources: z.array(z.string().regex(SOURCE_NAME_PATTERN, 'expected a source name')).min(1),
  /** before_backup runs once per point, before any source; after_backup once after all. */
  hooks: hooksSchema.optional(),
  /** Sources backed up, restored or drilled at once; default 2. */
  parallel: z.number().int().min(1).optional(),
  environments: z
    .record(
      z.string().regex(SOURCE_NAME_PATTERN, 'expected an environment name'),
      z.strictObject({
        /** A restore into this environment through the server needs a second admin. */
        protected: z.boolean().optional(),
        /** Per source: where it restores to (as `restore --to`: a URL, a folder, a data directory). */
        targets: z.record(z.string(), z.string().min(1)),
      }),
    )
    .optional(),
});

export const repositorySchema = z.strictObject({
  url: z.string().min(1).optional(),
  password: z.string().optional(),
  password_file: z.string().min(1).optional(),
  password_command: z.string().min(1).optional(),
  /**
   * Prune's grace period (`prune --grace`, which overrides it): unused packs are marked and go
   * in a later prune, beside running backups. 0, the default: deleted at once, backups wait.
   * Used by `prune`, `forget --prune` and the server's prunes.
   */
  prune_grace: z
    .union([z.string(), z.number()])
    .refine(
      (v) => v === 0 || v === '0' || (typeof v === 'string' && DURATION_PATTERN.test(v)),
      'expected a duration such as 24h or 7d, or 0',
    )
    .optional()
    .describe(
      'prune --grace when the command line gives none (also forget --prune and the server): unused packs are marked and deleted by a later prune past it, beside running backups; 0 (the default) deletes at once, backups wait',
    ),
  ...repositoryStorageKeys,
});

/** An engine's schema with the common keys; unknown keys are errors (they are usually typos). */
export function sourceConfigSchema(type: string): z.ZodObject {
  return sourceSchemas[type].extend(commonSourceKeys).strict();
}

function sourceUnion() {
  const options = knownSourceTypes().map(sourceConfigSchema) as [z.ZodObject, ...z.ZodObject[]];
  return z.discriminatedUnion('type', options);
}

export const configSchema = z.strictObject({
  repository: repositorySchema.optional(),
  sources: z
    .record(z.string().regex(SOURCE_NAME_PATTERN, 'expected a source name'), sourceUnion())
    .optional(),
  notifications: z.array(notificationSchema).optional(),
  server: serverSchema.optional(),
  apps: z.record(z.string().regex(SOURCE_NAME_PATTERN, 'expected an app name'), appSchema).optional(),
});

export type RetentionConfig = z.infer<typeof retentionSchema>;
export type HooksConfig = z.infer<typeof hooksSchema>;
export type RepositoryConfig = z.infer<typeof repositorySchema>;
export type ScheduleConfig = z.infer<typeof scheduleSchema>;
export type ServerConfig = z.infer<typeof serverSchema>;
export type DrillSettings = z.infer<typeof drillSchema>;
export type AppConfig = z.infer<typeof appSchema>;

/** A configured source: its engine's settings plus the common keys. */
export type ConfiguredSource = SourceConfig & {
  schedule?: ScheduleConfig;
  retention?: RetentionConfig;
  max_age?: string;
  hooks?: HooksConfig;
  protected?: boolean;
  tags?: string[];
  drill?: DrillSettings;
  runs_on?: Record<string, string>;
};

export type { ChannelConfig as NotificationConfig } from '../notify/notification-config.js';

export interface LifeboatConfig {
  repository?: RepositoryConfig;
  sources: Record<string, ConfiguredSource>;
  notifications?: ChannelConfig[];
  server?: ServerConfig;
  apps?: Record<string, AppConfig>;
}

/** The JSON Schema of lifeboat.yaml, for editors (docs/lifeboat.schema.json). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
  return { ...schema, title: 'lifeboat.yaml', description: 'Lifeboat configuration' };
}
