/**
 * @module config/storage-settings
 * The storage keys of the `repository:` section of lifeboat.yaml (retries, timeout, circuit
 * breaker, limits, upload concurrency) and their mapping onto the storage layer's
 * StorageOptions. The s3/azure/sftp subsections are each backend's own settings schema, from
 * the storage registry, passed through as they are.
 */
import { z } from 'zod';
import { byteRateSchema, parseByteRate } from '../byte-size.js';
import { storageSettingsSchemas } from '../storage/registry.js';
import type { StorageOptions } from '../storage/storage-options.js';
import { DURATION_PATTERN, parseDuration } from './duration.js';

const duration = z.string().regex(DURATION_PATTERN, 'expected a duration such as 30s, 2m or 1h');

/** Keys the `repository:` section takes for storage, besides url and password. */
export const repositoryStorageKeys = {
  /** Retries of one storage request after its first attempt (remote backends). */
  retries: z.number().int().min(0).max(100).optional(),
  /** Longest one storage request may take (remote backends). */
  timeout: duration.optional(),
  /** Longest a connection may take to come up, TCP and TLS or SSH handshake (remote backends). */
  connect_timeout: duration.optional(),
  /** Longest a connection may stay silent within a request (remote backends). */
  idle_timeout: duration.optional(),
  /** No retry of a request starts later than this after its first attempt (remote backends). */
  retry_budget: duration.optional(),
  /** Consecutive failed requests after which the job stops trying (0: never). */
  circuit_breaker_after: z.number().int().min(0).optional(),
  /** Pack uploads in flight at once. */
  upload_concurrency: z.number().int().min(1).max(64).optional(),
  /** KiB/s as a number, or a size per second ("2MiB"). */
  limit_upload: byteRateSchema.optional(),
  limit_download: byteRateSchema.optional(),
  s3: storageSettingsSchemas.s3.optional(),
  azure: storageSettingsSchemas.azure.optional(),
  sftp: storageSettingsSchemas.sftp.optional(),
};

const storageSection = z.object(repositoryStorageKeys);
export type RepositoryStorageConfig = z.infer<typeof storageSection>;

/** StorageOptions from the repository section (validated by the config schema already). */
export function storageOptionsFromConfig(
  repo: RepositoryStorageConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): StorageOptions {
  const r = repo ?? {};
  return {
    env,
    retry: {
      retries: r.retries,
      timeoutMs: r.timeout === undefined ? undefined : parseDuration(r.timeout),
      connectTimeoutMs: r.connect_timeout === undefined ? undefined : parseDuration(r.connect_timeout),
      idleTimeoutMs: r.idle_timeout === undefined ? undefined : parseDuration(r.idle_timeout),
      retryBudgetMs: r.retry_budget === undefined ? undefined : parseDuration(r.retry_budget),
      circuitBreakerAfter: r.circuit_breaker_after,
    },
    limitUploadBytesPerSecond: r.limit_upload === undefined ? undefined : parseByteRate(r.limit_upload),
    limitDownloadBytesPerSecond: r.limit_download === undefined ? undefined : parseByteRate(r.limit_download),
    s3: r.s3,
    azure: r.azure,
    sftp: r.sftp,
  };
}
