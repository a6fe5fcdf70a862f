/**
 * @module jobs/waiting-store
 * A ContentStore that stands in for the repository's while the repository is still being
 * opened, locked and its index loaded: a backup starts its source at once (the server's
 * snapshot, a dump tool's catalog reads), and the source's writes wait here. Meanwhile up to
 * READ_AHEAD bytes of a stream are read and held, so the server goes on producing for a
 * while; beyond that nothing is read, and the pipe or socket holds the source back. When the
 * repository cannot be used, every waiting call fails with its error and the source stops.
 */
import type { RepoContentStore } from '../repo/content-store.js';
import type { ContentRef, ContentStore, DamagedRange, Tree } from '../repo/tree.js';

/** Bytes of a stream held while the repository is not ready: the most memory it costs. */
export const READ_AHEAD = 8 * 1024 * 1024;

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
    if (this.store) return this.store.saveContent(stream, options);
    const input = stream[Symbol.asyncIterator]();
    const ahead = readAhead(input, this.ready);
    let store: RepoContentStore;
    try {
      store = await this.ready;
    } catch (err) {
      // As a for-await loop left early would: the source's generator gets to clean up (once
      // a read in flight returns; the source is being stopped meanwhile).
      void ahead.held.then(() => input.return?.()).catch(() => {});
      throw err;
    }
    return store.saveContent(ahead.rest(), options);
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
}

/**
 * Reads `input` until `ready` settles or READ_AHEAD bytes are held (copies: a source may
 * reuse its buffer for the next piece). `rest()` is the stream from its start again: the
 * pieces held, then what is left of `input`.
 */
function readAhead(
  input: AsyncIterator<Uint8Array>,
  ready: Promise<unknown>,
): { held: Promise<void>; rest(): AsyncIterable<Uint8Array> } {
  let settled = false;
  ready.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const pieces: Uint8Array[] = [];
  let ended = false;
  let failure: { err: unknown } | undefined;
  const held = (async () => {
    let bytes = 0;
    try {
      while (!settled && bytes < READ_AHEAD) {
        const next = await input.next();
        if (next.done) {
          ended = true;
          return;
        }
        pieces.push(Buffer.from(next.value));
        bytes += next.value.length;
      }
    } catch (err) {
      failure = { err };
    }
  })();
  return {
    held,
    async *rest() {
      let finished = false;
      try {
        await held;
        yield* pieces.splice(0);
        if (failure) throw failure.err;
        for (
          let next = ended ? undefined : await input.next();
          next && !next.done;
          next = await input.next()
        ) {
          yield next.value;
        }
        finished = true;
      } finally {
        // Left early (the store failed): the source's generator gets to clean up.
        if (!finished && !failure && !ended) await input.return?.();
      }
    },
  };
}
