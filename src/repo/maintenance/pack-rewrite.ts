/**
 * @module repo/maintenance/pack-rewrite
 * The write order prune and repair share (docs/format.md, invariant 5): blobs copied into
 * new packs, then one fresh set of index files naming every pack kept, then the old index
 * files, then the old packs. A crash between steps leaves extra, never missing, data.
 */
import type { IndexedPack } from '../index-file.js';
import type { PackEntry } from '../pack.js';
import { partsOf } from '../repo-parts.js';
import type { Repository } from '../repository.js';

/** The loaded index's entries grouped by pack. */
export function entriesByPack(repo: Repository): Map<string, PackEntry[]> {
  const byPack = new Map<string, PackEntry[]>();
  for (const e of partsOf(repo).index.entries()) {
    const list = byPack.get(e.pack) ?? [];
    list.push(e);
    byPack.set(e.pack, list);
  }
  return byPack;
}

/**
 * Copies `entries` of `pack` into new packs (uncommitted until commitRewrite). Without
 * `onDamaged` a blob that does not open fails the copy; with it, the blob is reported and
 * skipped (repair salvages what opens). With `write` false, blobs are only opened (a dry
 * run). Returns the pack's size.
 */
export async function copyBlobs(
  repo: Repository,
  pack: string,
  entries: readonly PackEntry[],
  onDamaged?: (entry: PackEntry, err: unknown) => void,
  write = true,
): Promise<number> {
  const parts = partsOf(repo);
  const data = await parts.backend.load({ type: 'pack', name: pack });
  for (const e of entries) {
    let plain: Buffer;
    try {
      plain = parts.reader.openEntry({ ...e, pack }, data.subarray(e.offset, e.offset + e.length));
    } catch (err) {
      if (!onDamaged) throw err;
      onDamaged(e, err);
      continue;
    }
    if (write) await parts.writer.rewriteBlob(e.type, e.id, plain);
  }
  return data.length;
}

/**
 * Commits a rewrite: uploads the copied blobs' packs, writes index files naming `keep` and
 * them, then removes `oldIndexes` (those not written again) and `dropPacks`, in that order.
 * The caller set `parts.writer.deferIndex` before copying. Returns the index files written.
 */
export async function commitRewrite(
  repo: Repository,
  keep: readonly IndexedPack[],
  oldIndexes: readonly string[],
  dropPacks: readonly string[],
): Promise<string[]> {
  await repo.flush();
  const fresh = partsOf(repo).writer.takeUnindexed();
  const written = await partsOf(repo).writer.writeIndexFiles([...keep, ...fresh]);
  // The new index is durable: the old ones, then the packs they alone named, can go.
  // Under retention an old index may outlive this run: its entries repeat the new index's.
  for (const name of oldIndexes) if (!written.includes(name)) await removeUnlessRetained(repo, 'index', name);
  for (const pack of dropPacks) await removeUnlessRetained(repo, 'pack', pack);
  return written;
}

export async function removeUnlessRetained(
  repo: Repository,
  type: 'index' | 'pack' | 'wal' | 'snapshot',
  name: string,
): Promise<void> {
  try {
    await partsOf(repo).removeFile(type, name);
  } catch (err) {
    // Left behind: an orphan pack is adopted by the next backup, an old index is redundant.
    if ((err as { code?: string }).code !== 'retained') throw err;
  }
}
