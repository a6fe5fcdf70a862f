/**
 * @module storage/layout
 * Where each object lives below a repository root, for the remote backends (s3, azure, sftp).
 * It is the local backend's layout, so a repository can be moved between a folder and a
 * bucket with ordinary tools (`aws s3 sync`, `azcopy`, `rsync`) and opened from either:
 * `config`, `keys/<name>`, `locks/<name>`, `snapshots/<name>`, `index/<name>`, `wal/<name>`,
 * `data/<first two chars>/<name>`.
 */
import { LifeboatError } from '../errors.js';
import type { FileHandle, FileType } from './backend.js';

export const TYPE_DIRS: Record<Exclude<FileType, 'config'>, string> = {
  key: 'keys',
  lock: 'locks',
  snapshot: 'snapshots',
  index: 'index',
  pack: 'data',
  wal: 'wal',
};

/** `pack 3fa2c1e9`: what messages call an object. */
export function objectName(h: FileHandle): string {
  return h.type === 'config' ? 'config' : `${h.type} ${h.name.slice(0, 8)}`;
}

/** Refuses names that could escape their folder or collide with temp files. */
export function checkName(h: FileHandle, component: string): void {
  if (h.type === 'config') return;
  const n = h.name;
  if (n.length < 2 || n.startsWith('.') || n.includes('/') || n.includes('\\') || n.includes('\0')) {
    throw new LifeboatError(
      'internal',
      `[${component}] invalid object name ${JSON.stringify(n)} for ${h.type}`,
    );
  }
}

/** The object's path relative to the repository root, '/'-separated. */
export function relativeKey(h: FileHandle): string {
  if (h.type === 'config') return 'config';
  if (h.type === 'pack') return `data/${h.name.slice(0, 2)}/${h.name}`;
  return `${TYPE_DIRS[h.type]}/${h.name}`;
}

/** The folder (relative, with a trailing '/') whose listing holds every object of `type`. */
export function typePrefix(type: Exclude<FileType, 'config'>): string {
  return `${TYPE_DIRS[type]}/`;
}

/** `prefix` without leading and trailing slashes; '' for the bucket or container root. */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '').replace(/\/{2,}/g, '/');
}

/** Joins a normalized prefix and a relative key. */
export function joinKey(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}/${key}`;
}

/**
 * The object name from a listed key below `typePrefix`, or undefined for keys that are not
 * repository objects of that type (temp files, folders, stray files in deeper folders).
 */
export function nameFromListedKey(type: Exclude<FileType, 'config'>, relative: string): string | undefined {
  const dir = typePrefix(type);
  if (!relative.startsWith(dir)) return undefined;
  const rest = relative.slice(dir.length);
  const parts = rest.split('/');
  if (type === 'pack') {
    if (parts.length !== 2 || parts[0].length !== 2 || !parts[1].startsWith(parts[0])) return undefined;
  } else if (parts.length !== 1) return undefined;
  const name = parts[parts.length - 1];
  if (name.length < 2 || name.startsWith('.')) return undefined;
  return name;
}
