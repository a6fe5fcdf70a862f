/**
 * @module config/storage-settings
 * The storage keys of the `repository:` section of lifeboat.yaml (retries, timeout, circuit
 * breaker, limits, upload concurrency, the s3/azure/sftp sections) mapped onto the storage
 * layer's StorageOptions. Their schema is storage-settings-schema.ts: a command reads the
 * settings without loading zod.
 */
import { parseByteRate } from '../byte-size.js';
import type { StorageOptions } from '../storage/storage-options.js';
import { parseDuration } from './duration.js';
import type { RepositoryStorageConfig } from './storage-settings-schema.js';

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
