/**
 * @module jobs/repo-stats
 * What the repository holds: stored and raw bytes from the index (each blob once), and per
 * source the size a restore of its snapshots would write. Restore sizes are summed from the
 * trees, each subtree once per id (a folder unchanged between snapshots costs one read).
 */
import { describe } from '../errors.js';
import type { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotEntry } from '../repo/snapshot.js';
import type { WalkProblem } from './snapshot-walk.js';

export interface RawStats {
  packs: number;
  blobs: number;
  treeBlobs: number;
  /** Bytes of the blobs as stored in packs (compressed, encrypted), each blob once; pack headers not counted. */
  storedBytes: number;
  /** The same blobs before compression. */
  rawBytes: number;
  /** rawBytes / storedBytes. */
  compressionRatio: number;
}

export interface SourceSize {
  source: string;
  snapshots: number;
  files: number;
  /** Sum over its snapshots of the bytes a restore writes. */
  restoreBytes: number;
  /** The newest snapshot's restore size. */
  latestBytes: number;
}

export interface RestoreStats {
  snapshots: number;
  restoreBytes: number;
  sources: SourceSize[];
  /** Sum of all snapshots' restore sizes / the raw bytes of the data blobs stored. */
  dedupRatio: number;
}

/** Index totals; the index must be loaded. */
export function rawStats(repo: Repository): RawStats {
  let blobs = 0;
  let treeBlobs = 0;
  let storedBytes = 0;
  let rawBytes = 0;
  const seen = new Set<string>();
  for (const e of repo.storedBlobs()) {
    // A blob stored twice (a repaired or copied pack) counts once.
    const key = e.id.toString('hex');
    if (seen.has(key)) continue;
    seen.add(key);
    blobs++;
    if (e.type === 'tree') treeBlobs++;
    storedBytes += e.length;
    rawBytes += e.rawLength;
  }
  return {
    packs: repo.packCount,
    blobs,
    treeBlobs,
    storedBytes,
    rawBytes,
    compressionRatio: storedBytes > 0 ? rawBytes / storedBytes : 0,
  };
}

/** Raw bytes of the data blobs (file content, dump artifacts), each once. */
function rawDataBytes(repo: Repository): number {
  let n = 0;
  const seen = new Set<string>();
  for (const e of repo.storedBlobs()) {
    const key = e.id.toString('hex');
    if (e.type !== 'data' || seen.has(key)) continue;
    seen.add(key);
    n += e.rawLength;
  }
  return n;
}

/** Restore sizes per source of `snapshots`; folders that do not read are named in `problems`. */
export async function restoreStats(
  repo: Repository,
  store: RepoContentStore,
  snapshots: readonly SnapshotEntry[],
  problems: (WalkProblem & { id: string })[],
): Promise<RestoreStats> {
  const memo = new Map<string, { bytes: number; files: number }>();
  const sizeOf = async (
    tree: string,
    path: string,
    id: string,
  ): Promise<{ bytes: number; files: number }> => {
    const known = memo.get(tree);
    if (known) return known;
    let total = { bytes: 0, files: 0 };
    try {
      for (const n of (await store.loadTree(tree)).nodes) {
        if (n.type === 'file' && !n.hardlinkTo)
          total = { bytes: total.bytes + (n.size ?? 0), files: total.files + 1 };
        if (n.type === 'dir' && n.subtree) {
          const sub = await sizeOf(n.subtree, path ? `${path}/${n.name}` : n.name, id);
          total = { bytes: total.bytes + sub.bytes, files: total.files + sub.files };
        }
      }
    } catch (err) {
      problems.push({ id, path: path || '/', message: `folder listing could not be read: ${describe(err)}` });
      return total; // not memoised: a later snapshot naming it reports it too
    }
    memo.set(tree, total);
    return total;
  };
  const bySource = new Map<string, SourceSize>();
  let restoreBytes = 0;
  for (const { id, snapshot } of snapshots) {
    const size = await sizeOf(snapshot.root, '', id);
    const s = bySource.get(snapshot.source) ?? {
      source: snapshot.source,
      snapshots: 0,
      files: 0,
      restoreBytes: 0,
      latestBytes: 0,
    };
    s.snapshots++;
    s.files += size.files;
    s.restoreBytes += size.bytes;
    s.latestBytes = size.bytes; // oldest first: the last one seen is the newest
    bySource.set(snapshot.source, s);
    restoreBytes += size.bytes;
  }
  const data = rawDataBytes(repo);
  return {
    snapshots: snapshots.length,
    restoreBytes,
    sources: [...bySource.values()].sort((x, y) => x.source.localeCompare(y.source)),
    dedupRatio: data > 0 ? restoreBytes / data : 0,
  };
}
