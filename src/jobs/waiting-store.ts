/**
 * @module jobs/waiting-store
 * A ContentStore that stands in for the repository's while the repository is still being
 * opened, locked and its index loaded: a backup starts its source at once (the server's
 * snapshot, a dump tool's catalog reads), and the source's first write waits here. Nothing
 * is read from the source meanwhile, so the pipe or socket holds it back: the bytes waiting
 * are the kernel's buffers, never a copy in memory. When the repository cannot be used, every
 * waiting call fails with its error and the source stops.
 */
import type { RepoContentStore } from '../repo/content-store.js';
import type { ContentRef, ContentStore, DamagedRange, Tree } from '../repo/tree.js';

export class WaitingStore implements ContentStore {
  private store: RepoContentStore | undefined;

  constructor(private readonly ready: Promise<RepoContentStore>) {
    ready.then(
      (store) => {
        this.store = store;
      },
      () => {},
    );
  }

  async saveContent(stream: AsyncIterable<Uint8Array>, options?: { sha256?: boolean }): Promise<ContentRef> {
    return (await this.opened(stream)).saveContent(stream, options);
  }

  async saveRead(
    read: (into: Buffer) => Promise<number>,
    options?: { sha256?: boolean },
  ): Promise<ContentRef> {
    return (await this.ready).saveRead(read, options);
  }

  async saveTree(tree: Tree): Promise<string> {
    return (await this.ready).saveTree(tree);
  }

  async loadTree(id: string): Promise<Tree> {
    return (await this.ready).loadTree(id);
  }

  /** Before the index is loaded nothing counts as stored: the content is read and saved. */
  hasContent(chunks: string[]): boolean {
    return this.store?.hasContent(chunks) ?? false;
  }

  async *readContent(
    chunks: string[],
    options?: { onDamaged?: (d: DamagedRange) => void; sameThread?: boolean },
  ): AsyncIterable<Buffer> {
    yield* (await this.ready).readContent(chunks, options);
  }

  /** The store once ready; when it never is, the stream's generator gets to clean up first. */
  private async opened(stream: AsyncIterable<Uint8Array>): Promise<RepoContentStore> {
    try {
      return await this.ready;
    } catch (err) {
      await Promise.resolve(stream[Symbol.asyncIterator]().return?.()).catch(() => {});
      throw err;
    }
  }
}
