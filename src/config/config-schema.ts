/**
 * @module config/config-schema
 * The schema of lifeboat.yaml: repository settings, sources (each engine's own schema from
 * the source registry plus the keys every source takes), notifications. Also published as a
 * JSON Schema for editors.
 */
import { z } from 'zod';
import {
  knownSourceTypes,
  SOURCE_NAME_PATTERN,
  type SourceConfig,
  sourceSchemas,
} from '../sources/registry.js';
import { DURATION_PATTERN } from './duration.js';

const duration = z.string().regex(DURATION_PATTERN, 'expected a duration such as 30m, 26h, 7d or 2w');
const count = z.number().int().min(0);

export const retentionSchema = z.strictObject({
  last: count.optional(),
  hourly: count.optional(),
  daily: count.optional(),
  weekly: count.optional(),
  monthly: count.optional(),
  yearly: count.optional(),
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

/** Keys every source takes, whatever its type. */
export const commonSourceKeys = {
  schedule: z.string().optional(),
  retention: retentionSchema.optional(),
  max_age: duration.optional(),
  hooks: hooksSchema.optional(),
  protected: z.boolean().optional(),
  tags: z.array(z.string()).optional(),
};

export const repositorySchema = z.strictObject({
  url: z.string().min(1).optional(),
  password: z.string().optional(),
  password_file: z.string().min(1).optional(),
  password_command: z.string().min(1).optional(),
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
  notifications: z.array(z.looseObject({ type: z.string() })).optional(),
});

export type RetentionConfig = z.infer<typeof retentionSchema>;
export type HooksConfig = z.infer<typeof hooksSchema>;
export type RepositoryConfig = z.infer<typeof repositorySchema>;

/** A configured source: its engine's settings plus the common keys. */
export type ConfiguredSource = SourceConfig & {
  schedule?: string;
  retention?: RetentionConfig;
  max_age?: string;
  hooks?: HooksConfig;
  protected?: boolean;
  tags?: string[];
};

export interface NotificationConfig {
  type: string;
  [key: string]: unknown;
}

export interface LifeboatConfig {
  repository?: RepositoryConfig;
  sources: Record<string, ConfiguredSource>;
  notifications?: NotificationConfig[];
}

/** The JSON Schema of lifeboat.yaml, for editors (docs/lifeboat.schema.json). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
  return { ...schema, title: 'lifeboat.yaml', description: 'Lifeboat configuration' };
}
