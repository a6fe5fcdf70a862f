/**
 * @module repo/maintenance/copy
 * Copies snapshots to another repository (an offsite copy). Each repository has its own
 * keys, so a blob's id differs between them (ids are keyed hashes): blobs are read from the
 * source (decrypted and verified), stored under the destination's id unless it already has
 * them (re-encrypted with its keys), and trees are rewritten bottom-up so they name the
 * destination's ids. The snapshot is written last, recording where it came from in
 * `meta.copiedFrom`, which makes a second copy of the same snapshot a no-op.
 *
 * Blobs the destination got from an earlier copy are not read again: the earlier copy's
 * trees, walked beside the source's, give their destination ids. Archived WAL of copied
 * physical sources goes along (the files the destination lacks).
 */
import { LifeboatError } from '../../errors.js';
import type { Progress } from '../../progress.js';
import { silentProgress } from '../../progress.js';
import { RepoContentStore } from '../content-store.js';
import { archivedObjectName, listObjects, resealObject } from '../object-archive.js';
import { partsOf } from '../repo-parts.js';
import type { Repository } from '../repository.js';
import type { Snapshot, SnapshotEntry } from '../snapshot.js';
import type { Tree } from '../tree.js';

export interface CopyRequest {
  /** Snapshot references (ids, prefixes, `latest`), or every snapshot. */
  snapshots: string[] | 'all';
  /** Only snapshots taken before this time (`--older-than`). */
  takenBefore?: Date;
  progress?: Progress;
}

export interface CopiedFrom {
  /** The snapshot's id in the repository it was copied from. */
  snapshot: string;
  /** That repository's id (its config id). */
  repository: string;
  copiedAt: string;
}

export interface CopyResult {
  sourceId: string;
  /** The snapshot's id at the destination (new, or the one already there). */
  destinationId: string;
  /** Already at the destination: nothing was copied. */
  existed: boolean;
  snapshot: Snapshot;
}

export interface CopyOutcome {
  results: CopyResult[];
  /** Blobs read from the source and blobs newly stored at the destination. */
  blobsRead: number;
  blobsAdded: number;
  /** Bytes written to the destination (packs, index files and WAL). */
  bytesAdded: number;
  /** Archived WAL files of the copied physical sources newly stored at the destination. */
  walCopied: number;
}

/** Blob reads in flight while copying a file's content. */
const READ_AHEAD = 4;

/** Finds the snapshot a reference names (an id, a prefix, `latest`) in the source repository. */
export type FindSnapshot = (ref: string) => Promise<SnapshotEntry>;

export async function copyRepository(
  src: Repository,
  dst: Repository,
  req: CopyRequest,
  find: FindSnapshot,
): Promise<CopyOutcome> {
  if (src.config.id === dst.config.id) {
    throw new LifeboatError(
      'usage',
      `[copy] source and destination are the same repository (${dst.location}); give another --to`,
    );
  }
  const srcLock = await src.lock(false, 'copy (source)');
  try {
    const dstLock = await dst.lock(false, 'copy (destination)');
    try {
      return await copyLocked(src, dst, req, find);
    } finally {
      await dstLock.release().catch(() => {});
    }
  } finally {
    await srcLock.release().catch(() => {});
  }
}

