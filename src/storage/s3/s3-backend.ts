/**
 * @module storage/s3/s3-backend
 * A repository in an S3 bucket (`s3://bucket/prefix`): AWS S3 and the S3-compatible stores
 * (MinIO, Ceph, R2, B2, GCS interoperability). Endpoint, region and credentials come from
 * the settings or the standard AWS variables and files, which the SDK reads itself.
 *
 * PutObject and CompleteMultipartUpload are atomic, so saves are all-or-nothing without temp
 * objects. Every upload carries Content-MD5, so a body damaged on the way is refused by the
 * server (and Object Lock, which demands a checksum, works). The SDK's own retries are off:
 * the retry wrapper decides. With `immutableDays`, every object but locks is written under
 * Object Lock retention, and remove() refuses (code 'retained') while it lasts.
 *
 * Conditional writes (leases, repo/lease.ts) are PutObject with If-None-Match: * or
 * If-Match: <ETag>, the ETag being the version. They are claimed on AWS and, with a custom
 * endpoint, only when `conditional_writes: true` says the store honours them; even then the
 * first one in a process checks that it does (a store that ignores the headers would let two
 * hosts hold one lease).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ListObjectsV2CommandOutput, PutObjectCommandInput, S3ClientConfig } from '@aws-sdk/client-s3';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { parseByteSize } from '../../byte-size.js';
import { describe, LifeboatError } from '../../errors.js';
import type {
  Backend,
  BackendCapabilities,
  FileHandle,
  FileInfo,
  FileType,
  VersionedObject,
} from '../backend.js';
import { rangeStart, tooShort } from '../byte-range.js';
import {
  checkName,
  joinKey,
  nameFromListedKey,
  normalizePrefix,
  objectName,
  relativeKey,
  typePrefix,
} from '../layout.js';
import { redactUrl } from '../redact-url.js';
import type { TransportTimeouts } from '../storage-options.js';
import {
  isNetworkError,
  isRetryableName,
  isRetryableStatus,
  parseRetryAfter,
  storageError,
} from '../transient-errors.js';
import type { S3Settings } from './s3-settings.js';

const MiB = 1024 * 1024;
const DEFAULT_PART_SIZE = 8 * MiB;
/** S3 refuses parts under 5 MiB (but the last). */
const MIN_PART_SIZE = 5 * MiB;
const PART_CONCURRENCY = 3;
const DAY_MS = 86_400_000;
/** How often a replace refused with 409 (a concurrent conditional write) is tried again. */
const CONFLICT_RETRIES = 3;

/**
 * Stores whose conditional writes were checked in this process (conditionalWritesChecked):
 * by endpoint and bucket, so a process checks each store once, however often it opens it.
 */
const checkedStores = new Map<string, Promise<void>>();

/** A conditional PutObject's outcome: the new ETag, refused (412, or 404 for If-Match), or 409. */
type ConditionalPut = string | undefined | 'conflict';

export interface S3BackendOptions {
  settings?: S3Settings;
  env?: NodeJS.ProcessEnv;
  /** Connect and idle limits for the HTTP handler; the retry wrapper times whole requests. */
  timeouts?: TransportTimeouts;
  /** Injected for tests (retention dates). */
  now?: () => number;
}

type Operation = 'write' | 'read' | 'stat' | 'remove' | 'list' | 'create';

