/**
 * @module repo/maintenance/prune
 * Drops data no snapshot references. Under an exclusive lock: mark every blob reachable
 * from a snapshot, delete packs with nothing used, repack packs that are mostly unused,
 * write one fresh index, then delete the old index files and the dropped packs, in that
 * order, so a crash at any point leaves every snapshot restorable. Archived WAL the caller
 * names as expired (jobs/prune.ts: older than the oldest base backup of its source) goes too.
 */
import { describe, LifeboatError } from '../../errors.js';
import type { Progress } from '../../progress.js';
import { silentProgress } from '../../progress.js';
import { RepoContentStore } from '../content-store.js';
import { writeOnlyError } from '../crypto.js';
import type { IndexedPack } from '../index-file.js';
import type { PackEntry } from '../pack.js';
import { partsOf } from '../repo-parts.js';
import type { Repository } from '../repository.js';
import type { SnapshotEntry } from '../snapshot.js';
import { commitRewrite, copyBlobs, entriesByPack, removeUnlessRetained } from './pack-rewrite.js';

/** A pack whose unused share exceeds this is rewritten. */
const REPACK_UNUSED_RATIO = 0.3;

export interface PruneOutcome {
  packsDeleted: number;
  packsRepacked: number;
  packsKept: number;
  bytesFreed: number;
  blobsUsed: number;
  /** Packs that would go but are under the storage's retention lock (S3 Object Lock): kept. */
  packsRetained: number;
  /** The latest retention date among them. */
  retainedUntil?: string;
  /** Archived WAL files older than every kept base backup's start, removed. */
  walDeleted: number;
  /**
   * Snapshot files that are damaged (lost for good): pruned as if forgotten, so what only
   * they used is freed. The files stay until `lifeboat forget ID` removes them.
   */
  damagedSnapshots: string[];
}

/** An archived WAL object no kept snapshot needs. */
export interface ExpiredWal {
  object: string;
  size: number;
}

export interface PruneOptions {
  dryRun?: boolean;
  progress?: Progress;
  /** The archived WAL that may go, given the snapshots kept; none when absent. */
  expiredWal?: (snapshots: readonly SnapshotEntry[]) => Promise<ExpiredWal[]>;
}

export async function pruneRepository(repo: Repository, options: PruneOptions = {}): Promise<PruneOutcome> {
  const parts = partsOf(repo);
  if (repo.writeOnly) throw writeOnlyError('prune');
  // WAL pushes go on meanwhile (lock.ts): PostgreSQL must not stop archiving for a prune.
  const lock = await repo.lock(true, 'prune', { walAllowed: true });
  try {
    const oldIndexes: string[] = [];
    for await (const f of parts.backend.list('index')) oldIndexes.push(f.name);
    await repo.loadIndex();
    const stored = new Map<string, number>();
    for await (const f of parts.backend.list('pack')) stored.set(f.name, f.size);

    const { used, snapshots, damaged } = await markUsed(repo);
    // Deleting on an incomplete index could drop data a snapshot needs: refuse instead.
    const missing = [...used].filter((id) => !parts.index.has(Buffer.from(id, 'hex')));
    if (missing.length > 0) {
      throw new LifeboatError(
        'repo_corrupt',
        `[prune] ${missing.length} blobs that snapshots use are in no index (first: ${missing[0].slice(0, 8)}), so nothing is deleted (\`lifeboat check\` names the snapshots they affect; \`lifeboat repair index\`, then \`lifeboat repair snapshots --forget\` repairs them)`,
      );
    }
    // Of a blob stored more than once, one copy that verifies is kept; the others count as
    // unused. A false copy (a write-only host's garbage under a known id) so never outlives,
    // nor costs, the genuine one.
    const surplus = await surplusCopies(repo, used);
    const isUsed = (pack: string, e: PackEntry) =>
      used.has(e.id.toString('hex')) && !surplus.has(`${pack}:${e.offset}`);
    const byPack = entriesByPack(repo);

    const keep: IndexedPack[] = [];
    const repack: IndexedPack[] = [];
    const drop: string[] = [];
    for (const pack of stored.keys()) {
      const all = byPack.get(pack) ?? [];
      const usedBytes = all.filter((e) => isUsed(pack, e)).reduce((n, e) => n + e.length, 0);
      // A surplus copy in a pack that stays is left out of the index.
      const entries = all.filter((e) => !surplus.has(`${pack}:${e.offset}`));
      if (usedBytes === 0) drop.push(pack);
      // Judge by blob bytes: a pack's header is overhead, not waste.
      else if (1 - usedBytes / blobBytes(all) > REPACK_UNUSED_RATIO) repack.push({ pack, entries });
      else keep.push({ pack, entries });
    }
    const retention = await holdRetained(repo, drop, repack, keep, byPack);
    const outcome: PruneOutcome = {
      packsDeleted: drop.length,
      packsRepacked: repack.length,
      packsKept: keep.length,
      bytesFreed: [...drop, ...repack.map((p) => p.pack)].reduce((n, p) => n + (stored.get(p) ?? 0), 0),
      blobsUsed: used.size,
      packsRetained: retention.count,
      retainedUntil: retention.until,
      walDeleted: 0,
      damagedSnapshots: damaged,
    };
    const expired = (await options.expiredWal?.(snapshots)) ?? [];
    outcome.walDeleted = expired.length;
    outcome.bytesFreed += expired.reduce((n, f) => n + f.size, 0);
    if (options.dryRun) return outcome;
    for (const f of expired) await removeUnlessRetained(repo, 'wal', f.object);
    // Only WAL objects and locks can be saved under prune's lock: a killed writer's leftovers
    // can go (those of WAL and locks once old, see Backend.removeUnfinished).
    outcome.bytesFreed += (await parts.backend.removeUnfinished?.()) ?? 0;
    if (drop.length === 0 && repack.length === 0) return outcome;

    const progress = options.progress ?? silentProgress;
    progress.start(
      'prune: repack',
      repack.reduce((n, p) => n + (stored.get(p.pack) ?? 0), 0),
    );
    parts.writer.deferIndex = true;
    for (const { pack, entries } of repack) {
      const kept = entries.filter((e) => isUsed(pack, e));
      progress.advance(await copyBlobs(repo, pack, kept));
    }
    progress.done();
    await commitRewrite(repo, keep, oldIndexes, [...drop, ...repack.map((p) => p.pack)]);
    return outcome;
  } finally {
    await lock.release().catch(() => {});
  }
}

