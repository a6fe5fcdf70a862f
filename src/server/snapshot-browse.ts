/**
 * @module server/snapshot-browse
 * Browsing a snapshot for the dashboard: one folder of its tree at a time, and the drill
 * reports kept in the repository. Reading trees needs the index, so the browser keeps one
 * read handle with its index loaded while it is used (closed after a minute idle, reopened
 * when the snapshot list changed), instead of loading the index on every click. Downloads
 * go through `runDump` on a fresh handle (shared lock, streamed, size and SHA-256 checked).
 */
import { LifeboatError } from '../errors.js';
import { folderTree } from '../jobs/snapshot-walk.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { readArtifact } from '../sources/artifact.js';
import type { TreeNode } from '../sources/source.js';

export interface TreeEntry {
  name: string;
  type: string;
  size: number | null;
  mode: number | null;
  mtime: string | null;
  sha256: string | null;
  /** Symlinks: where they point. */
  target: string | null;
}

export interface TreeListing {
  snapshot: string;
  path: string;
  /** Entries in the folder; `entries` holds the page asked for. */
  total: number;
  offset: number;
  entries: TreeEntry[];
}

const IDLE_MS = 60_000;

/** One read handle with its index loaded, and how many calls and downloads use it now. */
interface Held {
  repo: Promise<Repository>;
  version: number;
  users: number;
  /** Replaced (the snapshot list changed) or idle: closed once its last user is done. */
  retired: boolean;
  timer?: NodeJS.Timeout;
}

export class SnapshotBrowser {
  private held: Held | undefined;

  constructor(
    private readonly openRepository: () => Promise<Repository>,
    /** The snapshot list's version: a new backup means new packs, so the index is reloaded. */
    private readonly version: () => number,
    private readonly idleMs = IDLE_MS,
  ) {}

  /**
   * The entries of the folder `path` ("" or "/" for the root) of snapshot `id` (a full id),
   * a page at a time (a folder may hold many thousands).
   */
  async list(
    id: string,
    path: string,
    page: { offset: number; limit: number } = { offset: 0, limit: Infinity },
  ): Promise<TreeListing> {
    return this.use(async (repo) => {
      const snapshot = await repo.loadSnapshot(id);
      const store = new RepoContentStore(repo);
      const parts = path.split('/').filter((p) => p.length > 0 && p !== '.');
      const tree = await store.loadTree(await folderTree(store, { id, root: snapshot.root }, path, 'browse'));
      return {
        snapshot: id,
        path: parts.join('/'),
        total: tree.nodes.length,
        offset: page.offset,
        entries: tree.nodes.slice(page.offset, page.offset + page.limit).map(entryOf),
      };
    });
  }

  /**
   * One file of a snapshot, to stream: its size, and its content checked as it is read
   * (each chunk authenticated; `readArtifact` checks the recorded size, and the SHA-256
   * where one was recorded, and throws at the end on a mismatch). A shared lock is held until the content is read or abandoned, so a prune
   * cannot remove packs under a download.
   */
  async openFile(id: string, path: string): Promise<{ size: number; content: AsyncIterable<Buffer> }> {
    const parts = path.split('/').filter((p) => p.length > 0 && p !== '.');
    const name = parts.pop() ?? '';
    const folder = await this.list(id, parts.join('/'));
    const node = folder.entries.find((e) => e.name === name);
    if (!node) throw new LifeboatError('not_found', `[browse] no file ${path} in snapshot ${id.slice(0, 8)}`);
    if (node.type !== 'file') {
      throw new LifeboatError('usage', `[browse] ${path} is a ${node.type}, not a file: restore it instead`);
    }
    // The handle stays open until the download ends, even if the list changes or it idles meanwhile.
    const { repo, release } = await this.acquire();
    let lock: Awaited<ReturnType<Repository['lock']>> | undefined;
    try {
      lock = await repo.lock(false, 'download');
      const store = new RepoContentStore(repo);
      const snapshot = await repo.loadSnapshot(id);
      let tree = await store.loadTree(snapshot.root);
      for (const part of parts) {
        const dir = tree.nodes.find((n) => n.name === part);
        tree = await store.loadTree(dir?.subtree ?? '');
      }
      const file = tree.nodes.find((n) => n.name === name)!;
      const held = lock;
      async function* content(): AsyncIterable<Buffer> {
        try {
          yield* readArtifact(store, file);
        } finally {
          await held.release().catch(() => {});
          release();
        }
      }
      return { size: file.size ?? 0, content: content() };
    } catch (err) {
      await lock?.release().catch(() => {});
      release();
      throw err;
    }
  }

  /** The full manifest of a snapshot (the server's cache keeps summaries only). */
  async manifest(id: string): Promise<Snapshot> {
    return this.use((repo) => repo.loadSnapshot(id));
  }

  /** The report.json a drill kept, parsed. */
  async drillReport(id: string): Promise<Record<string, unknown>> {
    return this.use(async (repo) => {
      const snapshot = await repo.loadSnapshot(id);
      if (snapshot.kind !== 'drill') {
        throw new LifeboatError('not_found', `[browse] snapshot ${id.slice(0, 8)} is not a drill report`);
      }
      const store = new RepoContentStore(repo);
      const tree = await store.loadTree(snapshot.root);
      const node = tree.nodes.find((n) => n.name === 'report.json');
      if (!node?.content) {
        throw new LifeboatError('repo_corrupt', `[browse] drill ${id.slice(0, 8)} has no report.json`);
      }
      const parts: Buffer[] = [];
      for await (const chunk of store.readContent(node.content)) parts.push(chunk);
      return JSON.parse(Buffer.concat(parts).toString('utf8'));
    });
  }

  /** Closes the handle now, or when the downloads still using it end. */
  async close(): Promise<void> {
    if (this.held) await this.retire(this.held);
  }

  private async use<T>(fn: (repo: Repository) => Promise<T>): Promise<T> {
    const { repo, release } = await this.acquire();
    try {
      return await fn(repo);
    } finally {
      release();
    }
  }

  private async acquire(): Promise<{ repo: Repository; release: () => void }> {
    if (this.held && this.held.version !== this.version()) void this.retire(this.held);
    if (!this.held) {
      const repo = this.openRepository().then(async (r) => {
        await r.loadIndex();
        return r;
      });
      const fresh: Held = { repo, version: this.version(), users: 0, retired: false };
      this.held = fresh;
      repo.catch(() => {
        if (this.held === fresh) this.held = undefined;
      });
    }
    const held = this.held;
    held.users++;
    clearTimeout(held.timer);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      held.users--;
      if (held.users > 0) return;
      if (held.retired) {
        void this.dispose(held);
        return;
      }
      held.timer = setTimeout(() => void this.retire(held), this.idleMs);
      held.timer.unref();
    };
    try {
      return { repo: await held.repo, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  private async retire(held: Held): Promise<void> {
    if (this.held === held) this.held = undefined;
    held.retired = true;
    clearTimeout(held.timer);
    if (held.users === 0) await this.dispose(held);
  }

  private async dispose(held: Held): Promise<void> {
    const repo = await held.repo.catch(() => undefined);
    await repo?.close().catch(() => {});
    await repo?.closeStorage().catch(() => {});
  }
}

function entryOf(n: TreeNode): TreeEntry {
  return {
    name: n.name,
    type: n.type,
    size: n.type === 'file' ? (n.size ?? 0) : null,
    mode: n.mode ?? null,
    mtime: n.mtimeNs ? new Date(Number(BigInt(n.mtimeNs) / 1_000_000n)).toISOString() : null,
    sha256: n.sha256 ?? null,
    target: n.target ?? null,
  };
}
