/**
 * @module storage/storage-options
 * What opening a backend may be told besides its URL: per-backend settings (from the
 * `repository.s3`, `repository.azure` and `repository.sftp` sections of the config), the
 * retry, timeout and circuit-breaker policy, and bandwidth limits. Storage knows nothing of
 * the config file; the CLI maps config keys onto this.
 */
import type { RetryOptions } from './retry-backend.js';

export interface S3Settings {
  /** Endpoint URL of an S3-compatible store; else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS. */
  endpoint?: string;
  /** Else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, or us-east-1. */
  region?: string;
  /** Path-style addressing (http://host/bucket/key); also LIFEBOAT_S3_PATH_STYLE=1. */
  pathStyle?: boolean;
  /** A profile of ~/.aws/config and ~/.aws/credentials; else AWS_PROFILE or "default". */
  profile?: string;
  /** Static credentials; else the standard AWS chain (environment, profile, SSO, instance role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Storage class of packs (STANDARD_IA, INTELLIGENT_TIERING, ...); metadata stays STANDARD. */
  storageClass?: string;
  /** Server-side encryption: 'AES256' (SSE-S3) or 'aws:kms' (SSE-KMS, with sseKmsKeyId). */
  sse?: 'AES256' | 'aws:kms';
  sseKmsKeyId?: string;
  /** Object Lock: write objects (but locks) under retention for this many days. */
  immutableDays?: number;
  immutableMode?: 'governance' | 'compliance';
  /** Keys per listing request (default 1000, the S3 maximum). */
  pageSize?: number;
  /** Objects larger than this go up as multipart uploads with parts of this size (default 8 MiB). */
  partSize?: number;
  /** Create the bucket on init when it is missing (default true). */
  createBucket?: boolean;
}

export interface AzureSettings {
  /** A connection string; else AZURE_STORAGE_CONNECTION_STRING. */
  connectionString?: string;
  /** Storage account name, with `key` or `sas`; else AZURE_STORAGE_ACCOUNT. */
  account?: string;
  /** Account key; else AZURE_STORAGE_KEY. */
  key?: string;
  /** A SAS token (the query string, with or without '?'); else AZURE_STORAGE_SAS_TOKEN. */
  sas?: string;
  /** Blob service URL (default https://ACCOUNT.blob.core.windows.net). */
  endpoint?: string;
  /** Create the container on init when it is missing (default true). */
  createContainer?: boolean;
  /** Objects larger than this go up as blocks of this size (default 8 MiB). */
  blockSize?: number;
  /** Blobs per listing request (default 5000, the Azure maximum). */
  pageSize?: number;
}

export interface SftpSettings {
  /** Private key file; else the agent at SSH_AUTH_SOCK, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
  keyFile?: string;
  keyPassphrase?: string;
  /** Password login (a key is better). */
  password?: string;
  /** known_hosts file (default ~/.ssh/known_hosts). */
  knownHosts?: string;
  /** The server's key fingerprint, `SHA256:...` as `ssh-keygen -lf` prints it; pins it. */
  hostKey?: string;
  /** Requests in flight per transfer (default 32). */
  concurrency?: number;
}

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
  /** Bandwidth limits in KiB/s (any backend). */
  limitUploadKiB?: number;
  limitDownloadKiB?: number;
  s3?: S3Settings;
  azure?: AzureSettings;
  sftp?: SftpSettings;
}
