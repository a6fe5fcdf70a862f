/**
 * @module storage/azure/azure-backend
 * A repository in an Azure Blob Storage container (`azure://container/prefix`). Credentials:
 * a connection string (settings or AZURE_STORAGE_CONNECTION_STRING), or an account name
 * with its key or a SAS token (settings or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or
 * AZURE_STORAGE_SAS_TOKEN).
 *
 * Put Blob and Put Block List are atomic: a reader sees the old blob or the new one. Objects
 * above the block size go up as staged blocks (each with its MD5, checked by the service)
 * committed in one list; smaller ones in one request. The SDK's retries are off: the retry
 * wrapper decides.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  BlobServiceClient,
  type ContainerClient,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
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
import type { AzureSettings } from './azure-settings.js';
import { connectionStringIsHttps, idleAgent } from './idle-agent.js';

const MiB = 1024 * 1024;
const DEFAULT_BLOCK_SIZE = 8 * MiB;
const BLOCK_CONCURRENCY = 3;
const CAPABILITIES: BackendCapabilities = {
  atomicReplace: true,
  rangedReads: true,
  freeSpace: false,
  conditionalWrites: true,
};

export interface AzureBackendOptions {
  settings?: AzureSettings;
  env?: NodeJS.ProcessEnv;
  /** Connect, idle and per-try limits for the SDK's transport; the retry wrapper times whole requests. */
  timeouts?: TransportTimeouts;
}

type Operation = 'write' | 'read' | 'stat' | 'remove' | 'list' | 'create';

/** Parses `azure://container/prefix`. */
export function parseAzureUrl(url: string): { container: string; prefix: string } {
  const m = /^azure:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  const bad = (why: string) =>
    new LifeboatError(
      'usage',
      `[storage:azure] invalid repository URL ${redactUrl(url)}: ${why} (use azure://container/prefix, with credentials in AZURE_STORAGE_CONNECTION_STRING or repository.azure)`,
    );
  if (!m) throw bad('unexpected characters (a SAS token belongs in repository.azure.sas)');
  if (m[1].includes('@')) throw bad('credentials in the URL are not supported');
  const container = m[1];
  if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(container)) {
    throw bad(`"${container}" is not a container name (3-63 lowercase letters, digits and dashes)`);
  }
  return { container, prefix: normalizePrefix(decodeURIComponent(m[2] ?? '')) };
}

interface RestErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  response?: { headers?: { get(name: string): string | undefined } };
}

export class AzureBackend implements Backend {
  readonly location: string;
  readonly capabilities = CAPABILITIES;
  private readonly container: ContainerClient;
  private readonly containerName: string;
  private readonly prefix: string;
  private readonly blockSize: number;
  /** The blob service, named in connection failures (the location names only the container). */
  private readonly endpoint: string;

  constructor(
    url: string,
    private readonly options: AzureBackendOptions = {},
  ) {
    const { container, prefix } = parseAzureUrl(url);
    this.containerName = container;
    this.prefix = prefix;
    this.location = `azure://${container}${prefix ? `/${prefix}` : ''}`;
    this.blockSize = Math.max(MiB, parseByteSize(options.settings?.block_size ?? DEFAULT_BLOCK_SIZE));
    this.container = serviceClient(
      options.settings ?? {},
      options.env ?? process.env,
      this.location,
      options.timeouts ?? {},
    ).getContainerClient(container);
    this.endpoint = new URL(this.container.url).origin;
  }

  private blob(h: FileHandle) {
    checkName(h, 'storage:azure');
    return this.container.getBlockBlobClient(joinKey(this.prefix, relativeKey(h)));
  }

  async create(): Promise<void> {
    if (this.options.settings?.create_container !== false) {
      try {
        await this.container.createIfNotExists();
      } catch (err) {
        // A SAS scoped to the container may not create it; the config check below tells.
        if (statusOf(err) !== 403) throw this.error(err, 'create', `container ${this.containerName}`);
      }
    }
    let exists = true;
    try {
      await this.blob({ type: 'config', name: 'config' }).getProperties();
    } catch (err) {
      if (statusOf(err) !== 404) throw this.error(err, 'create', 'config');
      if (codeOf(err) === 'ContainerNotFound') {
        throw new LifeboatError(
          'storage_failed',
          `[storage:azure] container "${this.containerName}" does not exist at ${this.location} (create it, or allow repository.azure.create_container)`,
        );
      }
      exists = false;
    }
    if (exists) {
      throw new LifeboatError(
        'repo_exists',
        `[storage:azure] a repository already exists at ${this.location} (use it, or choose another prefix)`,
      );
    }
  }

