/**
 * @module repo/maintenance/repair
 * Repairs after damage, as restic has them, each under the exclusive lock and with a dry run:
 * - index: rebuilt from the pack headers; entries of missing packs dropped.
 * - packs: every blob of a damaged pack that still opens is copied into new packs, then the
 *   damaged pack goes (prune's write order, pack-rewrite.ts).
 * - snapshots: new snapshots without the blobs that are gone, cut entries marked `damaged`
 *   (docs/format.md, "Trees"); with `forget`, the originals are removed once the new ones
 *   are written.
 */
import { describe, LifeboatError } from '../../errors.js';
import type { Progress } from '../../progress.js';
import { silentProgress } from '../../progress.js';
import { RepoContentStore } from '../content-store.js';
import { storageId, writeOnlyError } from '../crypto.js';
import type { IndexedPack } from '../index-file.js';
import type { PackEntry } from '../pack.js';
import { partsOf } from '../repo-parts.js';
import type { Repository } from '../repository.js';
import type { Snapshot } from '../snapshot.js';
import type { Tree, TreeNode } from '../tree.js';
import { type Affected, MAX_PATHS, mapAffected, readableSnapshots } from './damage-map.js';
import { commitRewrite, copyBlobs, entriesByPack, removeUnlessRetained } from './pack-rewrite.js';
import { verifyPack } from './pack-verify.js';

export interface RepairOptions {
  dryRun?: boolean;
  progress?: Progress;
}

async function exclusively<T>(repo: Repository, what: string, fn: () => Promise<T>): Promise<T> {
  if (repo.writeOnly) throw writeOnlyError(what);
  const lock = await repo.lock(true, what);
  try {
    return await fn();
  } finally {
    await lock.release().catch(() => {});
  }
}

// ---- repair index ------------------------------------------------------------------------

export interface IndexRepairOutcome {
  /** Packs the new index names. */
  packs: number;
  blobs: number;
  /** Stored packs no readable index named, now indexed from their headers. */
  packsAdded: string[];
  /** Packs the old index named that storage does not have, with their blob counts. */
  packsDropped: { pack: string; blobs: number }[];
  /** Index files that did not open. */
  damagedIndexes: string[];
  /** Packs whose header does not open (kept as the old index had them, or left out). */
  unreadablePacks: string[];
  /** Packs whose index entries differed from their header (the header wins). */
  packsCorrected: string[];
  /** False when the index already matched the packs: nothing was (or would be) written. */
  changed: boolean;
  indexesWritten: number;
  indexesRemoved: number;
}

export function repairIndex(repo: Repository, options: RepairOptions = {}): Promise<IndexRepairOutcome> {
  const parts = partsOf(repo);
  return exclusively(repo, 'repair index', async () => {
    const oldIndexes: string[] = [];
    for await (const f of parts.backend.list('index')) oldIndexes.push(f.name);
    const fromIndex = new Map<string, PackEntry[]>();
    const damagedIndexes: string[] = [];
    for (const name of oldIndexes) {
      try {
        for (const p of await parts.reader.loadIndexFile(name))
          if (!fromIndex.has(p.pack)) fromIndex.set(p.pack, p.entries);
      } catch {
        damagedIndexes.push(name);
      }
    }
    const stored = new Map<string, number>();
    for await (const f of parts.backend.list('pack')) stored.set(f.name, f.size);
    const progress = options.progress ?? silentProgress;
    progress.start('repair index: read pack headers');
    const packs: IndexedPack[] = [];
    const out: IndexRepairOutcome = {
      packs: 0,
      blobs: 0,
      packsAdded: [],
      packsDropped: [],
      damagedIndexes,
      unreadablePacks: [],
      packsCorrected: [],
      changed: false,
      indexesWritten: 0,
      indexesRemoved: 0,
    };
    for (const [pack, size] of stored) {
      const known = fromIndex.get(pack);
      let entries: PackEntry[];
      try {
        entries = await parts.reader.readPackHeader(pack, size);
      } catch {
        out.unreadablePacks.push(pack);
        // The old index may still locate its blobs; repair packs salvages them.
        if (known) packs.push({ pack, entries: known });
        continue;
      }
      if (!known) out.packsAdded.push(pack);
      else if (!sameEntries(known, entries)) out.packsCorrected.push(pack);
      packs.push({ pack, entries });
    }
    progress.done();
    for (const [pack, entries] of fromIndex)
      if (!stored.has(pack)) out.packsDropped.push({ pack, blobs: entries.length });
    out.packs = packs.length;
    out.blobs = packs.reduce((n, p) => n + p.entries.length, 0);
    out.changed =
      damagedIndexes.length + out.packsAdded.length + out.packsDropped.length + out.packsCorrected.length > 0;
    if (!out.changed || options.dryRun) return out;
    // New index files first; only then the old ones go (a crash leaves both, never neither).
    const written = await parts.writer.writeIndexFiles(packs);
    out.indexesWritten = written.length;
    for (const name of oldIndexes) {
      if (written.includes(name)) continue;
      await removeUnlessRetained(repo, 'index', name);
      out.indexesRemoved++;
    }
    return out;
  });
}

