/**
 * @module repo/seal-worker
 * Worker thread body: compresses and seals blobs off the main thread, so a backup uses
 * every core. Receives the encryption key once, then (seq, type, id, data) messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BlobRing } from './blob-ring.js';
import { Chunker, type ChunkerParams, type ChunkStream, gearTable } from './chunker.js';
import { collector } from './collect.js';
import { compressScratch } from './compress.js';
import { blobId, KeyRing, type KeyRingParts, type SealSpec } from './crypto.js';
import { openObject } from './object-archive.js';
import type { BlobType } from './pack.js';
import { FLAG_ZSTD, openVerified, sealBlob } from './pack.js';

export interface SealTask {
  seq: number;
  /** 'object' opens the archived object named `what` (object-archive.ts; its file's bytes come back in `sealed`). */
  op?: 'open' | 'object' | 'chunk' | 'sealKept';
  /**
   * For 'chunk': the stream the piece belongs to, the piece's length (in `data`, whose whole
   * buffer comes back in `sealed`, or in the shared `piece`), and whether it is the last. The chunks are kept here and
   * named in `kept`; each is then sealed ('sealKept' with its `key`) or dropped.
   */
  stream?: number;
  /** For 'chunk': the piece's place in the pool's shared pieces (then `data` is empty). */
  piece?: number;
  length?: number;
  last?: boolean;
  key?: number;
  /** For 'open': the blob's flags, plaintext length, and what messages call it. */
  flags?: number;
  rawLength?: number;
  what?: string;
  /** For 'open': recompute the keyed id (pack.openVerified's `recomputeId`). */
  recomputeId?: boolean;
  /**
   * For 'open': write the plaintext at `at` of this shared memory (a BlobRing) and send back
   * nothing. For 'sealKept': write the sealed blob there (`room` bytes at most) and send back
   * its `length`.
   */
  into?: { ring: SharedArrayBuffer; at: number; room?: number };
  type: BlobType;
  id: Uint8Array;
  data: Uint8Array;
}

export interface SealDone {
  seq: number;
  flags: number;
  sealed: Uint8Array;
  /** For 'sealKept' into shared memory: the sealed blob's length there. */
  length?: number;
  error?: string;
  /** The LifeboatError code of a failed 'open' (integrity: the data is damaged). */
  errorCode?: string;
  /** For 'chunk': the chunks that ended in the piece, in order. */
  kept?: KeptChunk[];
}

/**
 * A chunk cut by a worker: its key there, keyed id and length; or, for a small chunk, its
 * sealed blob and flags instead of a key (sealed at once, not kept).
 */
export interface KeptChunk {
  key: number;
  id: Uint8Array;
  length: number;
  sealed?: Uint8Array;
  flags?: number;
}

/**
 * Chunks below this size (small files, the ends of files) are sealed as they are cut: a
 * second round trip between the threads (about 60 µs of CPU) costs more than compressing
 * them, even when the main thread then finds them stored already and drops the result.
 */
export const SEAL_AT_ONCE = 128 * 1024;

/** Messages without a reply: forget a kept chunk (a duplicate), or a stream given up. */
export interface DropMessage {
  op: 'drop' | 'forget';
  key?: number;
  stream?: number;
}

const data = workerData as {
  epoch?: number;
  key?: Uint8Array;
  box?: Uint8Array;
  level: number;
  keys?: Omit<KeyRingParts, 'dataKeys'> & { dataKeys: [number, Uint8Array][] };
  /** For pools that chunk and name what they seal (the backup's content). */
  chunking?: {
    params: ChunkerParams;
    seed: Uint8Array;
    mac: Uint8Array;
    pieces: SharedArrayBuffer;
    pieceBytes: number;
  };
};
const spec: SealSpec = data.box
  ? { box: Buffer.from(data.box) }
  : { epoch: data.epoch!, key: Buffer.from(data.key!) };
const level = data.level;
const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
// Only pools that read (BlobReader.readBlobs) get the full keys.
const keys =
  data.keys &&
  new KeyRing({
    mac: buf(data.keys.mac),
    chunkerSeed: buf(data.keys.chunkerSeed),
    dataKeys: new Map(data.keys.dataKeys.map(([e, k]) => [e, buf(k)])),
    current: data.keys.current,
    indexKey: buf(data.keys.indexKey),
    boxPublic: buf(data.keys.boxPublic),
    boxPrivate: data.keys.boxPrivate && buf(data.keys.boxPrivate),
  });

const chunker =
  data.chunking && new Chunker(data.chunking.params, gearTable(Buffer.from(data.chunking.seed)));
const macKey = data.chunking && Buffer.from(data.chunking.mac);
/** The pool's pieces (SealPool.takePiece), shared with the main thread. */
const pieces = data.chunking?.pieces;
const pieceBytes = data.chunking?.pieceBytes ?? 0;
/** What sealing a chunk leaves (the cipher's output) is garbage once sent. */
const letGo = collector(16 * 1024 * 1024);
const streams = new Map<number, ChunkStream>();
/**
 * Memory the chunks cut here are copied into until sealed or dropped, reused: a fresh buffer
 * per chunk, freed after a collection, left the allocator holding tens of MiB not in use.
 */
const chunkRing = chunker && new BlobRing(8 * 1024 * 1024);
const chunkMemory = (length: number) => chunkRing?.take(length) ?? Buffer.allocUnsafeSlow(length);
/**
 * A chunk sealed or dropped: its memory is given back to the ring, or left to the collector.
 * Sealing it left garbage of about its size (the cipher's output); dropping it (stored
 * already) leaves garbage only when it was not ring memory. A backup of data mostly stored
 * (a database's next dump) then runs no forced collections.
 */