  async save(h: FileHandle, data: Buffer): Promise<void> {
    const blob = this.blob(h);
    try {
      if (data.length <= this.blockSize) {
        await blob.upload(data, data.length, { blobHTTPHeaders: { blobContentMD5: md5(data) } });
        return;
      }
      // Block ids are per upload: a failed attempt's uncommitted blocks are dropped by the
      // service after a week and never mix with a retry's.
      const run = randomBytes(6).toString('hex');
      const count = Math.ceil(data.length / this.blockSize);
      const ids = Array.from({ length: count }, (_, i) =>
        Buffer.from(`${run}-${String(i).padStart(6, '0')}`).toString('base64'),
      );
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const body = data.subarray(i * this.blockSize, Math.min(data.length, (i + 1) * this.blockSize));
          await blob.stageBlock(ids[i], body, body.length, { transactionalContentMD5: md5(body) });
        }
      };
      await Promise.all(Array.from({ length: Math.min(BLOCK_CONCURRENCY, count) }, worker));
      await blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentMD5: md5(data) } });
    } catch (err) {
      throw this.error(err, 'write', objectName(h));
    }
  }

  // Conditional writes use the blob's ETag: If-None-Match '*' creates, If-Match replaces.
  // Only small objects (leases) are written so: one Put Blob, never a block list.

  async createIfAbsent(h: FileHandle, data: Buffer): Promise<string | undefined> {
    try {
      const r = await this.blob(h).upload(data, data.length, {
        blobHTTPHeaders: { blobContentMD5: md5(data) },
        conditions: { ifNoneMatch: '*' },
      });
      return r.etag;
    } catch (err) {
      if (statusOf(err) === 409 || statusOf(err) === 412) return undefined;
      throw this.error(err, 'write', objectName(h));
    }
  }

  async loadVersioned(h: FileHandle): Promise<VersionedObject> {
    try {
      const r = await this.blob(h).download(0, undefined, { maxRetryRequests: 0 });
      if (!r.etag) throw new Error('download returned no ETag');
      return { data: await readAll(r.readableStreamBody), version: r.etag };
    } catch (err) {
      throw this.error(err, 'read', objectName(h));
    }
  }

  async replaceIfVersion(h: FileHandle, data: Buffer, version: string): Promise<string | undefined> {
    try {
      const r = await this.blob(h).upload(data, data.length, {
        blobHTTPHeaders: { blobContentMD5: md5(data) },
        conditions: { ifMatch: version },
      });
      return r.etag;
    } catch (err) {
      if (statusOf(err) === 412 || statusOf(err) === 404) return undefined;
      throw this.error(err, 'write', objectName(h));
    }
  }

  async load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    const blob = this.blob(h);
    const start = rangeStart('storage:azure', h, offset, length);
    let want = length;
    if (offset !== undefined && (want === undefined || want === 0)) {
      // count 0 means "to the end" to the SDK; the size says whether the range is in bounds.
      const size = (await this.stat(h)).size;
      if (start > size) throw this.short(h, start, want ?? 0, size);
      want ??= size - start;
      if (want === 0) return Buffer.alloc(0);
    }
    try {
      const r = await blob.download(start, want, { maxRetryRequests: 0 });
      const buf = await readAll(r.readableStreamBody);
      if (want !== undefined && buf.length !== want) throw this.short(h, start, want, start + buf.length);
      return buf;
    } catch (err) {
      if (err instanceof LifeboatError) throw err;
      if (statusOf(err) === 416 || codeOf(err) === 'InvalidRange') {
        throw this.short(h, start, want ?? 0, (await this.stat(h)).size);
      }
      throw this.error(err, 'read', objectName(h));
    }
  }

  private short(h: FileHandle, offset: number, length: number, size: number): LifeboatError {
    return tooShort('storage:azure', h, this.location, offset, length, size);
  }

  async stat(h: FileHandle): Promise<FileInfo> {
    try {
      const p = await this.blob(h).getProperties();
      return { name: h.type === 'config' ? 'config' : h.name, size: p.contentLength ?? 0 };
    } catch (err) {
      throw this.error(err, 'stat', objectName(h));
    }
  }

  async remove(h: FileHandle): Promise<void> {
    try {
      await this.blob(h).deleteIfExists();
    } catch (err) {
      if (statusOf(err) === 404) return; // the container is gone: so is the object
      throw this.error(err, 'remove', objectName(h));
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
    const pages = this.container
      .listBlobsFlat({ prefix: base + typePrefix(type) })
      .byPage({ maxPageSize: this.options.settings?.page_size ?? 5000 });
    const it = pages[Symbol.asyncIterator]();
    for (;;) {
      let page: Awaited<ReturnType<typeof it.next>>;
      try {
        page = await it.next();
      } catch (err) {
        if (codeOf(err) === 'ContainerNotFound') return;
        throw this.error(err, 'list', `${type} objects`);
      }
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        if (!item.name.startsWith(base)) continue;
        const name = nameFromListedKey(type, item.name.slice(base.length));
        if (name) {
          yield { name, size: item.properties.contentLength ?? 0, modified: item.properties.lastModified };
        }
      }
    }
  }

  async close(): Promise<void> {}

  private error(err: unknown, op: Operation, what: string): LifeboatError {
    const status = statusOf(err);
    const code = codeOf(err);
    const verb = op === 'create' ? `unable to create a repository (${what})` : `unable to ${op} ${what}`;
    const where = `[storage:azure] ${verb} at ${this.location}`;
    if (status === 404 && op !== 'create') {
      if (code === 'ContainerNotFound') {
        return new LifeboatError(
          op === 'write' ? 'storage_failed' : 'not_found',
          `${where}: container "${this.containerName}" does not exist (check the URL and the account, or run \`lifeboat init\`)`,
          { cause: err },
        );
      }
      return new LifeboatError('not_found', `[storage:azure] ${what} not found at ${this.location}`, {
        cause: err,
      });
    }
    if (status === 403 || status === 401) {
      return new LifeboatError(
        'storage_failed',
        `${where}: access denied${code ? ` (${code})` : ''} (check the account key or the SAS token: its permissions, expiry and allowed IPs)`,
        { cause: err },
      );
    }
    const retryable =
      isRetryableStatus(status) || isRetryableName(code) || (status === undefined && isNetworkError(err));
    const retryAfterMs = parseRetryAfter((err as RestErrorShape).response?.headers?.get('retry-after'));
    const detail = [status ? `HTTP ${status}` : '', code ?? '', status ? '' : shortMessage(err)]
      .filter(Boolean)
      .join(' ');
    const next = retryable
      ? 'check the endpoint and the network; retrying may help'
      : 'check the settings in repository.azure';
    const via = retryable ? ` (endpoint ${this.endpoint})` : '';
    return storageError('storage_failed', `${where}${via}: ${detail || 'request failed'} (${next})`, {
      cause: err,
      retryable,
      retryAfterMs,
    });
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as RestErrorShape | undefined)?.statusCode;
}