/**
 * Ids (hex) of every tree and data blob reachable from any snapshot, the snapshots, and the
 * ids of damaged snapshot files. A damaged snapshot is lost for good (its bytes are wrong,
 * not just unread), so what only it used may go. An unreadable one may read again later
 * and reference anything: then nothing is deleted.
 */
async function markUsed(
  repo: Repository,
): Promise<{ used: Set<string>; snapshots: SnapshotEntry[]; damaged: string[] }> {
  const store = new RepoContentStore(repo);
  const used = new Set<string>();
  const { snapshots, problems } = await repo.scanSnapshots();
  const unreadable = problems.find((p) => p.kind === 'unreadable');
  if (unreadable) {
    throw new LifeboatError(
      'storage_failed',
      `[prune] snapshot ${unreadable.id.slice(0, 8)} cannot be read, so nothing is deleted (what it uses is unknown): ${unreadable.message} (try again; if it persists run \`lifeboat check\`)`,
      { cause: unreadable.error, retryable: true },
    );
  }
  const visit = async (treeId: string): Promise<void> => {
    if (used.has(treeId)) return;
    used.add(treeId);
    let tree: Awaited<ReturnType<typeof store.loadTree>>;
    try {
      tree = await store.loadTree(treeId);
    } catch (err) {
      throw new LifeboatError(
        'repo_corrupt',
        `[prune] tree ${treeId.slice(0, 8)} is unreadable, so nothing is deleted: ${describe(err)} (run \`lifeboat check\`)`,
        { cause: err },
      );
    }
    for (const node of tree.nodes) {
      for (const c of node.content ?? []) used.add(c);
      if (node.subtree) await visit(node.subtree);
    }
  };
  for (const { snapshot } of snapshots) await visit(snapshot.root);
  return { used, snapshots, damaged: problems.map((p) => p.id) };
}

/**
 * Locations (`pack:offset`) of the copies prune may drop: for each used blob stored more than
 * once, every copy but the first that opens and verifies (data-key copies tried first). When
 * none verifies, all stay: nothing of that blob is deleted.
 */
async function surplusCopies(repo: Repository, used: Set<string>): Promise<Set<string>> {
  const surplus = new Set<string>();
  for (const copies of partsOf(repo).index.copies()) {
    const id = copies[0].id;
    if (!used.has(id.toString('hex'))) continue;
    const judged = await partsOf(repo).reader.judgeCopies(id, true);
    const good = judged.find((c) => c.plain);
    if (!good) continue;
    for (const c of judged) if (c !== good) surplus.add(`${c.entry.pack}:${c.entry.offset}`);
  }
  return surplus;
}

/**
 * With a backend that keeps objects under retention, packs still locked cannot go: they move
 * from `drop` and `repack` to `keep` (repacking them would only store their blobs twice).
 */
async function holdRetained(
  repo: Repository,
  drop: string[],
  repack: IndexedPack[],
  keep: IndexedPack[],
  byPack: Map<string, PackEntry[]>,
): Promise<{ count: number; until?: string }> {
  const b = partsOf(repo).backend;
  if (!b.capabilities.retention || !b.retentionUntil) return { count: 0 };
  let count = 0;
  let latest: Date | undefined;
  const locked = async (pack: string) => {
    const until = await b.retentionUntil!({ type: 'pack', name: pack });
    if (!until) return false;
    count++;
    if (!latest || until > latest) latest = until;
    return true;
  };
  for (let i = drop.length - 1; i >= 0; i--) {
    if (await locked(drop[i])) {
      keep.push({ pack: drop[i], entries: byPack.get(drop[i]) ?? [] });
      drop.splice(i, 1);
    }
  }
  for (let i = repack.length - 1; i >= 0; i--) {
    if (await locked(repack[i].pack)) keep.push(...repack.splice(i, 1));
  }
  return { count, until: latest?.toISOString() };
}

function blobBytes(entries: readonly PackEntry[]): number {
  return entries.reduce((n, e) => n + e.length, 0);
}