function sameEntries(a: readonly PackEntry[], b: readonly PackEntry[]): boolean {
  if (a.length !== b.length) return false;
  const byId = new Map(b.map((e) => [e.id.toString('hex'), e]));
  return a.every((e) => {
    const h = byId.get(e.id.toString('hex'));
    return h !== undefined && h.offset === e.offset && h.length === e.length && h.type === e.type;
  });
}

// ---- repair packs ------------------------------------------------------------------------

export interface PackRepair {
  pack: string;
  /** Why it is repaired: what was found wrong, or that it was named. */
  problem: string;
  blobs: number;
  /** Blobs copied into new packs. */
  salvaged: number;
  /** Blobs another pack holds already (not copied). */
  elsewhere: number;
  /** Blobs that do not open (hex ids): gone unless a source still has the data. */
  lost: string[];
}

export interface PacksRepairOutcome {
  /** Packs read and verified (every pack, or the ones named). */
  packsRead: number;
  repaired: PackRepair[];
  /** Snapshots that use a lost blob, with the paths: `repair snapshots` cuts them. */
  affects: Affected[];
}

export function repairPacks(
  repo: Repository,
  names: readonly string[],
  options: RepairOptions = {},
): Promise<PacksRepairOutcome> {
  const parts = partsOf(repo);
  return exclusively(repo, 'repair packs', async () => {
    const oldIndexes: string[] = [];
    for await (const f of parts.backend.list('index')) oldIndexes.push(f.name);
    await repo.loadIndex();
    parts.writer.takeUnindexed(); // packs adopted from headers go into the fresh index below anyway
    const stored = new Map<string, number>();
    for await (const f of parts.backend.list('pack')) stored.set(f.name, f.size);
    const progress = options.progress ?? silentProgress;
    const byPack = entriesByPack(repo);
    const out: PacksRepairOutcome = { packsRead: 0, repaired: [], affects: [] };

    // Named packs are repaired whatever their state; with none, every pack is read and judged.
    const named = names.map((n) => resolvePack(n, stored));
    const toRead = named.length > 0 ? named : [...stored.keys()];
    const targets = new Map<string, string>();
    progress.start(
      'repair packs: read packs',
      toRead.reduce((n, p) => n + (stored.get(p) ?? 0), 0),
    );
    for (const pack of toRead) {
      const data = await parts.backend.load({ type: 'pack', name: pack });
      const { problem } = verifyPack(repo, pack, data, byPack.get(pack) ?? []);
      out.packsRead++;
      progress.advance(data.length);
      if (problem) targets.set(pack, problem);
      else if (named.length > 0) targets.set(pack, 'no damage found; rewritten as asked');
    }
    progress.done();
    if (targets.size === 0) return out;

    if (!options.dryRun) parts.writer.deferIndex = true;
    const lost = new Set<string>();
    for (const [pack, problem] of targets) {
      let entries: PackEntry[];
      try {
        entries = await parts.reader.readPackHeader(pack, stored.get(pack));
      } catch {
        entries = byPack.get(pack) ?? []; // the header is gone: the index still locates its blobs
      }
      const r: PackRepair = { pack, problem, blobs: entries.length, salvaged: 0, elsewhere: 0, lost: [] };
      // A blob also stored in a pack not being repaired is held there: not copied again.
      const own = entries.filter((e) => {
        if (!parts.index.locations(e.id).some((at) => !targets.has(at.pack))) return true;
        r.elsewhere++;
        return false;
      });
      await copyBlobs(
        repo,
        pack,
        own,
        (e) => {
          r.lost.push(e.id.toString('hex'));
          lost.add(e.id.toString('hex'));
        },
        !options.dryRun,
      );
      r.salvaged = own.length - r.lost.length;
      out.repaired.push(r);
    }
    if (lost.size > 0) {
      const affected = await mapAffected(repo, await readableSnapshots(repo), {
        classify: (blob) => (lost.has(blob) ? true : undefined),
        unreadableTree: () => true,
      });
      out.affects = affected.get(true) ?? [];
    }
    if (options.dryRun) return out;
    const gone = new Set(targets.keys());
    const keep = [...byPack].filter(([p]) => !gone.has(p)).map(([pack, entries]) => ({ pack, entries }));
    await commitRewrite(repo, keep, oldIndexes, [...gone]);
    return out;
  });
}

