/**
 * @module jobs/restore-verify
 * Whether a restore gave back what its snapshot holds: the counts the snapshot recorded
 * (files, rows per table, keys per database, documents per collection) against what the
 * restore reports it wrote. One function, so that when the engines declare their statistics
 * and verification as data, this is the one place that changes.
 */
import type { Snapshot } from '../repo/snapshot.js';
import type { RestoreResult } from '../sources/source.js';
import { countChecks, type DrillCheckResult } from './drill.js';

export function verifyRestored(snapshot: Snapshot, result: RestoreResult): DrillCheckResult[] {
  return countChecks(snapshot.stats, result.stats, snapshot.engine);
}
