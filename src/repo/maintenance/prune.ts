/**
 * @module repo/maintenance/prune
 * Drops data no snapshot references: mark every blob reachable from a snapshot, delete packs
 * with nothing used, repack packs that are mostly unused, write one fresh index, then delete
 * the old index files and the dropped packs, in that order, so a crash at any point leaves
 * every snapshot restorable. Archived WAL the caller names as expired (jobs/prune.ts: older
 * than the oldest base backup of its source) goes too.
 *
 * Without a grace period this runs under an exclusive lock: no backup runs meanwhile, so what
 * is unused now stays unused, and goes at once. With one (`graceMs`, docs/format.md "Prune
 * with a grace period") it is two-phase and backups go on beside it: a pack found unused (or
 * emptied by a repack) is only marked, in the fresh index, with the time; backups no longer
 * deduplicate against it. A later prune deletes it once it was marked longer than the grace
 * ago and still no snapshot needs it; a snapshot that needs it (a backup that loaded the
 * index before the mark and finished after) makes it live again.
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
  /** With a grace period: packs marked for deletion by this run (unused, or emptied by a repack). */
  packsMarked: number;
  /** With a grace period: packs marked earlier that wait for their grace to pass. */
  packsPending: number;
  /** Packs marked earlier that a snapshot turned out to need: live again. */
  packsUnmarked: number;
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
  /**
   * How long (ms) a pack stays marked for deletion before a later prune may delete it. 0, the
   * default: unused packs go at once, under the exclusive lock (backups wait). Above 0: two-phase,
   * beside running backups; a backup running longer than the grace is not protected.
   */
  graceMs?: number;
}

