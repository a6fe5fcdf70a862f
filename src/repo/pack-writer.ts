/**
 * @module repo/pack-writer
 * Writing blobs: each is compressed and sealed (in seal workers when large), gathered into a
 * pack per blob type, and the pack uploaded once full; an index file names uploaded packs
 * every INDEX_EVERY_PACKS and at flush. Write order (docs/format.md): packs, then the index.
 */
import { LifeboatError } from '../errors.js';
import { type Backend, stillRead } from '../storage/backend.js';
import type { BlobIndex } from './blob-index.js';
import { collector } from './collect.js';
import { compressScratch } from './compress.js';
import { storageId } from './crypto.js';
import type { IndexedPack } from './index-file.js';
import { encodeIndex } from './index-file.js';
import type { KeyStore } from './key-store.js';
import type { BlobType } from './pack.js';
import { FLAG_ZSTD, PackBuilder, packBufferBytes, sealBlob } from './pack.js';
import { type KeptRef, SealPool } from './seal-pool.js';

/** Sealed blobs from the workers are copied into a pack, then garbage (collect.ts). */
const letGo = collector(32 * 1024 * 1024);
/** Write an index file after this many new packs, so a killed backup loses little. */
const INDEX_EVERY_PACKS = 32;
const MAX_INDEX_ENTRIES = 100_000;
/**
 * Buffers of stored packs kept to build the next packs in. Allocating and freeing a 16 MiB
 * buffer per pack made glibc raise its mmap threshold to 16 MiB and serve every later large
 * buffer from its heap, which fragmented: a first backup of 1 GiB peaked near 290 MiB RSS.
 */
const SPARE_PACK_BUFFERS = 4;
/** Smaller blobs (trees, small files) are sealed inline: a round trip to a worker costs more. */
export const POOL_MIN_BLOB = 64 * 1024;

export interface PackWriterOptions {
  /** Pack uploads allowed in flight at once. */
  uploadConcurrency?: number;
  /** Worker threads that compress and seal blobs; 0 seals on the main thread. */
  sealWorkers?: number;
}

export class PackWriter {
  private builders: Partial<Record<BlobType, PackBuilder>> = {};
  /** Blobs sealed into a pack that is not yet indexed (hex ids). */
  private pending = new Set<string>();
  private uploads = new Set<Promise<void>>();
  private sealing = new Set<Promise<void>>();
  private pool: SealPool | undefined;
  private unindexed: IndexedPack[] = [];
  private spares: Buffer[] = [];
  private uploadError: unknown;
  /** Prune writes one index for everything itself; backups write as they go. */
  deferIndex = false;
  /** Bytes this process added to storage (packs and index files), for statistics. */
  bytesAdded = 0;

  constructor(
    private readonly backend: Backend,
    private readonly keys: KeyStore,
    /** The loaded index (replaced when it is reset): uploaded packs are added to it. */
    private readonly index: () => BlobIndex,
    private readonly options: PackWriterOptions,
  ) {}

  /** Sealed into a pack not yet indexed. */
  isPending(id: Buffer): boolean {
    return this.pending.has(id.toString('hex'));
  }

  /** Packs read back from storage (orphans adopted by loadIndex), for the next index file. */
  adopt(pack: IndexedPack): void {
    this.unindexed.push(pack);
  }

  async addToPack(type: BlobType, id: Buffer, data: Uint8Array): Promise<void> {
    if (this.uploadError) throw this.uploadError;
    this.pending.add(id.toString('hex'));
    const rawLength = data.length;
    const config = this.keys.config;
    const ring = this.keys.ring;
    if (rawLength < POOL_MIN_BLOB || this.options.sealWorkers === 0) {
      // A view of reused memory: sealing copies it out.
      const compressed = compressScratch(data, config.compression.level);
      const flags = compressed ? FLAG_ZSTD : 0;
      await this.addSealed(
        type,
        flags,
        id,
        sealBlob(ring.sealSpec, type, flags, id, compressed ?? data),
        rawLength,
      );
      return;
    }
    const pool = this.sealPool();
    // `data` may be transferred to the worker: nothing here reads it afterwards.
    await this.track(() => pool.seal(type, id, data), type, id, rawLength);
  }

  /**
   * The seal workers, which also cut content into chunks and name them (SealPool.chunk);
   * undefined when blobs are sealed on the main thread (`sealWorkers: 0`).
   */
  contentPool(): SealPool | undefined {
    return this.options.sealWorkers === 0 ? undefined : this.sealPool();
  }

  /** Stores a chunk its seal worker holds (SealPool.chunk), sealed there. */
  async addKept(type: BlobType, chunk: KeptRef): Promise<void> {
    if (this.uploadError) throw this.uploadError;
    this.pending.add(chunk.id.toString('hex'));
    if (chunk.sealed) {
      // Sealed by the worker as it cut the chunk: as a data blob (SealPool.chunk).
      if (type !== 'data')
        throw new LifeboatError('internal', `[repo] a chunk sealed as data cannot be stored as ${type}`);
      await this.addSealed(type, chunk.flags ?? 0, chunk.id, chunk.sealed, chunk.length);
      return;
    }
    const pool = this.sealPool();
    await this.track(() => pool.sealKept(type, chunk), type, chunk.id, chunk.length);
  }

  private sealPool(): SealPool {
    const { config, ring } = this.keys;
    this.pool ??= new SealPool(ring.sealSpec, config.compression.level, this.options.sealWorkers, undefined, {
      params: config.chunker,
      seed: ring.chunkerSeed,
      mac: ring.mac,
    });
    return this.pool;
  }

