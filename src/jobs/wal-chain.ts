/**
 * @module jobs/wal-chain
 * The archived WAL of PostgreSQL physical sources as check and prune see it: which source
 * each WAL object belongs to, which ones no kept base backup needs, and gaps in the chain.
 */

import type { ArchivedObject } from '../repo/object-archive.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotEntry } from '../repo/snapshot.js';
import { segmentNumber } from '../sources/postgres/wal-names.js';

export interface SourceWal {
  source: string;
  /** Oldest start segment of the source's base backups (undefined without one). */
  start?: string;
  files: ArchivedObject[];
}

/**
 * Archived WAL grouped by the physical sources the snapshots name; WAL of a tag no
 * snapshot names (a source whose base backups are all gone, or never made) is `orphans`.
 */
export async function walBySource(
  repo: Repository,
  snapshots: readonly SnapshotEntry[],
): Promise<{ sources: SourceWal[]; orphans: ArchivedObject[] }> {
  const all = await repo.listArchivedObjects();
  const sources: SourceWal[] = [];
  const names = new Set(
    snapshots.filter((e) => e.snapshot.kind === 'physical').map((e) => e.snapshot.source),
  );
  for (const source of names) {
    const tag = repo.archiveTag(source);
    const start = snapshots
      .filter((e) => e.snapshot.source === source && e.snapshot.kind === 'physical')
      .map((e) => String(e.snapshot.meta.startWal ?? ''))
      .filter((n) => n.length === 24)
      .sort((a, b) => a.slice(8).localeCompare(b.slice(8)))[0];
    sources.push({ source, start, files: all.get(tag) ?? [] });
    all.delete(tag);
  }
  return { sources, orphans: [...all.values()].flat() };
}

/**
 * WAL no base backup can use: segments (and their .partial and .backup files) before the
 * oldest base backup's start segment. History files stay (they are tiny and recovery reads
 * every one of them to pick a timeline).
 */
export function expiredWal(wal: SourceWal): ArchivedObject[] {
  if (!wal.start) return [];
  const from = segmentNumber(wal.start) as number;
  return wal.files.filter((f) => {
    const pos = segmentNumber(f.name);
    return pos !== undefined && pos < from;
  });
}
