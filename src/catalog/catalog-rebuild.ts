/**
 * @module catalog/catalog-rebuild
 * The repository is the source of truth: every snapshot it holds that no job in the catalog
 * names becomes a succeeded backup job marked `rebuilt` (a lost catalog, or backups taken
 * with the CLI while no server ran). Idempotent.
 */
import type { SnapshotEntry } from '../repo/snapshot.js';
import { runsOf, runTotals } from '../sources/source-units.js';
import type { JobRecord } from './catalog.js';
import type { CatalogStore } from './catalog-store.js';

/**
 * Adds a rebuilt job for each run of snapshots the catalog does not know (the units of one
 * run make one job, as when the server runs it); returns how many.
 */
export async function syncFromSnapshots(
  catalog: CatalogStore,
  entries: readonly SnapshotEntry[],
): Promise<number> {
  const known = await catalog.knownSnapshots();
  const missing = entries.filter((e) => !known.has(e.id));
  if (missing.length === 0) return 0;
  const jobs: Omit<JobRecord, 'id' | 'snapshot'>[] = runsOf(missing).map((run) => {
    const first = run.entries[0].snapshot;
    const totals = runTotals(run);
    const stats = first.stats.bytes;
    return {
      kind: 'backup',
      source: run.source,
      trigger: 'rebuilt',
      status: 'succeeded',
      created_at: run.time,
      started_at: run.time,
      finished_at: totals.finished,
      bytes_read: first.backup ? totals.bytesRead : typeof stats === 'number' ? stats : null,
      bytes_stored: first.backup ? totals.bytesAdded : null,
      snapshots: run.entries.map((e) => e.id),
      error: null,
      requested_by: null,
      approved_by: null,
      params: { tags: first.tags, units: run.entries.map((e) => e.snapshot.source) },
      result: null,
      rebuilt: true,
      retry_of: null,
      owner: null,
    };
  });
  return catalog.insertFinishedJobs(jobs);
}