function done(chunk: Buffer, sealed: boolean): void {
  const own = !chunkRing?.holds(chunk);
  chunkRing?.release(chunk);
  if (sealed || own) letGo(chunk.length);
}
const kept = new Map<number, Buffer>();
let nextKey = 0;

/** Cuts a piece of a stream; the chunks stay here until sealed or dropped. */
function chunkPiece(task: SealTask, piece: Buffer): KeptChunk[] {
  if (!chunker || !macKey) throw new Error('this pool does not chunk');
  const id = task.stream ?? 0;
  let stream = streams.get(id);
  if (!stream) {
    stream = chunker.stream(chunkMemory);
    streams.set(id, stream);
  }
  const chunks = stream.push(piece.subarray(0, task.length ?? piece.length));
  if (task.last) {
    streams.delete(id);
    const last = stream.end();
    if (last) chunks.push(last);
  }
  return chunks.map((chunk) => {
    const id = blobId(macKey, chunk);
    if (chunk.length < SEAL_AT_ONCE) {
      const { flags, sealed } = sealChunk(task.type, id, chunk);
      done(chunk, true);
      return { key: -1, id, length: chunk.length, sealed, flags };
    }
    const key = nextKey++;
    kept.set(key, chunk);
    return { key, id, length: chunk.length };
  });
}

function sealChunk(
  type: BlobType,
  id: Uint8Array,
  plain: Buffer,
  into?: Buffer,
): { flags: number; sealed: Buffer } {
  // A view of reused memory: sealing copies it out.
  const compressed = compressScratch(plain, level);
  const flags = compressed ? FLAG_ZSTD : 0;
  return {
    flags,
    sealed: sealBlob(
      spec,
      type,
      flags,
      Buffer.from(id.buffer, id.byteOffset, id.byteLength),
      compressed ?? plain,
      into,
    ),
  };
}

function seal(task: SealTask, plain: Buffer): void {
  if (task.into) {
    const into = Buffer.from(task.into.ring, task.into.at, task.into.room ?? 0);
    const { flags, sealed } = sealChunk(task.type, task.id, plain, into);
    parentPort?.postMessage({ seq: task.seq, flags, sealed: new Uint8Array(0), length: sealed.length });
    return;
  }
  const { flags, sealed } = sealChunk(task.type, task.id, plain);
  const done: SealDone = { seq: task.seq, flags, sealed };
  parentPort?.postMessage(done, ownsBuffer(sealed) ? [sealed.buffer as ArrayBuffer] : []);
}

parentPort?.on('message', (task: SealTask | DropMessage) => {
  if (task.op === 'drop') {
    const chunk = kept.get(task.key ?? -1);
    if (chunk) done(chunk, false);
    kept.delete(task.key ?? -1);
    return;
  }
  if (task.op === 'forget') {
    streams.delete(task.stream ?? -1);
    return;
  }
  handle(task as SealTask);
});

function handle(task: SealTask): void {
  try {
    const data = Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength);
    if (task.op === 'object') {
      if (!keys) throw new Error('this pool has no keys to open archived objects with');
      const file = Buffer.concat([...openObject(keys, task.what ?? '', data)]);
      parentPort?.postMessage(
        { seq: task.seq, flags: 0, sealed: file },
        ownsBuffer(file) ? [file.buffer as ArrayBuffer] : [],
      );
      return;
    }
    if (task.op === 'open') {
      if (!keys) throw new Error('this pool has no keys to open blobs with');
      const entry = {
        type: task.type,
        flags: task.flags ?? 0,
        id: Buffer.from(task.id),
        rawLength: task.rawLength ?? 0,
      };
      const what = task.what ?? 'blob';
      if (task.into) {
        const into = Buffer.from(task.into.ring, task.into.at, entry.rawLength);
        openVerified(keys, entry, data, what, task.recomputeId !== false, into);
        parentPort?.postMessage({ seq: task.seq, flags: 0, sealed: new Uint8Array(0) });
        return;
      }
      const plain = openVerified(keys, entry, data, what, task.recomputeId !== false);
      const out = ownsBuffer(plain) ? plain : Buffer.from(plain);
      parentPort?.postMessage({ seq: task.seq, flags: 0, sealed: out }, [out.buffer as ArrayBuffer]);
      return;
    }
    if (task.op === 'chunk') {
      const piece =
        task.piece !== undefined && pieces ? Buffer.from(pieces, task.piece * pieceBytes, pieceBytes) : data;
      const chunks = chunkPiece(task, piece);
      // The blobs sealed at once move to the main thread; a shared piece stays where it is
      // (free again once this reply arrives), a piece of its own goes back.
      const moved: ArrayBuffer[] = [];
      if (piece === data) moved.push(task.data.buffer as ArrayBuffer);
      for (const c of chunks)
        if (c.sealed && ownsBuffer(c.sealed)) moved.push(c.sealed.buffer as ArrayBuffer);
      parentPort?.postMessage({ seq: task.seq, flags: 0, sealed: task.data, kept: chunks }, moved);
      return;
    }
    if (task.op === 'sealKept') {
      const plain = kept.get(task.key ?? -1);
      if (!plain) throw new Error(`no kept chunk ${task.key}`);
      kept.delete(task.key ?? -1);
      try {
        seal(task, plain);
      } finally {
        done(plain, true);
      }
      return;
    }
    seal(task, data);
  } catch (err) {
    const e = err as { message?: string; code?: string };
    parentPort?.postMessage({
      seq: task.seq,
      flags: 0,
      sealed: new Uint8Array(0),
      error: e?.message ?? String(err),
      errorCode: e?.code,
    });
  }
}

/** True when the view spans its whole ArrayBuffer, so transferring it detaches nothing else. */
export function ownsBuffer(b: Uint8Array): boolean {
  return (
    b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer)
  );
}
