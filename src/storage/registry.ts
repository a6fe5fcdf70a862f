/**
 * @module storage/registry
 * Opens the backend a repository URL names, by scheme: `file:///abs/path` or a plain path
 * is local; s3, azure and sftp have slots here for their backends.
 */
import { fileURLToPath } from 'node:url';
import { LifeboatError } from '../errors.js';
import type { Backend } from './backend.js';
import { createLocalBackend } from './local/local-backend.js';

/** Makes a backend from the full URL (the scheme has already been matched). */
type BackendFactory = (url: string) => Backend;

function notYet(scheme: string): BackendFactory {
  return () => {
    throw new LifeboatError(
      'usage',
      `[storage] ${scheme}:// repositories are not supported in this build yet; use a local path`,
    );
  };
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

const SCHEMES: Record<string, BackendFactory> = {
  file: openFileUrl,
  s3: notYet('s3'),
  azure: notYet('azure'),
  sftp: notYet('sftp'),
};

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** The backend for a repository URL or path; relative paths resolve against the working directory. */
export function openBackend(url: string): Backend {
  if (url.trim() === '') {
    throw new LifeboatError('usage', '[storage] empty repository URL (set repository.url or LIFEBOAT_REPO)');
  }
  const match = SCHEME.exec(url);
  if (!match) return createLocalBackend(url);
  const scheme = match[1].toLowerCase();
  const factory = SCHEMES[scheme];
  if (!factory) {
    const known = Object.keys(SCHEMES)
      .map((s) => `${s}://`)
      .join(', ');
    throw new LifeboatError(
      'usage',
      `[storage] unknown repository scheme ${scheme}:// in ${redactUrl(url)} (use a local path or one of ${known})`,
    );
  }
  return factory(url);
}

/**
 * The URL without secrets, for messages and logs: drops `user:password@` and any user info
 * but an sftp login name (sftp://backup@host stays), and replaces every query value, which
 * may be a SAS token or a signature. Plain paths come back unchanged.
 */
export function redactUrl(url: string): string {
  const match = SCHEME.exec(url);
  if (!match) return url;
  const prefix = match[0];
  let rest = url.slice(prefix.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  const sshUser = match[1].toLowerCase() === 'sftp' && !authority.slice(0, at).includes(':');
  if (at >= 0 && !sshUser) rest = rest.slice(at + 1);
  const query = rest.indexOf('?');
  if (query >= 0) {
    const hash = rest.indexOf('#', query);
    const end = hash < 0 ? rest.length : hash;
    const params = rest
      .slice(query + 1, end)
      .split('&')
      .map((p) => (p.includes('=') ? `${p.slice(0, p.indexOf('='))}=redacted` : p));
    rest = `${rest.slice(0, query + 1)}${params.join('&')}${rest.slice(end)}`;
  }
  return prefix + rest;
}