function codeOf(err: unknown): string | undefined {
  const c = (err as RestErrorShape | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** Network failures' messages (no status) name hosts and errno codes, never credentials. */
function shortMessage(err: unknown): string {
  const m = describe(err)
    .split('\n')[0]
    .replace(/sig=[^&\s]*/gi, 'sig=redacted');
  return m.length > 200 ? `${m.slice(0, 200)}...` : m;
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (!stream) throw new Error('download returned no body');
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(typeof part === 'string' ? Buffer.from(part) : part);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

function md5(data: Buffer): Uint8Array {
  return createHash('md5').update(data).digest();
}

function serviceClient(
  settings: AzureSettings,
  env: NodeJS.ProcessEnv,
  location: string,
  timeouts: TransportTimeouts,
): BlobServiceClient {
  const connectionString = settings.connection_string ?? env.AZURE_STORAGE_CONNECTION_STRING;
  const account = settings.account ?? env.AZURE_STORAGE_ACCOUNT;
  const endpoint = (settings.endpoint ?? (account ? `https://${account}.blob.core.windows.net` : '')).replace(
    /\/+$/,
    '',
  );
  const usesConnectionString = !(settings.key || settings.sas) && !!connectionString;
  const secure = usesConnectionString
    ? connectionStringIsHttps(connectionString ?? '')
    : !/^http:/i.test(endpoint);
  const pipeline = {
    retryOptions: { maxTries: 1, tryTimeoutInMs: timeouts.requestMs },
    // Passed through to the core pipeline's agent policy: the SDK has no idle limit of its own.
    agent: idleAgent(secure, timeouts),
  } as StoragePipelineOptions;
  try {
    if (settings.key || settings.sas || !connectionString) {
      const key = settings.key ?? (settings.sas ? undefined : env.AZURE_STORAGE_KEY);
      const sas = (settings.sas ?? (key ? undefined : env.AZURE_STORAGE_SAS_TOKEN))?.replace(/^\?/, '');
      if (account && key) {
        return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key), pipeline);
      }
      if (endpoint && sas) return new BlobServiceClient(`${endpoint}?${sas}`, undefined, pipeline);
      if (!connectionString) {
        throw new LifeboatError(
          'usage',
          `[storage:azure] no credentials for ${location}: set AZURE_STORAGE_CONNECTION_STRING, or repository.azure.account with key or sas (or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN)`,
        );
      }
    }
    return BlobServiceClient.fromConnectionString(connectionString, pipeline);
  } catch (err) {
    if (err instanceof LifeboatError) throw err;
    // The SDK's message may quote the connection string: never pass it on.
    throw new LifeboatError(
      'usage',
      `[storage:azure] the Azure credentials for ${location} are not usable (check the connection string, account name, key or SAS format)`,
    );
  }
}

export function createAzureBackend(url: string, options: AzureBackendOptions = {}): Backend {
  return new AzureBackend(url, options);
}
