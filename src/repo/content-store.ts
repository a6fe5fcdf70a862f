/**
 * @module repo/content-store
 * The ContentStore sources use: streams become chunks (FastCDC), chunks and trees become
 * blobs. Sources see ids and trees, never packs or keys.
 */
import { createHash } from 'node:crypto';
import { describe, LifeboatError } from '../errors.js';
import { BlobRing } from './blob-ring.js';
import { Chunker, gearTable } from './chunker.js';
import { partsOf } from './repo-parts.js';
import type { Repository } from './repository.js';
import { type KeptRef, PIECE_BYTES, type Piece, type SealPool } from './seal-pool.js';
import type { ContentRef, ContentStore, DamagedRange, LentContent, Tree } from './tree.js';

/** Blobs read ahead while streaming content back, to overlap storage latency. */
const READ_AHEAD = 4;
/**
 * Memory lent chunks are opened into (BlobRing): the blobs read ahead, what the reader still
 * holds (a tar extraction: 4 MiB queued for writing and the chunk it parses) and room to
 * spare; a chunk finding no room is allocated as by readContent. Restoring 1.6 GB, 32 MiB
 * did as well as 512 MiB.
 */
const RING_BYTES = 32 * 1024 * 1024;

/** Pieces of one stream being cut while the next is read. */
const PIECES_AHEAD = 1;

export class RepoContentStore implements ContentStore {
  private readonly chunker: Chunker;
  private treeCache = new Map<string, Tree>();

  constructor(private readonly repo: Repository) {
    this.chunker = new Chunker(repo.config.chunker, gearTable(partsOf(repo).key.chunkerSeed));
  }

  async saveContent(
    stream: AsyncIterable<Uint8Array>,
    options: { sha256?: boolean } = {},
  ): Promise<ContentRef> {
    const pool = this.repo.contentPool();
    if (pool) {
      const input = stream[Symbol.asyncIterator]();
      try {
        return await this.saveInWorkers(pool, readerOf(input), options);
      } catch (err) {
        // As a for-await loop left early would: the source's generator gets to clean up.
        await Promise.resolve(input.return?.()).catch(() => {});
        throw err;
      }
    }
    const hash = options.sha256 ? createHash('sha256') : undefined;
    const chunks: string[] = [];
    let size = 0;
    for await (const chunk of this.chunker.chunk(stream)) {
      hash?.update(chunk);
      size += chunk.length;
      const { id } = await this.repo.saveBlob('data', chunk);
      chunks.push(id.toString('hex'));
    }
    const ref: ContentRef = { chunks, size };
    if (hash) ref.sha256 = hash.digest('hex');
    return ref;
  }

  async saveRead(
    read: (into: Buffer) => Promise<number>,
    options: { sha256?: boolean } = {},
  ): Promise<ContentRef> {
    const pool = this.repo.contentPool();
    if (pool) return this.saveInWorkers(pool, read, options);
    const buffer = Buffer.allocUnsafe(PIECE_BYTES);
    async function* pieces(): AsyncIterable<Uint8Array> {
      for (let n = await read(buffer); n > 0; n = await read(buffer)) yield buffer.subarray(0, n);
    }
    return this.saveContent(pieces(), options);
  }

  /**
   * saveContent with the chunking, naming, compressing and sealing done in the seal workers:
   * each piece is read into memory the main thread shares with the workers, and the main
   * thread keeps or drops each chunk by its id. Same chunks and ids as the serial path.
   */
  private async saveInWorkers(
    pool: SealPool,
    read: (into: Buffer) => Promise<number>,
    options: { sha256?: boolean },
  ): Promise<ContentRef> {
    const hash = options.sha256 ? createHash('sha256') : undefined;
    const stream = pool.openStream();
    const chunks: string[] = [];
    let size = 0;
    const replies: Promise<KeptRef[]>[] = [];
    const take = async () => {
      const kept = await (replies.shift() as (typeof replies)[number]);
      for (const [i, chunk] of kept.entries()) {
        try {
          await this.repo.saveKept('data', chunk, pool);
        } catch (err) {
          for (const rest of kept.slice(i + 1)) pool.drop(rest);
          throw err;
        }
        size += chunk.length;
        chunks.push(chunk.id.toString('hex'));
      }
    };
    // A piece is sent once the next one is read (or the input ends), so the last goes with
    // the mark that ends the stream: a small file is one message.
    let held: { piece: Piece | Buffer; length: number } | undefined;
    const send = async (last: boolean) => {
      const { piece, length } = held ?? { piece: Buffer.allocUnsafeSlow(0), length: 0 };
      held = undefined;
      replies.push(pool.chunk(stream, piece, length, last));
      while (replies.length > PIECES_AHEAD) await take();
    };
    try {
      for (;;) {
        // Shared memory when a piece of it is free, else a buffer that moves to the worker.
        const shared = pool.takePiece();
        const into = shared?.buffer ?? Buffer.allocUnsafeSlow(PIECE_BYTES);
        let n: number;
        try {
          n = await read(into);
        } catch (err) {
          if (shared) pool.givePiece(shared);
          throw err;
        }
        if (n === 0) {
          if (shared) pool.givePiece(shared);
          break;
        }
        hash?.update(into.subarray(0, n));
        if (held) await send(false);
        held = { piece: shared ?? into, length: n };
      }
      await send(true);
      while (replies.length > 0) await take();
    } catch (err) {
      if (held && !Buffer.isBuffer(held.piece)) pool.givePiece(held.piece);
      pool.forget(stream);
      // Chunks cut but not looked at are let go, so the worker does not hold them.
      for (const reply of replies.splice(0)) {
        reply.then(
          (kept) => {
            for (const chunk of kept) pool.drop(chunk);
          },
          () => {},
        );
      }
      throw err;
    }
    const ref: ContentRef = { chunks, size };
    if (hash) ref.sha256 = hash.digest('hex');
    return ref;
  }