export async function pruneRepository(repo: Repository, options: PruneOptions = {}): Promise<PruneOutcome> {
  const parts = partsOf(repo);
  if (repo.writeOnly) throw writeOnlyError('prune');
  const grace = options.graceMs ?? 0;
  const twoPhase = grace > 0;
  // WAL pushes go on meanwhile (lock.ts): PostgreSQL must not stop archiving for a prune.
  // With a grace, backups go on too. One such prune at a time: by a lease where the storage
  // writes on conditions (a dead holder's expires by itself), else by the 'prune' lock scope.
  // Its shared lock still keeps exclusive work (key rotation, repairs) from running beside.
  const lease = twoPhase ? await repo.lease('prune', 'prune') : undefined;
  let lock: Awaited<ReturnType<Repository['lock']>>;
  try {
    lock = !twoPhase
      ? await repo.lock(true, 'prune', { walAllowed: true })
      : await repo.lock(false, 'prune', lease ? {} : { scope: 'prune' });
  } catch (err) {
    await lease?.release().catch(() => {});
    throw err;
  }
  try {
    // Snapshots before the index: a snapshot is written after the index files naming what it
    // uses (docs/format.md, write order), so each one listed here is covered by the index
    // loaded next, even while backups finish meanwhile.
    const { snapshots, damaged } = await keptSnapshots(repo);
    const oldIndexes: string[] = [];
    for await (const f of parts.backend.list('index')) oldIndexes.push(f.name);
    // Afresh: an index loaded before (by this process) may name packs marked or gone since.
    parts.resetIndex();
    await repo.loadIndex();
    const stored = new Map<string, number>();
    for await (const f of parts.backend.list('pack')) stored.set(f.name, f.size);

    const used = await markUsed(repo, snapshots);
    // Deleting on an incomplete index could drop data a snapshot needs: refuse instead.
    const missing = [...used].filter((id) => parts.index.locations(Buffer.from(id, 'hex')).length === 0);
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
    const marked = parts.index.markedPacks();
    const now = repo.clock.now().getTime();

    const keep: IndexedPack[] = [];
    const repack: IndexedPack[] = [];
    const drop: string[] = [];
    /** Unused packs marked by this run (two-phase). */
    const toMark: IndexedPack[] = [];
    /** Packs marked earlier, still within the grace. */
    const pending: IndexedPack[] = [];
    let unmarked = 0;
    for (const pack of stored.keys()) {
      const mark = parts.index.hasPack(pack) ? undefined : marked.get(pack);
      if (mark) {
        // A used blob found only here: a backup that loaded the index before the mark used it.
        const needed = mark.entries.some((e) => used.has(e.id.toString('hex')) && !parts.index.has(e.id));
        if (needed) {
          unmarked++;
          keep.push({ pack, entries: [...mark.entries] });
        } else if (now - mark.markedAt >= grace) drop.push(pack);
        else pending.push({ pack, entries: [...mark.entries], markedAt: mark.markedAt });
        continue;
      }
      const all = byPack.get(pack) ?? [];
      const usedBytes = all.filter((e) => isUsed(pack, e)).reduce((n, e) => n + e.length, 0);
      // A surplus copy in a pack that stays is left out of the index.
      const entries = all.filter((e) => !surplus.has(`${pack}:${e.offset}`));
      // Two-phase, an unused pack (or one a backup is still uploading, named by no index yet)
      // is only marked: a backup that loaded the index earlier may still reference it.
      if (usedBytes === 0) {
        if (twoPhase) toMark.push({ pack, entries: all });
        else drop.push(pack);
      }
      // Judge by blob bytes: a pack's header is overhead, not waste.
      else if (1 - usedBytes / blobBytes(all) > REPACK_UNUSED_RATIO) repack.push({ pack, entries });
      else keep.push({ pack, entries });
    }
    const retention = await holdRetained(repo, drop, repack, keep, byPack, marked);
    // Two-phase, a repacked pack is marked, not deleted: its unused blobs may be referenced yet.
    const freed = twoPhase ? drop : [...drop, ...repack.map((p) => p.pack)];
    const outcome: PruneOutcome = {
      packsDeleted: drop.length,
      packsRepacked: repack.length,
      packsKept: keep.length,
      bytesFreed: freed.reduce((n, p) => n + (stored.get(p) ?? 0), 0),
      blobsUsed: used.size,
      packsRetained: retention.count,
      retainedUntil: retention.until,
      walDeleted: 0,
      damagedSnapshots: damaged,
      packsMarked: toMark.length + (twoPhase ? repack.length : 0),
      packsPending: pending.length,
      packsUnmarked: unmarked,
    };
    const expired = (await options.expiredWal?.(snapshots)) ?? [];
    outcome.walDeleted = expired.length;
    outcome.bytesFreed += expired.reduce((n, f) => n + f.size, 0);
    if (options.dryRun) return outcome;
    for (const f of expired) await removeUnlessRetained(repo, 'wal', f.object);
    // Only WAL objects and locks can be saved under prune's exclusive lock: a killed writer's
    // leftovers can go (those of WAL and locks once old, see Backend.removeUnfinished). Beside
    // running backups (two-phase) a temp file may be a save in flight: they stay.
    if (!twoPhase) outcome.bytesFreed += (await parts.backend.removeUnfinished?.()) ?? 0;
    if (drop.length === 0 && repack.length === 0 && toMark.length === 0 && unmarked === 0) return outcome;

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
    if (!twoPhase) {
      await commitRewrite(repo, keep, oldIndexes, freed);
      return outcome;
    }
    // Still ours (renewed now, a term ahead), or stop before removing anything.
    await lease?.renew();
    // The mark's time is taken once every decision is made, just before the index carrying it
    // is written: a backup that loaded the index before then started before this time.
    const markedAt = repo.clock.now().getTime();
    const marks = [...toMark, ...repack.map((p) => ({ pack: p.pack, entries: byPack.get(p.pack) ?? [] }))];
    await commitRewrite(
      repo,
      [...keep, ...pending, ...marks.map((p) => ({ ...p, markedAt }))],
      oldIndexes,
      drop,
    );
    return outcome;
  } finally {
    await lock.release().catch(() => {});
    await lease?.release().catch(() => {});
  }
}

/**
 * The snapshots that read, and the ids of damaged snapshot files. A damaged snapshot is lost
 * for good (its bytes are wrong, not just unread), so what only it used may go. An unreadable
 * one may read again later and reference anything: then nothing is deleted.
 */
async function keptSnapshots(repo: Repository): Promise<{ snapshots: SnapshotEntry[]; damaged: string[] }> {
  const { snapshots, problems } = await repo.scanSnapshots();
  const unreadable = problems.find((p) => p.kind === 'unreadable');
  if (unreadable) {
    throw new LifeboatError(
      'storage_failed',
      `[prune] snapshot ${unreadable.id.slice(0, 8)} cannot be read, so nothing is deleted (what it uses is unknown): ${unreadable.message} (try again; if it persists run \`lifeboat check\`)`,
      { cause: unreadable.error, retryable: true },
    );
  }
  return { snapshots, damaged: problems.map((p) => p.id) };
}

/** Ids (hex) of every tree and data blob reachable from `snapshots`. */
async function markUsed(repo: Repository, snapshots: readonly SnapshotEntry[]): Promise<Set<string>> {
  const store = new RepoContentStore(repo);
  const used = new Set<string>();
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
  return used;
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
  marked: ReadonlyMap<string, { entries: readonly PackEntry[] }>,
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
      keep.push({ pack: drop[i], entries: [...(byPack.get(drop[i]) ?? marked.get(drop[i])?.entries ?? [])] });
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
