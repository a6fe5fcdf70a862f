/**
 * @module repo/tree
 * The tree and content formats the repository stores, and the ContentStore contract sources
 * write through: a tree blob is JSON of a Tree, a file's content a list of chunk blob ids.
 * Sources see these types, never packs, indexes or keys.
 */

/** Reference to stored content: an ordered list of chunk blob ids (hex) and the total size. */
export interface ContentRef {
  chunks: string[];
  size: number;
  /** SHA-256 (hex) of the whole stream, recorded for dumps so `dump` can be checked end to end. */
  sha256?: string;
}

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

/**
 * One entry of a directory tree, as stored (JSON) in a tree blob. Names and link targets that
 * are not valid UTF-8 are kept as base64 in `nameRaw` / `targetRaw` instead.
 */
export interface TreeNode {
  name: string;
  nameRaw?: string;
  type: NodeType;
  mode?: number;
  /** Modification time, nanoseconds since the epoch, as a decimal string. */
  mtimeNs?: string;
  atimeNs?: string;
  uid?: number;
  gid?: number;
  size?: number;
  inode?: number;
  dev?: number;
  nlink?: number;
  /** rdev for device nodes. */
  rdev?: number;
  /** Regular files: their content. */
  content?: string[];
  /** SHA-256 of a file's whole content, when recorded. */
  sha256?: string;
  /** Directories: id of the tree blob holding their entries. */
  subtree?: string;
  /** Symlinks: their target. */
  target?: string;
  targetRaw?: string;
  /**
   * Hard links: path (relative to the snapshot root, '/'-separated, names as in the tree)
   * of the first entry of the same inode; that entry carries the content.
   */
  hardlinkTo?: string;
  /**
   * Set by `lifeboat repair snapshots` on an entry that lost data: a file keeps the blobs
   * still stored (`content` and `size` without what was cut; `lostBytes` cut), a folder
   * whose listing was lost is empty (`listingLost`).
   */
  damaged?: { lostBytes?: number; listingLost?: boolean };
}

export interface Tree {
  nodes: TreeNode[];
}

/** What a source may do with the repository while backing up. */
export interface ContentStore {
  /**
   * Chunks, deduplicates, compresses, encrypts and stores a stream. Each piece is consumed
   * (copied) before the next is pulled, so a source may reuse one buffer for every piece.
   */
  saveContent(stream: AsyncIterable<Uint8Array>, options?: { sha256?: boolean }): Promise<ContentRef>;
  /**
   * saveContent reading straight into the store's memory: `read` fills `into` from its start
   * and resolves to the bytes it put there, 0 at the end of the stream; it is not called
   * again before the last call's bytes are consumed. Optional: without it, saveContent serves.
   */
  saveRead?(read: (into: Buffer) => Promise<number>, options?: { sha256?: boolean }): Promise<ContentRef>;
  /** Stores one directory's entries; returns the tree id. Nodes MUST be sorted by name bytes. */
  saveTree(tree: Tree): Promise<string>;
  loadTree(id: string): Promise<Tree>;
  /** True when every chunk is present in the repository (so unchanged content can be reused). */
  hasContent(chunks: string[]): boolean;
  /**
   * Reads stored content back, chunk by chunk, verified. A chunk whose stored bytes are
   * damaged throws (an 'integrity' or 'repo_corrupt' LifeboatError), unless `onDamaged` is
   * given: then it is reported there and read as zeros of its length, so the stream keeps its
   * length and the reader can say which of its bytes are lost (a chunk of unknown length,
   * missing from the index, still throws).
   *
   * With `sameThread`, every chunk is opened (decrypted, decompressed) on the calling thread,
   * for a reader that reads many streams at once (a files restore): a worker's memory and the
   * copies to and from it then cost more than its parallelism gives.
   */
  readContent(
    chunks: string[],
    options?: { onDamaged?: (d: DamagedRange) => void; sameThread?: boolean },
  ): AsyncIterable<Buffer>;
  /**
   * readContent whose chunks are lent: the store reuses the memory of each chunk given back
   * with `release`, so a long read allocates almost nothing. The reader gives back every
   * chunk once nothing refers to it any more. Optional: without it, readContent serves.
   */
  lendContent?(chunks: string[]): LentContent;
}

/** Bytes of a stream whose chunk is damaged, end exclusive. */
export interface DamagedRange {
  start: number;
  end: number;
  /** What the repository said (names the blob and its pack). */
  reason: string;
}

/** Chunks lent by ContentStore.lendContent. */
export interface LentContent extends AsyncIterable<Buffer> {
  /** Gives a chunk (or a view starting where it starts) back; other buffers are ignored. */
  release(chunk: Uint8Array): void;
}