  async saveTree(tree: Tree): Promise<string> {
    const { id } = await this.repo.saveBlob('tree', Buffer.from(JSON.stringify(tree)));
    return id.toString('hex');
  }

  async loadTree(id: string): Promise<Tree> {
    const cached = this.treeCache.get(id);
    if (cached) return cached;
    const data = await this.repo.loadBlob(parseId(id));
    let tree: Tree;
    try {
      tree = JSON.parse(data.toString('utf8'));
    } catch (err) {
      throw new LifeboatError('repo_corrupt', `[repo] tree ${id.slice(0, 8)} is not valid JSON`, {
        cause: err,
      });
    }
    if (this.treeCache.size > 1024) this.treeCache.clear();
    this.treeCache.set(id, tree);
    return tree;
  }

  hasContent(chunks: string[]): boolean {
    return chunks.every((c) => this.repo.hasBlob(parseId(c)));
  }

  async *readContent(
    chunks: string[],
    options: { onDamaged?: (d: DamagedRange) => void; sameThread?: boolean } = {},
  ): AsyncIterable<Buffer> {
    const { onDamaged, sameThread } = options;
    if (!onDamaged) {
      yield* this.repo.readBlobs(chunks.map(parseId), READ_AHEAD, undefined, undefined, sameThread);
      return;
    }
    // Reported as opened (out of order), passed on in order, where the offset is known.
    const reasons = new Map<number, string>();
    let offset = 0;
    let i = 0;
    const blobs = this.repo.readBlobs(
      chunks.map(parseId),
      READ_AHEAD,
      undefined,
      (index, err) => reasons.set(index, describe(err)),
      sameThread,
    );
    for await (const blob of blobs) {
      const reason = reasons.get(i);
      if (reason !== undefined) {
        reasons.delete(i);
        onDamaged({ start: offset, end: offset + blob.length, reason });
      }
      offset += blob.length;
      i++;
      yield blob;
    }
  }

  lendContent(chunks: string[]): LentContent {
    const ring = new BlobRing(RING_BYTES);
    const blobs = this.repo.readBlobs(chunks.map(parseId), READ_AHEAD, ring);
    return { [Symbol.asyncIterator]: () => blobs, release: (chunk) => ring.release(chunk) };
  }
}

/** A read function over an iterator of pieces of any size (saveContent over saveInWorkers). */
/**
 * Reads a stream into the caller's buffers, filling each before it returns: input arriving in
 * small pieces (a pipe's 64 KiB, a socket's few KiB) becomes one worker round trip per
 * PIECE_BYTES rather than one per read, with the same chunks and ids (the worker's chunker
 * cuts by content, not by piece).
 */
function readerOf(input: AsyncIterator<Uint8Array>): (into: Buffer) => Promise<number> {
  let piece: Uint8Array | undefined;
  let at = 0;
  let done = false;
  return async (into) => {
    let filled = 0;
    while (filled < into.length && !done) {
      if (!piece || at === piece.length) {
        const next = await input.next();
        if (next.done) {
          done = true;
          break;
        }
        piece = next.value;
        at = 0;
        continue;
      }
      const n = Math.min(into.length - filled, piece.length - at);
      into.set(piece.subarray(at, at + n), filled);
      at += n;
      filled += n;
    }
    return filled;
  };
}

function parseId(hex: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new LifeboatError('repo_corrupt', `[repo] malformed blob id "${hex.slice(0, 16)}" in a tree`);
  }
  return Buffer.from(hex, 'hex');
}
