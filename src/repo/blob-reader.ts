/**
 * @module repo/blob-reader
 * Reading what is stored: the index files (orphan packs adopted from their headers), pack
 * headers, and blobs, each verified (authentication, length, keyed id). Of several copies of
 * a blob, one sealed with a data key is preferred to a write-only host's sealed box.
 */
import { isDamage, isLifeboatError, LifeboatError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import type { BlobIndex, IndexEntry } from './blob-index.js';
import type { BlobRing } from './blob-ring.js';
import { readInRuns } from './blob-runs.js';
import { BOX_EPOCH, KeyRing, storageId } from './crypto.js';
import type { IndexedPack } from './index-file.js';
import { decodeIndex } from './index-file.js';
import type { KeyStore } from './key-store.js';
import type { PackEntry } from './pack.js';
import { headerLength, openVerified, parsePackHeader } from './pack.js';
import { PackWindows } from './pack-windows.js';
import { type PackWriter, POOL_MIN_BLOB } from './pack-writer.js';
import { SealPool } from './seal-pool.js';

/** One stored copy of a blob, as BlobReader.judgeCopies found it. */
export interface BlobCopy {
  entry: IndexEntry;
  /** Sealed to the public key (by a write-only host), not with a data key. */
  sealedBox: boolean;
  /** Its stored bytes, until judged. */
  sealed?: Buffer;
  /** Its content, when it opened and matched its id. */
  plain?: Buffer;
  /** Why it did not, when it was tried. */
  error?: unknown;
}

export class BlobReader {
  /** Opens blobs for readBlobs(); made on first use. */
  private readPool: SealPool | undefined;
  /** Small reads of readBlobs() (the blobs of small files), shared by its streams. */
  private readonly windows = new PackWindows(
    (name, offset, length) => this.backend.load({ type: 'pack', name }, offset, length),
    async (name) => (await this.backend.stat({ type: 'pack', name })).size,
  );
  /** Index files the last loadIndex could not read (their packs were indexed from headers). */
  damagedIndexes: string[] = [];

  constructor(
    private readonly backend: Backend,
    private readonly keys: KeyStore,
    /** The loaded index (replaced when it is reset). */
    private readonly index: () => BlobIndex,
    /** Orphan packs adopted while loading the index go into its next index file. */
    private readonly writer: PackWriter,
  ) {}

  /** Loads every index file. With `adoptOrphans`, packs no index names are read and added too. */
  async loadIndex(options: { adoptOrphans?: boolean } = {}): Promise<void> {
    this.damagedIndexes = [];
    const seen = new Set<string>();
    // A prune running meanwhile writes its fresh index, then removes the old files: a file
    // listed but gone by the time it is read means a newer one exists, so list again.
    for (let round = 0; ; round++) {
      let vanished = false;
      for await (const f of this.backend.list('index')) {
        if (seen.has(f.name)) continue;
        seen.add(f.name);
        let packs: IndexedPack[];
        try {
          packs = await this.loadIndexFile(f.name);
        } catch (err) {
          if (isLifeboatError(err) && err.code === 'not_found' && round < 5) {
            vanished = true;
            continue;
          }
          if (!isLifeboatError(err) || (err.code !== 'integrity' && err.code !== 'repo_corrupt')) throw err;
          // One damaged index must not take every snapshot with it: its packs are read below.
          this.damagedIndexes.push(f.name);
          continue;
        }
        for (const p of packs) {
          if (p.markedAt === undefined) this.index().addPack(p.pack, p.entries);
          else this.index().addMarked(p.pack, p.entries, p.markedAt);
        }
      }
      if (!vanished) break;
    }
    if (options.adoptOrphans || this.damagedIndexes.length > 0) await this.adoptOrphanPacks();
  }

  /** One index file, checked against its name (its SHA-256) before it is opened. */
  async loadIndexFile(name: string): Promise<IndexedPack[]> {
    const raw = await this.backend.load({ type: 'index', name });
    if (storageId(raw) !== name) {
      throw new LifeboatError(
        'integrity',
        `[repo] index ${name.slice(0, 8)} is damaged: content does not match its name`,
      );
    }
    return decodeIndex(this.keys.ring, raw, name);
  }

  /**
   * Packs uploaded by a backup that died before writing its index are read (header only)
   * and indexed, so the next backup reuses them instead of uploading them again.
   */
  private async adoptOrphanPacks(): Promise<void> {
    for await (const f of this.backend.list('pack')) {
      if (this.index().hasPack(f.name) || this.index().isMarked(f.name)) continue;
      try {
        const entries = await this.readPackHeader(f.name, f.size);
        this.index().addPack(f.name, entries);
        this.writer.adopt({ pack: f.name, entries });
      } catch {
        // A damaged orphan is left for prune and check; it is not referenced by anything.
      }
    }
  }

  async readPackHeader(name: string, size?: number): Promise<PackEntry[]> {
    const packSize = size ?? (await this.backend.stat({ type: 'pack', name })).size;
    if (packSize < 4)
      throw new LifeboatError('integrity', `[repo] pack ${name.slice(0, 8)} is damaged: too short`);
    const tailLen = Math.min(packSize, 64 * 1024);
    const tail = await this.backend.load({ type: 'pack', name }, packSize - tailLen, tailLen);
    const n = headerLength(tail, packSize, name);
    const sealedHeader =
      n + 4 <= tail.length
        ? tail.subarray(tail.length - 4 - n, tail.length - 4)
        : await this.backend.load({ type: 'pack', name }, packSize - 4 - n, n);
    return parsePackHeader(this.keys.ring, sealedHeader, packSize, name);
  }

  /**
   * Reads a blob and verifies it: authentication, length and keyed id. Of several copies,
   * one sealed with a data key is tried before one sealed to the public key (a write-only
   * host's, which could hold anything), and the next is tried when one fails.
   */
  async loadBlob(id: Buffer): Promise<Buffer> {
    const copies = this.index().locations(id);
    if (copies.length === 0) {
      throw new LifeboatError(
        'repo_corrupt',
        `[repo] blob ${id.toString('hex').slice(0, 8)} is missing from the index (run \`lifeboat check\`)`,
      );
    }
    if (copies.length === 1) {
      const sealed = await this.backend.load(
        { type: 'pack', name: copies[0].pack },
        copies[0].offset,
        copies[0].length,
      );
      return this.openEntry(copies[0], sealed);
    }
    const judged = await this.judgeCopies(id, true);
    const good = judged.find((c) => c.plain);
    if (good?.plain) return good.plain;
    throw judged[0].error;
  }

  /**
   * Every copy of `id`, in the order readers try them (data key first), each opened and
   * verified (keyed id recomputed): all of them, or with `stopAtGood` up to the first that verifies. Prune keeps
   * the first that verifies; check names the others.
   */
  async judgeCopies(id: Buffer, stopAtGood = false): Promise<BlobCopy[]> {
    const copies: BlobCopy[] = [];
    for (const entry of this.index().locations(id)) {
      try {
        const sealed = await this.backend.load(
          { type: 'pack', name: entry.pack },
          entry.offset,
          entry.length,
        );
        copies.push({ entry, sealedBox: KeyRing.epochOf(sealed) === BOX_EPOCH, sealed });
      } catch (err) {
        if (!isDamage(err) && !(isLifeboatError(err) && err.code === 'not_found')) throw err;
        copies.push({ entry, sealedBox: true, error: err });
      }
    }
    copies.sort((a, b) => Number(a.sealedBox) - Number(b.sealedBox));
    for (const c of copies) {
      if (!c.sealed) continue;
      try {
        c.plain = this.openEntry(c.entry, c.sealed);
        if (stopAtGood) break;
      } catch (err) {
        if (!isDamage(err)) throw err;
        c.error = err;
      }
      c.sealed = undefined;
    }
    return copies;
  }

  /** Whether the blob at `entry` is sealed to the public key (read from its first bytes). */
  async isSealedBox(entry: IndexEntry): Promise<boolean> {
    const head = await this.backend.load({ type: 'pack', name: entry.pack }, entry.offset, 4);
    return KeyRing.epochOf(head) === BOX_EPOCH;
  }

  /** Decrypts and verifies a blob read from its pack. */
  openEntry(entry: IndexEntry, sealed: Buffer): Buffer {
    return openVerified(this.keys.ring, entry, sealed, blobWhat(entry));
  }

  /**
   * The blobs `ids` in order (a stream's chunks: restores, dumps), `ahead` at a time, with
   * one storage read per run of blobs stored together (blob-runs.ts). Large blobs are
   * opened (decrypted, decompressed) in a worker, as the main thread is the limit here; the
   * GCM tag binds the id, so the keyed id is not recomputed (pack.openVerified):
   * `check --read-data` does.
   *
   * With `ring`, those large blobs are opened into its memory while it has room: the reader
   * must release each blob it gets (BlobRing.release; others are ignored there) once nothing
   * refers to it any more.
   *
   * With `damaged`, a blob whose stored bytes are wrong is reported (by its index in `ids`)
   * and given as zeros of its length instead of ending the stream.
   *
   * With `sameThread`, every blob is opened here, none in the worker: for a reader of many
   * streams at once (a files restore of 17,000 files: the worker was idle 80 % of the time,
   * and cost some 50 MiB of peak memory and a copy of each blob each way).
   */
  readBlobs(
    ids: readonly Buffer[],
    ahead: number,
    ring?: BlobRing,
    damaged?: (index: number, err: unknown) => void,
    sameThread = false,
  ): AsyncGenerator<Buffer> {
    /** Large blobs: opened in the worker (unless `sameThread`), the keyed id not recomputed. */
    const large = (entry: IndexEntry) => entry.rawLength >= POOL_MIN_BLOB && !this.keys.writeOnly;
    const pooled = (entry: IndexEntry) => !sameThread && large(entry);
    const opened = async (entry: IndexEntry, sealed: Buffer, into: Buffer | undefined) => {
      if (sameThread && large(entry)) {
        return openVerified(this.keys.ring, entry, sealed, blobWhat(entry), false);
      }
      if (!pooled(entry)) return this.openEntry(entry, sealed);
      // Moved to the worker: a run of one blob as it is, a blob of a longer run as a copy.
      return this.openers().open(entry, sealed, blobWhat(entry), false, into);
    };
    // A blob stored more than once is read on its own (single): loadBlob chooses the copy.
    return readInRuns(
      ids.map((id) => (this.index().hasCopies(id) ? undefined : this.index().get(id))),
      {
        load: (pack, offset, length) => this.windows.read(pack, offset, length),
        reserve: ring && ((entry) => (pooled(entry) ? ring.take(entry.rawLength) : undefined)),
        open: !damaged
          ? opened
          : async (entry, sealed, into, index) => {
              try {
                return await opened(entry, sealed, into);
              } catch (err) {
                if (!isDamage(err)) throw err;
                damaged(index, err);
                return Buffer.alloc(entry.rawLength);
              }
            },
        single: (i) =>
          this.loadBlob(ids[i]).catch((err) => {
            if (!damaged || !isDamage(err) || !this.index().has(ids[i])) throw err;
            damaged(i, err);
            return Buffer.alloc(this.index().get(ids[i])?.rawLength ?? 0);
          }),
      },
      ahead,
    );
  }

  /**
   * The workers that open what is read (decrypt, decompress, verify), started on first use
   * and stopped by close(): one fewer than the cores, as the main thread reads and writes.
   */
  openers(): SealPool {
    this.readPool ??= new SealPool(
      this.keys.ring.sealSpec,
      this.keys.config.compression.level,
      undefined,
      this.keys.ring,
    );
    return this.readPool;
  }

  /** Stops the workers that open blobs. */
  async close(): Promise<void> {
    await this.readPool?.close();
    this.readPool = undefined;
    this.windows.clear();
  }
}

function blobWhat(entry: IndexEntry): string {
  return `blob ${entry.id.toString('hex').slice(0, 8)} in pack ${entry.pack}`;
}
