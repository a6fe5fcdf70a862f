/**
 * @module repo/repo-parts
 * The parts behind the Repository facade (storage, keys, the loaded index, the pack writer
 * and the blob reader), for the repository's own modules: maintenance works on them
 * directly. Private to repo/: code outside gets the facade's narrow methods instead.
 */
import type { Backend, FileType } from '../storage/backend.js';
import type { BlobIndex } from './blob-index.js';
import type { BlobReader } from './blob-reader.js';
import type { KeyRing } from './crypto.js';
import type { KeyStore } from './key-store.js';
import type { PackWriter } from './pack-writer.js';

export interface RepoParts {
  readonly backend: Backend;
  readonly keys: KeyStore;
  /** The current key ring (a rotation replaces it). */
  readonly key: KeyRing;
  /** The loaded index (resetIndex replaces it). */
  readonly index: BlobIndex;
  readonly writer: PackWriter;
  readonly reader: BlobReader;
  /** Forgets the loaded index (before reloading it under a new lock). */
  resetIndex(): void;
  /** Removes a file of any type; for prune and repair. */
  removeFile(type: FileType, name: string): Promise<void>;
}

/** Set by each Repository on construction (keyed by the facade, which this module does not import). */
const parts = new WeakMap<object, RepoParts>();

export function registerParts(repo: object, p: RepoParts): void {
  parts.set(repo, p);
}

export function partsOf(repo: object): RepoParts {
  const p = parts.get(repo);
  if (!p) throw new Error('[repo] not a repository opened by Repository.open or init');
  return p;
}
