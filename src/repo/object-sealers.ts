/**
 * @module repo/object-sealers
 * Worker threads that seal an archived object's frames (object-archive.ts) in parallel, for
 * callers outside repo/ that must not build seal pools themselves. Kept apart from the
 * archive so the seal worker, which opens archived objects, imports no pool.
 */
import { availableParallelism } from 'node:os';
import type { KeyRing } from './crypto.js';
import { ARCHIVE_ZSTD_LEVEL, type FrameSealer } from './object-archive.js';
import { SealPool } from './seal-pool.js';

/** Frame sealers that hold worker threads until closed. */
export interface ObjectSealers extends FrameSealer {
  close(): Promise<void>;
}

/** Sealers for `keys`: the main thread only reads, so every core (up to 4) compresses. */
export function objectSealers(keys: KeyRing): ObjectSealers {
  return new SealPool(keys.sealSpec, ARCHIVE_ZSTD_LEVEL, Math.max(1, Math.min(4, availableParallelism())));
}
