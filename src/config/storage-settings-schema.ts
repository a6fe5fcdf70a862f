/**
 * @module config/storage-settings-schema
 * The schema of the storage keys of the `repository:` section of lifeboat.yaml (retries,
 * timeout, circuit breaker, limits, upload concurrency). The s3/azure/sftp subsections are
 * each backend's own settings schema (storage/settings-schemas), passed through as they are;
 * storage-settings.ts maps them onto StorageOptions.
 */
import { z } from 'zod';
import { byteRateSchema } from '../byte-size-schema.js';
import { storageSettingsSchemas } from '../storage/settings-schemas.js';
import { DURATION_PATTERN } from './duration.js';

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
/** The storage keys as the config schema has checked them. */
export type RepositoryStorageConfig = z.infer<typeof storageSection>;
