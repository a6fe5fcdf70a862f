/**
 * @module repo/seal-pool
 * A small pool of worker threads that cut content into chunks, name, compress and seal
 * blobs, and open them on reads. The main thread keeps the index (ids decide deduplication)
 * and fills packs. Content and sealed blobs pass through memory shared with the workers.
 * Workers hold the process open only while they have work.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { LifeboatError } from '../errors.js';
import { BlobRing } from './blob-ring.js';
import type { ChunkerParams } from './chunker.js';
import { type KeyRingParts, MAX_SEAL_GROWTH, type SealSpec } from './crypto.js';
import type { BlobType, PackEntry } from './pack.js';
import type { DropMessage, KeptChunk, SealDone, SealTask } from './seal-worker.js';

/** What a pool that chunks needs: the chunker, its gear seed, and the key that names blobs. */
export interface ChunkingKeys {
  params: ChunkerParams;
  seed: Buffer;
  mac: Buffer;
}

/**
 * A chunk a worker holds (SealPool.chunk) until it is sealed or dropped; or a small one the
 * worker sealed at once (`sealed`, `flags`), which it no longer holds.
 */
export interface KeptRef {
  id: Buffer;
  length: number;
  key: number;
  slot: object;
  sealed?: Buffer;
  flags?: number;
}

interface Pending {
  resolve(done: SealDone & { sealed: Buffer }): void;
  reject(err: unknown): void;
  /** An open(): its errors are the data's, not the worker's. */
  opening?: boolean;
}

interface Slot {
  worker: Worker;
  busy: number;
}

/** Bytes of one piece of content (SealPool.takePiece). */
export const PIECE_BYTES = 1024 * 1024;

/**
 * Pieces in the shared memory the workers cut from: two per file read at once for the files
 * backup's four (a file also has one being cut now and then). A caller finding none free
 * uses a buffer of its own. Each piece, ring and pack buffer is resident memory: sizes here
 * trade peak RSS against fewer buffers of their own.
 */
const PIECE_SLOTS = 8;
/** Sealed blobs waiting to be copied into a pack: a few chunks of 1 to 2 MiB in flight. */
const SEALED_RING_BYTES = 8 * 1024 * 1024;

/** A piece of content in the memory shared with the workers, to be given to chunk(). */
export interface Piece {
  /** The piece's memory (PIECE_BYTES long): fill it, then pass the piece to chunk(). */
  buffer: Buffer;
  slot: number;
}

export class SealPool {
  private slots: Slot[] = [];
  private pending = new Map<number, Pending & { slot: Slot }>();
  private seq = 0;
  /**
   * Pieces of content read for the workers to cut, in memory they share with this thread:
   * nothing moves between the threads but the piece's number. (Moving a buffer counts as new
   * external memory on each side, so pieces moving back and forth made the garbage
   * collector run often; a fresh buffer per small file did too.)
   */
  private pieces: SharedArrayBuffer | undefined;
  private freePieces: number[] = [];
  /**
   * Memory shared with the workers that sealKept() seals into, for the same reason: sealed
   * blobs moved to this thread made garbage collections; copied into a pack from here,
   * they make none.
   */
  private sealedRing: BlobRing | undefined;
  /** Streams being cut, each on the worker that holds its state. */
  private streamSlots = new Map<number, Slot>();
  private nextStream = 0;

  constructor(
    private readonly spec: SealSpec,
    private readonly level: number,
    // The main thread reads files and fills packs: one of the cores at work already. (A
    // backup with a worker per core, on 2 cores, was no faster and peaked some 70 MiB higher.)
    readonly size = Math.max(1, Math.min(4, availableParallelism() - 1)),
    /** Full keys, for open(): only pools that read get them. */
    private readonly keys?: KeyRingParts,
    /** For chunk(): only pools that write content get them. */
    private readonly chunking?: ChunkingKeys,
  ) {}

  /**
   * Starts a worker now, before the first task: a worker's start-up (a thread, its modules)
   * then overlaps the caller's own waits (the repository's index, the source's connection)
   * instead of delaying the first piece of content. Idle, it does not keep the process alive.
   */
  warm(): void {
    if (this.slots.length === 0 && this.size > 0) this.spawn();
  }

  /** A new stream for chunk(). */
  openStream(): number {
    return this.nextStream++;
  }

  /** A free piece of shared memory for chunk(), or undefined when all are in use. */
  takePiece(): Piece | undefined {
    const pieces = this.sharedPieces();
    const slot = this.freePieces.pop();
    if (!pieces || slot === undefined) return undefined;
    return { buffer: Buffer.from(pieces, slot * PIECE_BYTES, PIECE_BYTES), slot };
  }

