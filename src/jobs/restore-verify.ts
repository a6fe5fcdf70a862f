/**
 * @module jobs/restore-verify
 * Whether a restore gave back what its snapshot holds: the counts the snapshot recorded
 * (files, rows per table, keys per database, documents per collection) against what the
 * restore reports it wrote: the statistics the engine declares a drill compares.
 */
import type { Snapshot } from '../repo/snapshot.js';
import type { RestoreResult } from '../sources/source.js';
import { countChecks, countedStats, type DrillCheckResult } from './drill.js';

export function verifyRestored(snapshot: Snapshot, result: RestoreResult): DrillCheckResult[] {
  return countChecks(snapshot.stats, result.stats, countedStats(snapshot.engine));
}