/** A stored pack named by its id or a unique prefix of it. */
function resolvePack(name: string, stored: Map<string, number>): string {
  const matches = [...stored.keys()].filter((p) => p.startsWith(name.toLowerCase()));
  if (matches.length === 1 && /^[0-9a-f]{4,}$/i.test(name)) return matches[0];
  if (matches.length > 1 && /^[0-9a-f]{4,}$/i.test(name)) {
    throw new LifeboatError('usage', `[repair] pack "${name}" is ambiguous: give more of its id`);
  }
  throw new LifeboatError(
    'not_found',
    `[repair] there is no pack "${name}" in the repository (\`lifeboat check --read-data\` names the damaged ones; a missing pack is dropped from the index by \`lifeboat repair index\`)`,
  );
}

// ---- repair snapshots --------------------------------------------------------------------

export interface SnapshotRepair {
  /** The snapshot as it was. */
  id: string;
  source: string;
  time: string;
  /** The snapshot written in its place (undefined on a dry run). */
  newId?: string;
  /** Paths cut: files that lost content, folders whose listing is lost ("dir/"). */
  cut: string[];
  cutCount: number;
  /** True when the original was removed (--forget). */
  forgotten: boolean;
}

export interface SnapshotsRepairOutcome {
  snapshots: number;
  repaired: SnapshotRepair[];
  /** Snapshot files that do not open: removed with --forget. */
  damaged: { id: string; problem: string; removed: boolean }[];
}

/** A tree rewritten without what is gone: its new id and the paths cut below it. */
interface TreeFix {
  id: string;
  /** True when the tree itself is gone (the folder becomes empty). */
  lost: boolean;
  cut: string[];
  cutCount: number;
  /** File bytes cut below it. */
  lostBytes: number;
}