async function copyLocked(
  src: Repository,
  dst: Repository,
  req: CopyRequest,
  find: FindSnapshot,
): Promise<CopyOutcome> {
  await src.loadIndex();
  // Orphans from an interrupted copy (or backup) count as present: they are not sent again.
  await dst.loadIndex({ adoptOrphans: true });
  const addedBefore = dst.bytesAdded;
  const wanted = await selectSnapshots(src, req, find);
  const existing = await dst.listSnapshots();
  const copier = new BlobCopier(src, dst);
  const outcome: CopyOutcome = { results: [], blobsRead: 0, blobsAdded: 0, bytesAdded: 0, walCopied: 0 };
  const progress = req.progress ?? silentProgress;
  const seeded = new Set<string>();
  let srcAll: SnapshotEntry[] | undefined;

  for (const entry of wanted) {
    const already = existing.find((d) => sameSnapshot(d, entry, src.config.id));
    if (already) {
      outcome.results.push({
        sourceId: entry.id,
        destinationId: already.id,
        existed: true,
        snapshot: already.snapshot,
      });
      continue;
    }
    const s = entry.snapshot;
    // Learn the id mapping from the newest earlier copy of this source, once per source.
    if (!seeded.has(s.source)) {
      seeded.add(s.source);
      const prior = existing
        .filter((d) => d.snapshot.source === s.source && copiedFrom(d.snapshot)?.repository === src.config.id)
        .at(-1);
      srcAll ??= await src.listSnapshots();
      const origin = prior && srcAll.find((e) => e.id === copiedFrom(prior.snapshot)!.snapshot);
      // Best effort: a tree that cannot be read here is simply copied the slow way.
      if (prior && origin) await copier.learn(origin.snapshot.root, prior.snapshot.root).catch(() => {});
    }
    progress.start(
      `copy ${entry.id.slice(0, 8)} (${s.source})`,
      typeof s.stats.bytes === 'number' ? s.stats.bytes : undefined,
    );
    copier.progress = progress;
    const root = await copier.tree(s.root);
    progress.done();
    await dst.flush();
    const parentCopy = s.parent
      ? existing.find(
          (d) =>
            copiedFrom(d.snapshot)?.snapshot === s.parent &&
            copiedFrom(d.snapshot)?.repository === src.config.id,
        )
      : undefined;
    const meta: Record<string, unknown> = {
      ...s.meta,
      copiedFrom: {
        snapshot: entry.id,
        repository: src.config.id,
        copiedAt: dst.clock.now().toISOString(),
      } satisfies CopiedFrom,
    };
    const copy: Snapshot = { ...s, root, parent: parentCopy?.id, meta };
    if (entry.writeOnly) copy.writeOnly = true;
    if (!parentCopy) delete copy.parent;
    const id = await dst.saveSnapshot(copy);
    existing.push({ id, snapshot: copy });
    outcome.results.push({ sourceId: entry.id, destinationId: id, existed: false, snapshot: copy });
  }
  outcome.blobsRead = copier.blobsRead;
  outcome.blobsAdded = copier.blobsAdded;
  outcome.bytesAdded = dst.bytesAdded - addedBefore;
  const physical = new Set(
    wanted.filter((e) => e.snapshot.kind === 'physical').map((e) => e.snapshot.source),
  );
  for (const source of physical) {
    const w = await copyWal(src, dst, source);
    outcome.walCopied += w.files;
    outcome.bytesAdded += w.bytes;
  }
  return outcome;
}

/**
 * Archived WAL of a physical source that the destination lacks (by name), re-sealed with
 * its keys: the base backups copied there can recover as far as here.
 */
async function copyWal(
  src: Repository,
  dst: Repository,
  source: string,
): Promise<{ files: number; bytes: number }> {
  const to = partsOf(dst);
  const from = partsOf(src);
  const have = new Set((await listObjects(to.backend, to.key, source)).map((f) => f.name));
  let files = 0;
  let bytes = 0;
  for (const f of await listObjects(from.backend, from.key, source)) {
    if (have.has(f.name)) continue;
    const object = archivedObjectName(to.key, source, f.name);
    const data = resealObject(from.key, f.object, await from.backend.load({ type: 'wal', name: f.object }), {
      keys: to.key,
      object,
    });
    await to.backend.save({ type: 'wal', name: object }, data);
    files++;
    bytes += data.length;
  }
  return { files, bytes };
}

async function selectSnapshots(
  src: Repository,
  req: CopyRequest,
  find: FindSnapshot,
): Promise<SnapshotEntry[]> {
  let chosen: SnapshotEntry[];
  if (req.snapshots === 'all') chosen = await src.listSnapshots();
  else {
    const byId = new Map<string, SnapshotEntry>();
    for (const ref of req.snapshots) {
      const e = await find(ref);
      byId.set(e.id, e);
    }
    chosen = [...byId.values()].sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time));
  }
  const before = req.takenBefore?.getTime();
  return before === undefined ? chosen : chosen.filter((e) => new Date(e.snapshot.time).getTime() < before);
}

export function copiedFrom(s: Snapshot): CopiedFrom | undefined {
  const c = s.meta?.copiedFrom as Partial<CopiedFrom> | undefined;
  return c && typeof c.snapshot === 'string' && typeof c.repository === 'string'
    ? (c as CopiedFrom)
    : undefined;
}

/**
 * The destination snapshot `d` is a copy of the source snapshot `e`: same source and time,
 * and `d` records `e` as its origin, or `e` was itself copied from `d` (copying back).
 */