  /** Waits for room among the blobs being sealed, then seals one and adds it to its pack. */
  private async track(
    seal: () => Promise<{ flags: number; sealed: Buffer }>,
    type: BlobType,
    id: Buffer,
    rawLength: number,
  ): Promise<void> {
    const pool = this.sealPool();
    while (this.sealing.size >= pool.size * 2) await Promise.race(this.sealing);
    if (this.uploadError) throw this.uploadError;
    const job = seal()
      .then(async (done) => {
        try {
          await this.addSealed(type, done.flags, id, done.sealed, rawLength);
        } finally {
          pool.releaseSealed(done.sealed);
        }
      })
      .catch((err) => {
        this.uploadError ??= err;
      });
    const tracked = job.finally(() => this.sealing.delete(tracked));
    this.sealing.add(tracked);
  }

  private async addSealed(
    type: BlobType,
    flags: number,
    id: Buffer,
    sealed: Buffer,
    rawLength: number,
  ): Promise<void> {
    const packSize = this.keys.config.packSize;
    let builder = this.builders[type];
    // Another completion may have started a new builder while this one waited: check again.
    while (builder && !builder.fits(sealed.length)) {
      this.builders[type] = undefined;
      await this.upload(builder);
      builder = this.builders[type];
    }
    if (!builder) {
      builder = new PackBuilder(Math.max(packSize, sealed.length), this.spares.pop());
      this.builders[type] = builder;
    }
    builder.add(type, flags, id, sealed, rawLength);
    // Shared memory (SealPool.sealKept) is given back, not collected.
    if (sealed.length >= POOL_MIN_BLOB && !(sealed.buffer instanceof SharedArrayBuffer)) letGo(sealed.length);
    if (builder.size >= packSize) {
      this.builders[type] = undefined;
      await this.upload(builder);
    }
  }

  /** Keeps a stored pack's buffer for the next pack, when no abandoned save still reads it. */
  private keepSpare(file: Buffer, buffer: Buffer): void {
    if (this.spares.length >= SPARE_PACK_BUFFERS || stillRead.has(file)) return;
    if (buffer.length !== packBufferBytes(this.keys.config.packSize)) return;
    this.spares.push(buffer);
  }

  /** Waits until no blob is being sealed and no pack uploaded (their errors are recorded). */
  private async settle(): Promise<void> {
    while (this.sealing.size > 0 || this.uploads.size > 0)
      await Promise.race([...this.sealing, ...this.uploads]);
  }

  /** Stops the seal workers (they hold the current key: a rotation closes them). */
  async close(): Promise<void> {
    this.spares = [];
    await this.pool?.close();
    this.pool = undefined;
  }

  private async upload(builder: PackBuilder): Promise<void> {
    const limit = this.options.uploadConcurrency ?? 2;
    while (this.uploads.size >= limit) await Promise.race(this.uploads);
    if (this.uploadError) throw this.uploadError;
    const { file, name, buffer } = builder.finish(this.keys.ring);
    const entries = builder.entries;
    const job = (async () => {
      await this.backend.save({ type: 'pack', name }, file);
      this.bytesAdded += file.length;
      this.keepSpare(file, buffer);
      this.index().addPack(name, entries);
      for (const e of entries) this.pending.delete(e.id.toString('hex'));
      this.unindexed.push({ pack: name, entries });
      if (!this.deferIndex && this.unindexed.length >= INDEX_EVERY_PACKS) await this.writeIndex();
    })().catch((err) => {
      this.uploadError ??= err;
    });
    const tracked = job.finally(() => this.uploads.delete(tracked));
    this.uploads.add(tracked);
  }

  /** Uploads partly filled packs, waits for every upload, and writes the index naming them. */
  async flush(): Promise<void> {
    // On failure, every write in flight still ends (and cleans up) before the error goes up:
    // a process that exits right after must not cut a save off halfway.
    await this.settle();
    if (!this.uploadError) {
      for (const type of ['data', 'tree'] as BlobType[]) {
        const b = this.builders[type];
        if (b && b.count > 0) {
          this.builders[type] = undefined;
          await this.upload(b).catch((err) => {
            this.uploadError ??= err;
          });
        }
      }
      await this.settle();
    }
    if (this.uploadError) throw this.uploadError;
    if (!this.deferIndex) await this.writeIndex();
  }

  /** Packs uploaded but not yet written to an index file; taken by the caller (prune). */
  takeUnindexed(): IndexedPack[] {
    const packs = this.unindexed;
    this.unindexed = [];
    return packs;
  }

  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    await this.writeIndexFiles(this.takeUnindexed());
  }

  /** Writes index files for `packs`, at most MAX_INDEX_ENTRIES blobs each; returns their names. */
  async writeIndexFiles(packs: readonly IndexedPack[]): Promise<string[]> {
    const names: string[] = [];
    let batch: IndexedPack[] = [];
    let n = 0;
    const write = async () => {
      const file = encodeIndex(this.keys.ring, batch);
      const name = storageId(file);
      await this.backend.save({ type: 'index', name }, file);
      this.bytesAdded += file.length;
      names.push(name);
      batch = [];
      n = 0;
    };
    for (const p of packs) {
      batch.push(p);
      n += p.entries.length;
      if (n >= MAX_INDEX_ENTRIES) await write();
    }
    if (batch.length > 0) await write();
    return names;
  }

  /** Stores a blob even if the index already has it (prune's repacking). */
  async rewriteBlob(type: BlobType, id: Buffer, data: Uint8Array): Promise<void> {
    if (this.isPending(id)) return;
    await this.addToPack(type, id, data);
  }
}
