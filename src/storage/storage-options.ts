/**
 * @module storage/storage-options
 * What opening a backend may be told besides its URL: per-backend settings (each backend's
 * folder describes its own, `<scheme>-settings.ts`, which the `repository.s3`, `.azure` and
 * `.sftp` sections of the config are), the retry, timeout and circuit-breaker policy, and
 * bandwidth limits.
 */
import type { AzureSettings } from './azure/azure-settings.js';
import type { RetryOptions } from './retry-backend.js';
import type { S3Settings } from './s3/s3-settings.js';
import type { SftpSettings } from './sftp/sftp-settings.js';

/** How long a remote backend's transport waits, in ms (0 or absent: no limit of its own). */
export interface TransportTimeouts {
  /** For a connection to come up: TCP, then the TLS or SSH handshake. */
  connectMs?: number;
  /** For a byte either way on an open connection, within a request. */
  idleMs?: number;
  /** For one attempt of a request, whole. */
  requestMs?: number;
}

export interface StorageOptions {
  /** Environment for LIFEBOAT_* and credential variables (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Retry policy of non-local backends; `false` opens the bare backend (tests). */
  retry?: RetryOptions | false;
  /** Bandwidth limits in bytes per second (any backend); 0 or absent: unlimited. */
  limitUploadBytesPerSecond?: number;
  limitDownloadBytesPerSecond?: number;
  s3?: S3Settings;
  azure?: AzureSettings;
  sftp?: SftpSettings;
}