/** Parses `s3://bucket/prefix`; credentials in the URL are refused (they would leak into logs). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  const bad = (why: string) =>
    new LifeboatError(
      'usage',
      `[storage:s3] invalid repository URL ${redactUrl(url)}: ${why} (use s3://bucket/prefix)`,
    );
  if (!m) throw bad('unexpected characters');
  if (m[1].includes('@')) {
    throw bad(
      'credentials in the URL are not supported; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or repository.s3',
    );
  }
  const bucket = m[1];
  if (!/^[a-z0-9][a-z0-9.\-_]{1,254}$/i.test(bucket)) throw bad(`"${bucket}" is not a bucket name`);
  return { bucket, prefix: normalizePrefix(decodeURIComponent(m[2] ?? '')) };
}

interface S3ErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

export class S3Backend implements Backend {
  readonly location: string;
  readonly capabilities: BackendCapabilities;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly settings: S3Settings;
  private readonly partSize: number;
  private readonly now: () => number;
  /** A custom endpoint, named in connection failures (the location names only the bucket). */
  private readonly endpoint: string | undefined;

  constructor(url: string, options: S3BackendOptions = {}) {
    const { bucket, prefix } = parseS3Url(url);
    const env = options.env ?? process.env;
    this.bucket = bucket;
    this.prefix = prefix;
    this.location = redactUrl(`s3://${bucket}${prefix ? `/${prefix}` : ''}`);
    this.settings = options.settings ?? {};
    this.endpoint = this.settings.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
    this.now = options.now ?? Date.now;
    this.partSize = Math.max(MIN_PART_SIZE, parseByteSize(this.settings.part_size ?? DEFAULT_PART_SIZE));
    const retention = (this.settings.immutable_days ?? 0) > 0;
    // A custom endpoint may be a store that accepts the headers and ignores them: only when told.
    const conditionalWrites = this.settings.conditional_writes ?? this.endpoint === undefined;
    this.capabilities = {
      atomicReplace: true,
      rangedReads: true,
      freeSpace: false,
      retention,
      conditionalWrites,
    };
    // The SDK warns on every run under Node 20 about its future plans; lockfile pins the SDK.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client(clientConfig(this.settings, env, options.timeouts ?? {}));
  }

  private key(h: FileHandle): string {
    checkName(h, 'storage:s3');
    return joinKey(this.prefix, relativeKey(h));
  }

  async create(): Promise<void> {
    await this.ensureBucket();
    let exists = true;
    try {
      await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.key({ type: 'config', name: 'config' }) }),
      );
    } catch (err) {
      if (!isMissing(err)) throw this.error(err, 'create', 'config');
      exists = false;
    }
    if (exists) {
      throw new LifeboatError(
        'repo_exists',
        `[storage:s3] a repository already exists at ${this.location} (use it, or choose another prefix)`,
      );
    }
  }

  private async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      const status = statusOf(err);
      // 403: no s3:ListBucket; the bucket may well exist, and the first write will tell.
      if (status === 403 || !isMissing(err)) {
        if (status === 403) return;
        throw this.error(err, 'create', `bucket ${this.bucket}`);
      }
    }
    if (this.settings.create_bucket === false) {
      throw new LifeboatError(
        'storage_failed',
        `[storage:s3] bucket "${this.bucket}" does not exist at ${this.location} (create it, or allow repository.s3.create_bucket)`,
      );
    }
    const region = await this.client.config.region();
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          ObjectLockEnabledForBucket: this.capabilities.retention ? true : undefined,
          CreateBucketConfiguration:
            region && region !== 'us-east-1' && !this.settings.endpoint
              ? { LocationConstraint: region as never }
              : undefined,
        }),
      );
    } catch (err) {
      const name = nameOf(err);
      if (name === 'BucketAlreadyOwnedByYou') return;
      throw this.error(err, 'create', `bucket ${this.bucket}`);
    }
  }

  /** PutObject's parameters for `h`: storage class, encryption, retention, as the settings ask. */
  private putParams(h: FileHandle): PutObjectCommandInput {
    const params: PutObjectCommandInput = { Bucket: this.bucket, Key: this.key(h) };
    if (h.type === 'pack' && this.settings.storage_class)
      params.StorageClass = this.settings.storage_class as never;
    if (this.settings.sse) {
      params.ServerSideEncryption = this.settings.sse;
      if (this.settings.sse_kms_key_id) params.SSEKMSKeyId = this.settings.sse_kms_key_id;
    }
    // Locks are rewritten and removed while a job runs: they never get retention.
    if (this.capabilities.retention && h.type !== 'lock') {
      params.ObjectLockMode = this.settings.immutable_mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE';
      params.ObjectLockRetainUntilDate = new Date(this.now() + (this.settings.immutable_days ?? 0) * DAY_MS);
    }
    return params;
  }

  async save(h: FileHandle, data: Buffer): Promise<void> {
    const params = this.putParams(h);
    try {
      if (data.length <= this.partSize) {
        await this.client.send(
          new PutObjectCommand({ ...params, Body: data, ContentLength: data.length, ContentMD5: md5(data) }),
        );
      } else {
        await this.multipart(params, data);
      }
    } catch (err) {
      throw this.error(err, 'write', objectName(h));
    }
  }

  /** Parts in parallel, each with its MD5; any failure aborts the upload so no parts linger. */
  private async multipart(params: PutObjectCommandInput, data: Buffer): Promise<void> {
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand(params));
    if (!UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
    try {
      const count = Math.ceil(data.length / this.partSize);
      const etags = new Array<string>(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const body = data.subarray(i * this.partSize, Math.min(data.length, (i + 1) * this.partSize));
          const r = await this.client.send(
            new UploadPartCommand({
              Bucket: params.Bucket,
              Key: params.Key,
              UploadId,
              PartNumber: i + 1,
              Body: body,
              ContentLength: body.length,
              ContentMD5: md5(body),
            }),
          );
          if (!r.ETag) throw new Error(`UploadPart ${i + 1} returned no ETag`);
          etags[i] = r.ETag;
        }
      };
      await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, count) }, worker));
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: params.Bucket,
          Key: params.Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (err) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId }))
        .catch(() => {});
      throw err;
    }
  }

  // Conditional writes (capabilities.conditionalWrites). Only small objects (leases) are
  // written so: one PutObject, never a multipart upload.

  async createIfAbsent(h: FileHandle, data: Buffer): Promise<string | undefined> {
    await this.conditionalWritesChecked();
    // 409: another conditional write to the name was in flight; it is theirs.
    const r = await this.putOnCondition(h, data, { IfNoneMatch: '*' });
    return r === 'conflict' ? undefined : r;
  }

  async loadVersioned(h: FileHandle): Promise<VersionedObject> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(h) }));
      if (!r.Body || !r.ETag) throw new Error('GetObject returned no body or no ETag');
      return { data: Buffer.from(await r.Body.transformToByteArray()), version: r.ETag };
    } catch (err) {
      throw this.error(err, 'read', objectName(h));
    }
  }

  async replaceIfVersion(h: FileHandle, data: Buffer, version: string): Promise<string | undefined> {
    await this.conditionalWritesChecked();
    for (let attempt = 0; ; attempt++) {
      const r = await this.putOnCondition(h, data, { IfMatch: version });
      if (r !== 'conflict') return r;
      // AWS answers 409 to a write that met another conditional write to the key in flight
      // (a taker's create beside a renewal, say): lost only if the ETag has moved since.
      if (attempt >= CONFLICT_RETRIES || (await this.etag(h)) !== version) return undefined;
    }
  }

  private async putOnCondition(
    h: FileHandle,
    data: Buffer,
    condition: { IfNoneMatch: '*' } | { IfMatch: string },
  ): Promise<ConditionalPut> {
    try {
      const r = await this.client.send(
        new PutObjectCommand({
          ...this.putParams(h),
          ...condition,
          Body: data,
          ContentLength: data.length,
          ContentMD5: md5(data),
        }),
      );
      if (!r.ETag) throw new Error('PutObject returned no ETag');
      return r.ETag;
    } catch (err) {
      const status = statusOf(err);
      if (status === 412 || (status === 404 && 'IfMatch' in condition)) return undefined;
      if (status === 409) return 'conflict';
      throw this.error(err, 'write', objectName(h));
    }
  }

  /** The object's ETag, undefined when it is gone. */
  private async etag(h: FileHandle): Promise<string | undefined> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(h) }))).ETag;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.error(err, 'stat', objectName(h));
    }
  }

  /**
   * Once per store and process, before the first conditional write: creates a probe object
   * twice with If-None-Match: * and replaces it naming a wrong ETag. A store that lets either
   * through ignores the conditions, and a lease on it would not keep a second holder out:
   * refuse (code 'unsupported') rather than take one.
   */
  private conditionalWritesChecked(): Promise<void> {
    const store = `${this.endpoint ?? 'aws'} ${this.bucket}`;
    let check = checkedStores.get(store);
    if (!check) {
      check = this.probeConditionalWrites();
      checkedStores.set(store, check);
      // A failure to reach the store is no verdict: the next lease checks again.
      check.catch((err) => {
        if ((err as { code?: string }).code !== 'unsupported') checkedStores.delete(store);
      });
    }
    return check;
  }

  private async probeConditionalWrites(): Promise<void> {
    const probe: FileHandle = { type: 'lock', name: `lease-probe-${randomBytes(8).toString('hex')}` };
    const probeKey = relativeKey(probe);
    const ignored = (what: string) => {
      const via = this.endpoint ? ` (endpoint ${redactUrl(this.endpoint)})` : '';
      return new LifeboatError(
        'unsupported',
        `[storage:s3] the store at ${this.location}${via} ${what}: it does not honour conditional writes, so it cannot hold a lease that keeps a second prune out; set repository.s3.conditional_writes: false (prune --grace then keeps to lock files)`,
      );
    };
    const refused = (r: ConditionalPut) => r === undefined || r === 'conflict';
    if (refused(await this.putOnCondition(probe, Buffer.from('first'), { IfNoneMatch: '*' }))) {
      throw ignored(`refused to create ${probeKey}, a new name, with If-None-Match: *`);
    }
    try {
      if (!refused(await this.putOnCondition(probe, Buffer.from('second'), { IfNoneMatch: '*' }))) {
        throw ignored(`replaced ${probeKey} though the PutObject said If-None-Match: *`);
      }
      const wrong = '"00000000000000000000000000000000"';
      if (!refused(await this.putOnCondition(probe, Buffer.from('third'), { IfMatch: wrong }))) {
        throw ignored(`replaced ${probeKey} though the PutObject named another ETag in If-Match`);
      }
    } finally {
      await this.remove(probe).catch(() => {});
    }
  }

  async load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    const key = this.key(h);
    if (offset === undefined && length === undefined) return this.get(h, key);
    const start = rangeStart('storage:s3', h, offset, length);
    let want = length;
    if (want === undefined || want === 0) {
      // An empty range cannot be asked for in HTTP; the size says whether it is in bounds.
      const size = (await this.stat(h)).size;
      if (start > size) throw this.short(h, start, want ?? 0, size);
      want ??= size - start;
      if (want === 0) return Buffer.alloc(0);
    }
    return this.get(h, key, start, want);
  }

  private async get(h: FileHandle, key: string, start?: number, length?: number): Promise<Buffer> {
    const ranged = start !== undefined && length !== undefined;
    let body: Uint8Array;
    let total: number | undefined;
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: ranged ? `bytes=${start}-${start + length - 1}` : undefined,
        }),
      );
      if (!r.Body) throw new Error('GetObject returned no body');
      body = await r.Body.transformToByteArray();
      total = r.ContentRange ? Number(r.ContentRange.split('/')[1]) : undefined;
    } catch (err) {
      if (ranged && (statusOf(err) === 416 || nameOf(err) === 'InvalidRange')) {
        const size = (await this.stat(h)).size;
        throw this.short(h, start, length, size);
      }
      throw this.error(err, 'read', objectName(h));
    }
    const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (ranged && buf.length !== length) throw this.short(h, start, length, total ?? start + buf.length);
    return buf;
  }

  private short(h: FileHandle, offset: number, length: number, size: number): LifeboatError {
    return tooShort('storage:s3', h, this.location, offset, length, size);
  }

  async stat(h: FileHandle): Promise<FileInfo> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(h) }));
      return { name: h.type === 'config' ? 'config' : h.name, size: r.ContentLength ?? 0 };
    } catch (err) {
      throw this.error(err, 'stat', objectName(h));
    }
  }

  async retentionUntil(h: FileHandle): Promise<Date | undefined> {
    let r: { ObjectLockRetainUntilDate?: Date; ObjectLockMode?: string; ObjectLockLegalHoldStatus?: string };
    try {
      r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(h) }));
    } catch (err) {
      throw this.error(err, 'stat', objectName(h));
    }
    if (r.ObjectLockLegalHoldStatus === 'ON') return new Date(8.64e15);
    const until = r.ObjectLockRetainUntilDate;
    return r.ObjectLockMode && until && until.getTime() > this.now() ? until : undefined;
  }

  async remove(h: FileHandle): Promise<void> {
    const key = this.key(h);
    try {
      if (!this.capabilities.retention) {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
        return;
      }
      let until: Date | undefined;
      try {
        until = await this.retentionUntil(h);
      } catch (err) {
        if ((err as { code?: string }).code === 'not_found') return;
        throw err;
      }
      if (until) {
        throw new LifeboatError(
          'retained',
          `[storage:s3] ${objectName(h)} at ${this.location} is under Object Lock retention until ${until.toISOString()} and cannot be removed before then`,
        );
      }
      await this.removeAllVersions(key);
    } catch (err) {
      if (err instanceof LifeboatError) throw err;
      throw this.error(err, 'remove', objectName(h));
    }
  }

  /**
   * Object Lock needs a versioned bucket, where a plain delete only hides the object behind
   * a delete marker (and would bring an older version of a lock back): delete every version
   * of the key instead. Stores without version listing get a plain delete.
   */
  private async removeAllVersions(key: string): Promise<void> {
    let versions: { Key?: string; VersionId?: string }[];
    try {
      const r = await this.client.send(new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: key }));
      versions = [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])].filter((v) => v.Key === key);
    } catch (err) {
      const status = statusOf(err);
      if (status !== 501 && status !== 405 && nameOf(err) !== 'NotImplemented') throw err;
      versions = [];
    }
    if (versions.length === 0 || versions.every((v) => !v.VersionId || v.VersionId === 'null')) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      return;
    }
    for (const v of versions) {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: key, VersionId: v.VersionId }),
      );
    }
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    if (type === 'config') {
      try {
        yield await this.stat({ type: 'config', name: 'config' });
      } catch (err) {
        if ((err as { code?: string }).code !== 'not_found') throw err;
      }
      return;
    }
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: base + typePrefix(type),
            MaxKeys: this.settings.page_size,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        if (nameOf(err) === 'NoSuchBucket') return;
        throw this.error(err, 'list', `${type} objects`);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(base)) continue;
        const name = nameFromListedKey(type, o.Key.slice(base.length));
        if (name) yield { name, size: o.Size ?? 0, ...(o.LastModified ? { modified: o.LastModified } : {}) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** An SDK failure as a LifeboatError that names the object, the store and the next step. */
  private error(err: unknown, op: Operation, what: string): LifeboatError {
    const status = statusOf(err);
    const name = nameOf(err);
    const verb = op === 'create' ? `unable to create a repository (${what})` : `unable to ${op} ${what}`;
    const where = `[storage:s3] ${verb} at ${this.location}`;
    if (isMissing(err) && op !== 'create') {
      if (name === 'NoSuchBucket') {
        return new LifeboatError(
          op === 'write' ? 'storage_failed' : 'not_found',
          `${where}: bucket "${this.bucket}" does not exist (check the URL and the endpoint, or run \`lifeboat init\`)`,
          { cause: err },
        );
      }
      return new LifeboatError('not_found', `[storage:s3] ${what} not found at ${this.location}`, {
        cause: err,
      });
    }
    if (name === 'CredentialsProviderError' || /credential/i.test(name ?? '')) {
      return new LifeboatError(
        'storage_failed',
        `${where}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or repository.s3.access_key_id)`,
        { cause: err },
      );
    }
    if (
      status === 403 ||
      name === 'AccessDenied' ||
      name === 'InvalidAccessKeyId' ||
      name === 'SignatureDoesNotMatch'
    ) {
      const action = {
        write: 's3:PutObject',
        read: 's3:GetObject',
        stat: 's3:GetObject',
        remove: 's3:DeleteObject',
        list: 's3:ListBucket',
        create: 's3:CreateBucket',
      }[op];
      return new LifeboatError(
        'storage_failed',
        `${where}: access denied${name && name !== 'AccessDenied' ? ` (${name})` : ''} (check the credentials and the bucket policy for ${action})`,
        { cause: err },
      );
    }
    const retryable =
      isRetryableStatus(status) || isRetryableName(name) || (status === undefined && isNetworkError(err));
    const headers = (err as S3ErrorShape).$response?.headers;
    const retryAfterMs = parseRetryAfter(headers?.['retry-after'] ?? headers?.['Retry-After']);
    const detail = [status ? `HTTP ${status}` : '', name && name !== 'Error' ? name : '', shortMessage(err)]
      .filter(Boolean)
      .join(' ');
    const next = retryable
      ? 'check the endpoint and the network; retrying may help'
      : 'check the settings in repository.s3';
    const via = this.endpoint ? ` (endpoint ${redactUrl(this.endpoint)})` : '';
    return storageError('storage_failed', `${where}${via}: ${detail} (${next})`, {
      cause: err,
      retryable,
      retryAfterMs,
    });
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as S3ErrorShape | undefined)?.$metadata?.httpStatusCode;
}

