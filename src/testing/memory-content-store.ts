/**
 * @module testing/memory-content-store
 * A ContentStore in memory for unit tests of sources: fixed 64 KiB chunks named by their
 * SHA-256, trees as JSON, and counters so a test can prove what was (not) read.
 */
import { createHash } from 'node:crypto';
import type { ContentRef, ContentStore, Tree } from '../sources/source.js';

export const MEMORY_CHUNK_SIZE = 64 * 1024;

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export class MemoryContentStore implements ContentStore {
  readonly chunks = new Map<string, Buffer>();
  readonly trees = new Map<string, string>();
  /** Bytes saveContent consumed from its streams, in total. */
  bytesSaved = 0;
  /** Calls of saveContent. */
  saveContentCalls = 0;
  /** Bytes readContent handed out. */
  bytesRead = 0;

  /** Zeroes the counters (not the data), e.g. between two backups. */
  resetCounters(): void {
    this.bytesSaved = 0;
    this.saveContentCalls = 0;
    this.bytesRead = 0;
  }

  async saveContent(
    stream: AsyncIterable<Uint8Array>,
    options: { sha256?: boolean } = {},
  ): Promise<ContentRef> {
    this.saveContentCalls++;
    const hash = options.sha256 ? createHash('sha256') : undefined;
    const ids: string[] = [];
    let pending: Buffer[] = [];
    let pendingLength = 0;
    let size = 0;
    const emit = (chunk: Buffer) => {
      const id = sha256(chunk);
      if (!this.chunks.has(id)) this.chunks.set(id, Buffer.from(chunk));
      ids.push(id);
    };
    for await (const piece of stream) {
      const buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
      this.bytesSaved += buf.length;
      size += buf.length;
      hash?.update(buf);
      pending.push(Buffer.from(buf)); // the source may reuse its buffer for the next piece
      pendingLength += buf.length;
      if (pendingLength < MEMORY_CHUNK_SIZE) continue;
      const joined = Buffer.concat(pending);
      let at = 0;
      for (; at + MEMORY_CHUNK_SIZE <= joined.length; at += MEMORY_CHUNK_SIZE) {
        emit(joined.subarray(at, at + MEMORY_CHUNK_SIZE));
      }
      // Copy the tail: the stream may reuse the buffer it yielded.
      pending = at < joined.length ? [Buffer.from(joined.subarray(at))] : [];
      pendingLength = joined.length - at;
    }
    if (pendingLength > 0) emit(Buffer.concat(pending));
    const ref: ContentRef = { chunks: ids, size };
    if (hash) ref.sha256 = hash.digest('hex');
    return ref;
  }

  async saveTree(tree: Tree): Promise<string> {
    for (let i = 1; i < tree.nodes.length; i++) {
      const a = treeNameBytes(tree.nodes[i - 1]);
      const b = treeNameBytes(tree.nodes[i]);
      if (Buffer.compare(a, b) >= 0) throw new Error(`memory store: tree nodes not sorted at ${i}`);
    }
    const json = JSON.stringify(tree);
    const id = sha256(json);
    this.trees.set(id, json);
    return id;
  }

  async loadTree(id: string): Promise<Tree> {
    const json = this.trees.get(id);
    if (json === undefined) throw new Error(`memory store: no tree ${id}`);
    return JSON.parse(json) as Tree;
  }

  hasContent(chunks: string[]): boolean {
    return chunks.every((id) => this.chunks.has(id));
  }

  async *readContent(chunks: string[]): AsyncIterable<Buffer> {
    for (const id of chunks) {
      const chunk = this.chunks.get(id);
      if (!chunk) throw new Error(`memory store: no chunk ${id}`);
      this.bytesRead += chunk.length;
      yield Buffer.from(chunk);
    }
  }
}

function treeNameBytes(node: { name: string; nameRaw?: string }): Buffer {
  return node.nameRaw !== undefined ? Buffer.from(node.nameRaw, 'base64') : Buffer.from(node.name, 'utf8');
}