  /** The pieces' memory of a pool that chunks, made before its first worker (which gets it). */
  private sharedPieces(): SharedArrayBuffer | undefined {
    if (!this.pieces && this.chunking) {
      this.pieces = new SharedArrayBuffer(PIECE_SLOTS * PIECE_BYTES);
      this.freePieces = Array.from({ length: PIECE_SLOTS }, (_, i) => PIECE_SLOTS - 1 - i);
    }
    return this.pieces;
  }

  /** Gives back a piece taken and not passed to chunk() (which gives its piece back itself). */
  givePiece(piece: Piece): void {
    this.freePieces.push(piece.slot);
  }

  /**
   * Cuts the next piece of `stream` (its first `length` bytes) in the worker that holds the
   * stream, and names each chunk that ends in it (keyed id). The chunks stay in the worker:
   * each must be given to sealKept() or drop(). The piece is a Piece from takePiece(), free
   * again once this resolves, or a buffer that owns its whole ArrayBuffer, which moves to
   * the worker (and is not given back).
   */
  async chunk(stream: number, piece: Piece | Buffer, length: number, last: boolean): Promise<KeptRef[]> {
    let slot = this.streamSlots.get(stream);
    if (!slot) {
      slot = this.pickSlot();
      this.streamSlots.set(stream, slot);
    }
    if (last) this.streamSlots.delete(stream);
    const shared = !Buffer.isBuffer(piece);
    const data = shared ? new Uint8Array(0) : piece;
    const task: SealTask = { seq: 0, op: 'chunk', type: 'data', id: new Uint8Array(0), data };
    if (shared) task.piece = piece.slot;
    task.stream = stream;
    task.length = length;
    task.last = last;
    let done: SealDone & { sealed: Buffer };
    try {
      done = await this.run(task, true, false, slot);
    } finally {
      // Cut (the chunks are copies) or failed: the piece is free either way.
      if (shared) this.freePieces.push(piece.slot);
    }
    const at = slot;
    return (done.kept ?? []).map((k: KeptChunk) => {
      const ref: KeptRef = {
        id: Buffer.from(k.id.buffer, k.id.byteOffset, k.id.byteLength),
        length: k.length,
        key: k.key,
        slot: at,
      };
      if (k.sealed) {
        ref.sealed = Buffer.from(k.sealed.buffer, k.sealed.byteOffset, k.sealed.byteLength);
        ref.flags = k.flags ?? 0;
      }
      return ref;
    });
  }

  /**
   * Compresses and seals a chunk its worker holds (see chunk()). The sealed blob may lie in
   * memory shared with the worker: give it back with releaseSealed() once it is copied.
   */
  async sealKept(type: BlobType, chunk: KeptRef): Promise<SealDone & { sealed: Buffer }> {
    const task: SealTask = { seq: 0, op: 'sealKept', type, id: chunk.id, data: new Uint8Array(0) };
    task.key = chunk.key;
    this.sealedRing ??= new BlobRing(SEALED_RING_BYTES);
    const room = chunk.length + MAX_SEAL_GROWTH;
    const into = this.sealedRing.take(room);
    if (!into) return this.run(task, true, false, chunk.slot as Slot);
    task.into = { ring: this.sealedRing.buffer, at: into.byteOffset, room };
    try {
      const done = await this.run(task, true, false, chunk.slot as Slot);
      return { ...done, sealed: into.subarray(0, done.length ?? 0) };
    } catch (err) {
      this.sealedRing.release(into);
      throw err;
    }
  }

  /** Gives back the memory of a blob sealKept() sealed (others are ignored). */
  releaseSealed(sealed: Buffer): void {
    this.sealedRing?.release(sealed);
  }

  /** Lets its worker forget a chunk not needed (already stored). */
  drop(chunk: KeptRef): void {
    if (chunk.sealed) return; // not held there
    this.post(chunk.slot as Slot, { op: 'drop', key: chunk.key });
  }

  /** Lets a worker forget a stream that will not be finished (its input failed). */
  forget(stream: number): void {
    const slot = this.streamSlots.get(stream);
    this.streamSlots.delete(stream);
    if (slot) this.post(slot, { op: 'forget', stream });
  }

  private post(slot: Slot, message: DropMessage): void {
    if (this.slots.includes(slot)) slot.worker.postMessage(message);
  }

  /** Tasks in flight; callers keep this bounded for memory. */
  get inflight(): number {
    return this.pending.size;
  }

  seal(type: BlobType, id: Buffer, data: Uint8Array): Promise<SealDone & { sealed: Buffer }> {
    return this.run({ seq: 0, type, id, data });
  }