function nameOf(err: unknown): string | undefined {
  const e = err as S3ErrorShape | undefined;
  return e?.name ?? e?.Code;
}

function isMissing(err: unknown): boolean {
  const name = nameOf(err);
  return statusOf(err) === 404 || name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket';
}

/** The SDK's message, first line, bounded; it never holds credentials, but keep it short. */
function shortMessage(err: unknown): string {
  const m = describe(err).split('\n')[0];
  if (m === 'UnknownError' || m === '') return '';
  return m.length > 200 ? `${m.slice(0, 200)}...` : m;
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

function clientConfig(
  settings: S3Settings,
  env: NodeJS.ProcessEnv,
  timeouts: TransportTimeouts,
): S3ClientConfig {
  const region =
    settings.region ??
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION ??
    (settings.profile || env.AWS_PROFILE || env.AWS_CONFIG_FILE ? undefined : 'us-east-1');
  const agent = { keepAlive: true, maxSockets: 32 };
  const config: S3ClientConfig = {
    region,
    forcePathStyle: settings.path_style ?? env.LIFEBOAT_S3_PATH_STYLE === '1',
    maxAttempts: 1,
    // Many S3-compatible stores reject the newer default checksum headers; MD5 covers us.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: timeouts.connectMs,
      // Idle, not total: a large upload that keeps moving is never cut off by it.
      socketTimeout: timeouts.idleMs,
      httpAgent: agent,
      httpsAgent: agent,
    },
  };
  if (settings.endpoint) config.endpoint = settings.endpoint;
  if (settings.profile) config.profile = settings.profile;
  if (settings.access_key_id && settings.secret_access_key) {
    config.credentials = {
      accessKeyId: settings.access_key_id,
      secretAccessKey: settings.secret_access_key,
      sessionToken: settings.session_token,
    };
  }
  return config;
}

export function createS3Backend(url: string, options: S3BackendOptions = {}): Backend {
  return new S3Backend(url, options);
}
