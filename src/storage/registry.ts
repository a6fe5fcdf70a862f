/**
 * @module storage/registry
 * Opens the backend a repository URL names, by scheme: `file:///abs/path` or a plain path is
 * local; `s3://bucket/prefix`, `azure://container/prefix` and `sftp://user@host[:port]/path`
 * are remote. Remote backends are wrapped with timeouts, retries and a circuit breaker
 * (retry-backend); any backend gets bandwidth limits when asked (limit-backend). Each remote
 * scheme's settings schema (the `repository.<scheme>` section of the config) is listed in
 * settings-schemas.ts, which only the config parser imports: opening a repository loads no
 * zod. Adding a backend means its folder, one entry here and one there.
 */
import { fileURLToPath } from 'node:url';
import { LifeboatError } from '../errors.js';
import type { Backend } from './backend.js';
import { withLimits } from './limit-backend.js';
import { createLocalBackend } from './local/local-backend.js';
import { redactUrl } from './redact-url.js';
import type { StorageOptions, TransportTimeouts } from './storage-options.js';

export { redactUrl } from './redact-url.js';
export type { StorageOptions } from './storage-options.js';

interface Scheme {
  /**
   * Makes a backend from the full URL (the scheme has already been matched). Cloud SDKs are
   * imported only when their scheme is used: together they cost ~40 MiB and ~0.3 s at start.
   */
  open(url: string, options: StorageOptions): Backend | Promise<Backend>;
  /** Talks over a network: gets the retry wrapper. */
  remote: boolean;
}

function openFileUrl(url: string): Backend {
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (err) {
    throw new LifeboatError(
      'usage',
      `[storage] invalid file URL ${redactUrl(url)} (use file:///absolute/path or a plain path)`,
      { cause: err },
    );
  }
  return createLocalBackend(path);
}

/** The connect, idle and request limits a remote backend's transport gets from the retry policy. */
async function transportTimeouts(options: StorageOptions): Promise<TransportTimeouts> {
  if (options.retry === false) return {};
  const p = (await import('./retry-backend.js')).effectiveRetryPolicy(options.retry ?? {});
  const limit = (ms: number) => (ms > 0 ? ms : undefined);
  return {
    connectMs: limit(p.connectTimeoutMs),
    idleMs: limit(p.idleTimeoutMs),
    requestMs: limit(p.timeoutMs),
  };
}

const SCHEMES = {
  file: { open: openFileUrl, remote: false },
  s3: {
    open: async (url, o) =>
      (await import('./s3/s3-backend.js')).createS3Backend(url, {
        settings: o.s3,
        env: o.env,
        timeouts: await transportTimeouts(o),
      }),
    remote: true,
  },
  azure: {
    open: async (url, o) =>
      (await import('./azure/azure-backend.js')).createAzureBackend(url, {
        settings: o.azure,
        env: o.env,
        timeouts: await transportTimeouts(o),
      }),
    remote: true,
  },
  sftp: {
    open: async (url, o) =>
      (await import('./sftp/sftp-backend.js')).createSftpBackend(url, {
        settings: o.sftp,
        env: o.env,
        timeouts: await transportTimeouts(o),
      }),
    remote: true,
  },
} satisfies Record<string, Scheme>;

function schemeOf(name: string): Scheme | undefined {
  return Object.hasOwn(SCHEMES, name) ? (SCHEMES as Record<string, Scheme>)[name] : undefined;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** The backend for a repository URL or path; relative paths resolve against the working directory. */
export async function openBackend(url: string, options: StorageOptions = {}): Promise<Backend> {
  if (url.trim() === '') {
    throw new LifeboatError('usage', '[storage] empty repository URL (set repository.url or LIFEBOAT_REPO)');
  }
  const match = SCHEME.exec(url);
  let backend: Backend;
  if (!match) backend = createLocalBackend(url);
  else {
    const scheme = schemeOf(match[1].toLowerCase());
    if (!scheme) {
      const known = Object.keys(SCHEMES)
        .map((s) => `${s}://`)
        .join(', ');
      throw new LifeboatError(
        'usage',
        `[storage] unknown repository scheme ${match[1].toLowerCase()}:// in ${redactUrl(url)} (use a local path or one of ${known})`,
      );
    }
    backend = await scheme.open(url, options);
    // Loaded here: the retry wrapper's library is for remote stores only.
    if (scheme.remote && options.retry !== false)
      backend = (await import('./retry-backend.js')).withRetries(backend, options.retry ?? {});
  }
  return withLimits(backend, {
    uploadBytesPerSecond: options.limitUploadBytesPerSecond,
    downloadBytesPerSecond: options.limitDownloadBytesPerSecond,
  });
}

/** True when the URL names a store reached over the network (s3, azure, sftp). */
export function isRemoteUrl(url: string): boolean {
  const match = SCHEME.exec(url);
  return !!match && !!schemeOf(match[1].toLowerCase())?.remote;
}
