/**
 * @module jobs/snapshot-tag
 * Changing a snapshot's tags. Snapshot files are immutable and named by their hash, so the
 * snapshot is written anew with the new tags (its old id kept in `previousIds`, so the old
 * id still finds it) and then the old file is removed, under a shared lock as forget takes.
 * Killed between the two, both files name the same backup; the next tag or forget settles it.
 */
import type { Repository } from '../repo/repository.js';
import { findSnapshot } from './snapshot-select.js';

export interface TagOutcome {
  /** The snapshot's id before; equal to `id` when nothing changed. */
  previousId: string;
  id: string;
  tags: string[];
  changed: boolean;
}

export async function tagSnapshot(
  repo: Repository,
  ref: string,
  change: { add: readonly string[]; remove: readonly string[]; source?: string },
): Promise<TagOutcome> {
  const lock = await repo.lock(false, 'tag');
  try {
    const { id, snapshot } = await findSnapshot(repo, ref, change.source);
    const drop = new Set(change.remove);
    const tags = [...new Set([...snapshot.tags.filter((t) => !drop.has(t)), ...change.add])];
    const same = tags.length === snapshot.tags.length && tags.every((t, i) => t === snapshot.tags[i]);
    if (same) return { previousId: id, id, tags, changed: false };
    const previousIds = [...(snapshot.previousIds ?? []), id];
    const next = await repo.saveSnapshot({ ...snapshot, tags, previousIds });
    await repo.removeSnapshot(id);
    return { previousId: id, id: next, tags, changed: true };
  } finally {
    await lock.release().catch(() => {});
  }
}
