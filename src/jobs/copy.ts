/**
 * @module jobs/copy
 * `lifeboat copy`: the repository's copy (repo/maintenance/copy.ts), finding the snapshots
 * named by reference as every other command does (jobs/snapshot-select.ts).
 */
import { type CopyOutcome, type CopyRequest, copyRepository } from '../repo/maintenance/copy.js';
import type { Repository } from '../repo/repository.js';
import { findSnapshot } from './snapshot-select.js';

export type { CopiedFrom, CopyOutcome, CopyRequest, CopyResult } from '../repo/maintenance/copy.js';

export function runCopy(src: Repository, dst: Repository, req: CopyRequest): Promise<CopyOutcome> {
  return copyRepository(src, dst, req, (ref) => findSnapshot(src, ref));
}