function sameSnapshot(d: SnapshotEntry, e: SnapshotEntry, srcRepoId: string): boolean {
  if (d.snapshot.source !== e.snapshot.source || d.snapshot.time !== e.snapshot.time) return false;
  const dOrigin = copiedFrom(d.snapshot);
  if (dOrigin?.snapshot === e.id && dOrigin.repository === srcRepoId) return true;
  return copiedFrom(e.snapshot)?.snapshot === d.id;
}

/** Moves blobs and trees from one repository to another, remembering id pairs. */
class BlobCopier {
  /** Source id (hex) to destination id (hex). */
  private readonly ids = new Map<string, string>();
  private readonly srcStore: RepoContentStore;
  private readonly dstStore: RepoContentStore;
  private readonly sameKeys: boolean;
  blobsRead = 0;
  blobsAdded = 0;
  progress: Progress = silentProgress;

  constructor(
    private readonly src: Repository,
    private readonly dst: Repository,
  ) {
    this.srcStore = new RepoContentStore(src);
    this.dstStore = new RepoContentStore(dst);
    this.sameKeys = partsOf(src).key.mac.equals(partsOf(dst).key.mac);
  }

  /**
   * Records the id pairs of a source tree and its earlier copy: the same shape, node for
   * node, so position gives the pairs. Only trees are read.
   */
  async learn(srcTree: string, dstTree: string): Promise<void> {
    if (this.ids.has(srcTree)) return;
    const [a, b] = await Promise.all([this.srcStore.loadTree(srcTree), this.dstStore.loadTree(dstTree)]);
    if (a.nodes.length !== b.nodes.length) return;
    this.ids.set(srcTree, dstTree);
    for (let i = 0; i < a.nodes.length; i++) {
      const x = a.nodes[i];
      const y = b.nodes[i];
      if (x.name !== y.name) continue;
      if (x.content && y.content && x.content.length === y.content.length) {
        for (let j = 0; j < x.content.length; j++) {
          // Only when the destination still has it (prune may have removed it since).
          if (this.dst.hasBlob(Buffer.from(y.content[j], 'hex'))) this.ids.set(x.content[j], y.content[j]);
        }
      }
      if (x.subtree && y.subtree) await this.learn(x.subtree, y.subtree);
    }
  }

  /** Copies a tree and everything below it; returns its destination id. */
  async tree(srcId: string): Promise<string> {
    const known = this.ids.get(srcId);
    if (known && this.dst.hasBlob(Buffer.from(known, 'hex'))) return known;
    const tree: Tree = await this.srcStore.loadTree(srcId);
    const nodes = [];
    for (const node of tree.nodes) {
      const out = { ...node };
      if (node.content) out.content = await this.content(node.content);
      if (node.subtree) out.subtree = await this.tree(node.subtree);
      nodes.push(out);
    }
    const { id, added } = await this.dst.saveBlob('tree', Buffer.from(JSON.stringify({ ...tree, nodes })));
    if (added) this.blobsAdded++;
    const hex = id.toString('hex');
    this.ids.set(srcId, hex);
    return hex;
  }

  /** Copies a file's chunks, reading a few ahead; returns their destination ids in order. */
  private async content(chunks: string[]): Promise<string[]> {
    const out = new Array<string>(chunks.length);
    const pending: { index: number; data: Promise<Buffer> }[] = [];
    let next = 0;
    const enqueue = () => {
      while (next < chunks.length && pending.length < READ_AHEAD) {
        const index = next++;
        const hex = chunks[index];
        const mapped = this.ids.get(hex);
        if (mapped) {
          out[index] = mapped;
          continue;
        }
        if (this.sameKeys && this.dst.hasBlob(Buffer.from(hex, 'hex'))) {
          out[index] = hex;
          this.ids.set(hex, hex);
          continue;
        }
        const data = this.src.loadBlob(Buffer.from(hex, 'hex'));
        data.catch(() => {}); // awaited below; avoid an unhandled rejection while queued
        pending.push({ index, data });
      }
    };
    enqueue();
    while (pending.length > 0) {
      const { index, data } = pending.shift()!;
      const plain = await data;
      this.blobsRead++;
      this.progress.advance(plain.length);
      const { id, added } = await this.dst.saveBlob('data', plain);
      if (added) this.blobsAdded++;
      const hex = id.toString('hex');
      this.ids.set(chunks[index], hex);
      out[index] = hex;
      enqueue();
    }
    return out;
  }
}
