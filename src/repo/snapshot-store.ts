/**
 * @module repo/snapshot-store
 * Snapshot files: sealed JSON manifests named by the hash of their stored bytes, written last
 * (docs/format.md). One file that does not read costs only itself when listing.
 */
import { describe, LifeboatError } from '../errors.js';
import type { Backend, FileInfo } from '../storage/backend.js';
import { BOX_EPOCH, KeyRing, storageId, writeOnlyError } from './crypto.js';
import type { KeyStore } from './key-store.js';
import type { Snapshot, SnapshotEntry, SnapshotProblem, SnapshotScan } from './snapshot.js';
import { SNAPSHOT_AAD, snapshotProblemError, snapshotProblemKind } from './snapshot.js';

export class SnapshotStore {
  constructor(
    private readonly backend: Backend,
    private readonly keys: KeyStore,
  ) {}

  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    const marked = this.keys.writeOnly ? { ...snapshot, writeOnly: true as const } : snapshot;
    const file = this.keys.ring.seal(Buffer.from(JSON.stringify(marked)), SNAPSHOT_AAD);
    const id = storageId(file);
    await this.backend.save({ type: 'snapshot', name: id }, file);
    return id;
  }

  async loadSnapshot(id: string): Promise<Snapshot> {
    return (await this.readSnapshot(id)).snapshot;
  }

  /**
   * The snapshot with what its file says beside the manifest: whether a write-only key wrote
   * it, and the storage's time for it when the caller listed one (`stored`).
   */
  async readSnapshot(id: string, stored?: Date): Promise<SnapshotEntry> {
    if (this.keys.writeOnly) throw writeOnlyError('read snapshots');
    const raw = await this.backend.load({ type: 'snapshot', name: id });
    if (storageId(raw) !== id) {
      throw new LifeboatError(
        'integrity',
        `[repo] snapshot ${id.slice(0, 8)} is damaged: content does not match its name`,
      );
    }
    const json = this.keys.ring.open(raw, SNAPSHOT_AAD, `snapshot ${id.slice(0, 8)}`).toString('utf8');
    let snapshot: Snapshot;
    try {
      snapshot = JSON.parse(json);
    } catch (err) {
      throw new LifeboatError('integrity', `[repo] snapshot ${id.slice(0, 8)} is damaged: not valid JSON`, {
        cause: err,
      });
    }
    const writeOnly = KeyRing.epochOf(raw) === BOX_EPOCH || snapshot.writeOnly === true;
    return { id, snapshot, writeOnly, ...(stored ? { stored } : {}) };
  }

  /**
   * Every snapshot that reads, oldest first, and the files that do not. One bad file costs
   * only itself: the others are listed, and the caller decides what the problems mean
   * (list and name them; prune counts damaged ones as lost but stops on unreadable ones).
   * A file removed while listing (a concurrent forget) is skipped silently.
   */
  async scanSnapshots(): Promise<SnapshotScan> {
    if (this.keys.writeOnly) throw writeOnlyError('list snapshots');
    const files: FileInfo[] = [];
    for await (const f of this.backend.list('snapshot')) files.push(f);
    const snapshots: SnapshotEntry[] = [];
    const problems: SnapshotProblem[] = [];
    await mapLimit(files, 16, async ({ name: id, modified }) => {
      try {
        snapshots.push(await this.readSnapshot(id, modified));
      } catch (err) {
        const kind = snapshotProblemKind(err);
        if (kind) problems.push({ id, kind, message: describe(err), error: err });
      }
    });
    snapshots.sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time) || a.id.localeCompare(b.id));
    problems.sort((a, b) => a.id.localeCompare(b.id));
    return { snapshots, problems };
  }

  /**
   * Every snapshot, oldest first, or an error naming the first file that does not read: for
   * callers that must see every snapshot or none (copying them all). The rest use scanSnapshots.
   */
  async listSnapshots(): Promise<SnapshotEntry[]> {
    const { snapshots, problems } = await this.scanSnapshots();
    if (problems.length > 0) throw snapshotProblemError(problems);
    return snapshots;
  }

  async removeSnapshot(id: string): Promise<void> {
    await this.backend.remove({ type: 'snapshot', name: id });
  }
}

/** Runs `fn` over items with at most `limit` in flight, preserving order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}