export function repairSnapshots(
  repo: Repository,
  options: RepairOptions & { forget?: boolean } = {},
): Promise<SnapshotsRepairOutcome> {
  return exclusively(repo, 'repair snapshots', async () => {
    await repo.loadIndex();
    const store = new RepoContentStore(repo);
    const out: SnapshotsRepairOutcome = { snapshots: 0, repaired: [], damaged: [] };
    const fixes = new Map<string, TreeFix>();
    const has = (id: string) => partsOf(repo).index.has(Buffer.from(id, 'hex'));
    // A dry run stores nothing: a tree's would-be id only has to differ from the original's.
    const save = async (tree: Tree): Promise<string> =>
      options.dryRun ? storageId(Buffer.from(JSON.stringify(tree))) : store.saveTree(tree);

    const fixTree = async (treeId: string): Promise<TreeFix> => {
      const known = fixes.get(treeId);
      if (known) return known;
      let tree: Tree | undefined;
      if (has(treeId)) tree = await store.loadTree(treeId).catch(() => undefined);
      let fix: TreeFix;
      if (!tree) fix = { id: await save({ nodes: [] }), lost: true, cut: [], cutCount: 0, lostBytes: 0 };
      else {
        fix = { id: treeId, lost: false, cut: [], cutCount: 0, lostBytes: 0 };
        let changed = false;
        const nodes: TreeNode[] = [];
        const cut = (path: string, n = 1) => {
          if (fix.cut.length < MAX_PATHS) fix.cut.push(path);
          fix.cutCount += n;
        };
        for (const node of tree.nodes) {
          let next = node;
          if (node.content?.some((c) => !has(c))) {
            const kept = node.content.filter(has);
            const size = kept.reduce(
              (n, c) => n + (partsOf(repo).index.get(Buffer.from(c, 'hex'))?.rawLength ?? 0),
              0,
            );
            const lostBytes = Math.max(0, (node.size ?? size) - size);
            next = { ...node, content: kept, size, damaged: { lostBytes } };
            fix.lostBytes += lostBytes;
            cut(node.name);
          }
          if (node.subtree) {
            const sub = await fixTree(node.subtree);
            if (sub.lost) {
              next = { ...next, subtree: sub.id, damaged: { listingLost: true } };
              cut(`${node.name}/`);
            } else if (sub.id !== node.subtree) {
              next = { ...next, subtree: sub.id };
              for (const p of sub.cut) if (fix.cut.length < MAX_PATHS) fix.cut.push(`${node.name}/${p}`);
              fix.cutCount += sub.cutCount;
              fix.lostBytes += sub.lostBytes;
            }
          }
          if (next !== node) changed = true;
          nodes.push(next);
        }
        if (changed) fix.id = await save({ nodes });
      }
      fixes.set(treeId, fix);
      return fix;
    };

    const originals = await readableSnapshots(repo, (id, err) =>
      out.damaged.push({ id, problem: describe(err), removed: false }),
    );
    for (const { id, snapshot, writeOnly } of originals) {
      out.snapshots++;
      const root = await fixTree(snapshot.root);
      if (root.id === snapshot.root && !root.lost) continue;
      const cut = root.lost ? ['/'] : root.cut;
      out.repaired.push({
        id,
        source: snapshot.source,
        time: snapshot.time,
        cut,
        cutCount: root.lost ? 1 : root.cutCount,
        forgotten: false,
      });
      if (options.dryRun) continue;
      // The new snapshot keeps the time (retention and "latest" treat it as the original).
      const stats = { ...snapshot.stats };
      if (typeof stats.bytes === 'number') stats.bytes = Math.max(0, stats.bytes - root.lostBytes);
      const repaired: Snapshot = {
        ...snapshot,
        root: root.id,
        stats,
        tags: [...new Set([...snapshot.tags, 'repaired'])],
        repaired: { from: id, time: repo.clock.now().toISOString(), cut: root.lost ? 1 : root.cutCount },
        ...(writeOnly ? { writeOnly: true as const } : {}),
      };
      // Trees first (packs, then their index), the snapshot last: the usual write order.
      await repo.flush();
      out.repaired.at(-1)!.newId = await repo.saveSnapshot(repaired);
    }
    if (options.dryRun || !options.forget) return out;
    // Only now, with every new snapshot written, do the originals go.
    for (const r of out.repaired) {
      await removeUnlessRetained(repo, 'snapshot', r.id);
      r.forgotten = true;
    }
    for (const d of out.damaged) {
      await removeUnlessRetained(repo, 'snapshot', d.id);
      d.removed = true;
    }
    return out;
  });
}
