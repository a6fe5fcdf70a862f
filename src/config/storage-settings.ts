/**
 * @module config/storage-settings
 * The storage keys of the `repository:` section of lifeboat.yaml (retries, timeout, circuit
 * breaker, limits, upload concurrency, and the s3/azure/sftp subsections), their schema, and
 * their mapping onto the storage layer's StorageOptions (which knows nothing of this file).
 */
import { z } from 'zod';
import type { StorageOptions } from '../storage/storage-options.js';
import { DURATION_PATTERN, parseDuration } from './duration.js';

const duration = z.string().regex(DURATION_PATTERN, 'expected a duration such as 30s, 2m or 1h');
const bytes = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+\s*(KiB|MiB|GiB|K|M|G)?$/i, 'expected a size such as 8MiB'),
]);

export const s3ConfigSchema = z.strictObject({
  endpoint: z.string().url().optional(),
  region: z.string().min(1).optional(),
  path_style: z.boolean().optional(),
  profile: z.string().min(1).optional(),
  access_key_id: z.string().min(1).optional(),
  secret_access_key: z.string().min(1).optional(),
  session_token: z.string().min(1).optional(),
  storage_class: z.string().min(1).optional(),
  sse: z.enum(['AES256', 'aws:kms']).optional(),
  sse_kms_key_id: z.string().min(1).optional(),
  immutable_days: z.number().int().min(1).max(36500).optional(),
  immutable_mode: z.enum(['governance', 'compliance']).optional(),
  page_size: z.number().int().min(1).max(1000).optional(),
  part_size: bytes.optional(),
  create_bucket: z.boolean().optional(),
});

export const azureConfigSchema = z.strictObject({
  connection_string: z.string().min(1).optional(),
  account: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  sas: z.string().min(1).optional(),
  endpoint: z.string().url().optional(),
  create_container: z.boolean().optional(),
  block_size: bytes.optional(),
  page_size: z.number().int().min(1).max(5000).optional(),
});

export const sftpConfigSchema = z.strictObject({
  key_file: z.string().min(1).optional(),
  key_passphrase: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  known_hosts: z.string().min(1).optional(),
  host_key: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected a fingerprint as `ssh-keygen -lf` prints it: SHA256:...')
    .optional(),
  concurrency: z.number().int().min(1).max(256).optional(),
});

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
  /** KiB/s. */
  limit_upload: z.number().positive().optional(),
  limit_download: z.number().positive().optional(),
  s3: s3ConfigSchema.optional(),
  azure: azureConfigSchema.optional(),
  sftp: sftpConfigSchema.optional(),
};

const storageSection = z.object(repositoryStorageKeys);
export type RepositoryStorageConfig = z.infer<typeof storageSection>;

function parseBytes(v: number | string | undefined): number | undefined {
  if (v === undefined || typeof v === 'number') return v;
  const m = /^(\d+)\s*(KiB|MiB|GiB|K|M|G)?$/i.exec(v.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? '').toUpperCase()[0];
  return Number(m[1]) * (unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1);
}

/** StorageOptions from the repository section (validated by the config schema already). */
export function storageOptionsFromConfig(
  repo: RepositoryStorageConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): StorageOptions {
  const r = repo ?? {};
  const out: StorageOptions = {
    env,
    retry: {
      retries: r.retries,
      timeoutMs: r.timeout === undefined ? undefined : parseDuration(r.timeout),
      connectTimeoutMs: r.connect_timeout === undefined ? undefined : parseDuration(r.connect_timeout),
      idleTimeoutMs: r.idle_timeout === undefined ? undefined : parseDuration(r.idle_timeout),
      retryBudgetMs: r.retry_budget === undefined ? undefined : parseDuration(r.retry_budget),
      circuitBreakerAfter: r.circuit_breaker_after,
    },
    limitUploadKiB: r.limit_upload,
    limitDownloadKiB: r.limit_download,
  };
  if (r.s3) {
    const s = r.s3;
    out.s3 = {
      endpoint: s.endpoint,
      region: s.region,
      pathStyle: s.path_style,
      profile: s.profile,
      accessKeyId: s.access_key_id,
      secretAccessKey: s.secret_access_key,
      sessionToken: s.session_token,
      storageClass: s.storage_class,
      sse: s.sse,
      sseKmsKeyId: s.sse_kms_key_id,
      immutableDays: s.immutable_days,
      immutableMode: s.immutable_mode,
      pageSize: s.page_size,
      partSize: parseBytes(s.part_size),
      createBucket: s.create_bucket,
    };
  }
  if (r.azure) {
    const a = r.azure;
    out.azure = {
      connectionString: a.connection_string,
      account: a.account,
      key: a.key,
      sas: a.sas,
      endpoint: a.endpoint,
      createContainer: a.create_container,
      blockSize: parseBytes(a.block_size),
      pageSize: a.page_size,
    };
  }
  if (r.sftp) {
    const f = r.sftp;
    out.sftp = {
      keyFile: f.key_file,
      keyPassphrase: f.key_passphrase,
      password: f.password,
      knownHosts: f.known_hosts,
      hostKey: f.host_key,
      concurrency: f.concurrency,
    };
  }
  return out;
}
