/**
 * @module catalog/backup-outcomes
 * Each source's newest finished backup and newest failure, as both catalogs return them
 * (CatalogStore.lastBackupOutcomes): grouped here from the rows of their one query.
 */

/** A source's newest finished backup job and its newest failed one. */
export interface Outcomes<J> {
  finished?: J;
  failure?: J;
}

/** Jobs tagged with the outcome they stand for, grouped by their source. */
export function outcomesBySource<J extends { source: string | null }>(
  rows: ['finished' | 'failure', J][],
): Map<string, Outcomes<J>> {
  const out = new Map<string, Outcomes<J>>();
  for (const [outcome, job] of rows) {
    const source = job.source as string;
    const slot = out.get(source) ?? {};
    slot[outcome] = job;
    out.set(source, slot);
  }
  return out;
}