  /**
   * Opens and verifies a stored blob (pack.openVerified) in a worker; needs `keys`. `into`, a
   * view of exactly the blob's length over a SharedArrayBuffer, receives the plaintext and is
   * returned: nothing moves between the threads but the sealed bytes.
   */
  async open(
    entry: Pick<PackEntry, 'type' | 'flags' | 'id' | 'rawLength'>,
    sealed: Buffer,
    what: string,
    recomputeId = true,
    into?: Buffer,
  ): Promise<Buffer> {
    const task: SealTask = {
      seq: 0,
      op: 'open',
      type: entry.type,
      id: entry.id,
      data: sealed,
      flags: entry.flags,
      rawLength: entry.rawLength,
      what,
      recomputeId,
    };
    if (into) {
      if (!(into.buffer instanceof SharedArrayBuffer) || into.length !== entry.rawLength) {
        throw new LifeboatError(
          'internal',
          "[repo] open(): `into` must be shared memory of the blob's length",
        );
      }
      task.into = { ring: into.buffer, at: into.byteOffset };
      await this.run(task, false, true);
      return into;
    }
    return (await this.run(task, false, true)).sealed;
  }

  /**
   * Opens and checks the archived object `object` (object-archive.openObject) in a worker;
   * needs `keys`. Resolves to the file's bytes.
   */
  async openObject(object: string, data: Buffer): Promise<Buffer> {
    const task: SealTask = { seq: 0, op: 'object', type: 'data', id: new Uint8Array(0), what: object, data };
    return (await this.run(task, false, true)).sealed;
  }

  private run(
    task: SealTask,
    ownsArrayBuffer = false,
    opening = false,
    at?: Slot,
  ): Promise<SealDone & { sealed: Buffer }> {
    if (at && !this.slots.includes(at)) {
      return Promise.reject(new LifeboatError('internal', '[repo] the seal worker holding a chunk failed'));
    }
    const slot = at ?? this.pickSlot();
    const seq = this.seq++;
    task.seq = seq;
    // Always moved, never cloned: a view gets a buffer of its own first, as posting it would
    // clone its whole ArrayBuffer (a run of blobs, a read buffer).
    if (!ownsArrayBuffer) task.data = alone(task.data);
    const data = task.data;
    return new Promise<SealDone & { sealed: Buffer }>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, slot, opening });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage(task, [data.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private pickSlot(): Slot {
    if (this.slots.length < this.size) {
      const least = this.slots.find((s) => s.busy === 0);
      if (least) return least;
      return this.spawn();
    }
    return this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  private spawn(): Slot {
    const worker = new Worker(new URL('./seal-worker.js', import.meta.url), {
      // A small young generation (1 MiB semi-spaces, as the `lifeboat` command gives the main
      // thread): its default growth to 16 MiB cost RSS and saved no time here.
      resourceLimits: { maxYoungGenerationSizeMb: 3 },
      workerData: {
        ...('box' in this.spec
          ? { box: new Uint8Array(this.spec.box) }
          : { epoch: this.spec.epoch, key: new Uint8Array(this.spec.key) }),
        level: this.level,
        keys: this.keys && { ...this.keys, dataKeys: [...this.keys.dataKeys] },
        chunking: this.chunking && {
          pieces: this.sharedPieces(),
          pieceBytes: PIECE_BYTES,
          params: { ...this.chunking.params },
          seed: new Uint8Array(this.chunking.seed),
          mac: new Uint8Array(this.chunking.mac),
        },
      },
    });
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (done: SealDone) => {
      const p = this.pending.get(done.seq);
      if (!p) return;
      this.pending.delete(done.seq);
      if (--slot.busy === 0) worker.unref();
      if (done.error) {
        // A blob that does not open is damaged data, not a broken worker: report it as such.
        p.reject(
          p.opening
            ? new LifeboatError(done.errorCode === 'integrity' ? 'integrity' : 'internal', done.error)
            : new LifeboatError('internal', `[repo] sealing a blob failed: ${done.error}`),
        );
      } else
        p.resolve({
          ...done,
          sealed: Buffer.from(done.sealed.buffer, done.sealed.byteOffset, done.sealed.byteLength),
        });
    });
    worker.on('error', (err) => this.failAll(slot, err));
    worker.on('exit', (code) => {
      if (code !== 0) this.failAll(slot, new Error(`seal worker exited with code ${code}`));
    });
    // After the listeners: adding a 'message' listener refs the worker's port again, and an
    // idle worker (one started by warm() and never used) must not keep the process alive.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private failAll(slot: Slot, err: unknown): void {
    for (const [seq, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(seq);
      p.reject(new LifeboatError('internal', `[repo] a seal worker failed: ${String(err)}`, { cause: err }));
    }
    this.slots = this.slots.filter((s) => s !== slot);
  }
}

/** `data` when it is the whole of an ArrayBuffer (not shared); else a copy that is. */
function alone(data: Uint8Array): Uint8Array {
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  if (whole && !(data.buffer instanceof SharedArrayBuffer)) return data;
  const own = Buffer.allocUnsafeSlow(data.byteLength);
  own.set(data);
  return own;
}
