/**
 * @module catalog/catalog-rebuild
 * The repository is the source of truth: every snapshot it holds that no job in the catalog
 * names becomes a succeeded backup job marked `rebuilt` (a lost catalog, or backups taken
 * with the CLI while no server ran). Idempotent.
 */
import type { SnapshotEntry } from '../repo/snapshot.js';
import type { Catalog, JobRecord } from './catalog.js';

/** The configured source a snapshot belongs to: a unit "app-db/sales" belongs to "app-db". */
export function configuredSourceOf(snapshotSource: string): string {
  return snapshotSource.split('/')[0];
}

/** Adds a rebuilt job for each snapshot the catalog does not know; returns how many. */
export function syncFromSnapshots(catalog: Catalog, entries: readonly SnapshotEntry[]): number {
  const known = catalog.knownSnapshots();
  const missing = entries.filter((e) => !known.has(e.id));
  if (missing.length === 0) return 0;
  const jobs: Omit<JobRecord, 'id' | 'snapshot'>[] = missing.map(({ id, snapshot: s }) => {
    const started = new Date(s.time);
    const finished = new Date(started.getTime() + (s.backup?.durationMs ?? 0));
    return {
      kind: 'backup',
      source: configuredSourceOf(s.source),
      trigger: 'rebuilt',
      status: 'succeeded',
      created_at: s.time,
      started_at: s.time,
      finished_at: finished.toISOString(),
      bytes_read: s.backup?.bytesRead ?? (typeof s.stats.bytes === 'number' ? s.stats.bytes : null),
      bytes_stored: s.backup?.bytesAdded ?? null,
      snapshots: [id],
      error: null,
      requested_by: null,
      approved_by: null,
      params: { tags: s.tags, unit: s.source },
      result: null,
      rebuilt: true,
      retry_of: null,
      owner: null,
    };
  });
  return catalog.insertFinishedJobs(jobs);
}
