/**
 * @module repo/repository
 * The repository: keys, config, blobs in packs, the index, snapshots and locks over one
 * storage backend. Write order (docs/format.md): packs, then the index naming them, then
 * the snapshot naming the trees. Everything stored is sealed with the master key.
 *
 * This is the facade code outside repo/ uses. Its parts are the key store (key-store.ts,
 * repo-config.ts), the pack writer (pack-writer.ts), the blob reader (blob-reader.ts) and
 * the snapshot files (snapshot-store.ts); the repository's own maintenance (maintenance/)
 * reaches them through repo-parts.ts.
 *
 * Code outside repo/ imports only repo's public modules: this facade, snapshot.ts and
 * tree.ts (the snapshot and tree formats), content-store.ts (the ContentStore sources write
 * through), lock.ts (lock listing) and maintenance/ (check, prune, repair, rekey, copy).
 * Everything else here (pack, index, crypto, keys, seal pools, ...) is private.
 */
import { hostname } from 'node:os';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { Backend, FileInfo, FileType } from '../storage/backend.js';
import { BlobIndex, type IndexEntry } from './blob-index.js';
import { BlobReader } from './blob-reader.js';
import type { BlobRing } from './blob-ring.js';
import type { ChunkerParams } from './chunker.js';
import { BOX_EPOCH, blobId, writeOnlyError } from './crypto.js';
import type { EscrowTarget, EscrowUnlock } from './escrow.js';
import { type KeyListing, KeyStore } from './key-store.js';
import type { KdfParams } from './keys.js';
import { leasesSupported, RepositoryLease } from './lease.js';
import { type LockInfo, type LockOptions, listLocks, RepositoryLock } from './lock.js';
import { type ArchivedObject, listAllObjects, ObjectArchive, sourceTag } from './object-archive.js';
import { type ObjectSealers, objectSealers } from './object-sealers.js';
import type { BlobType } from './pack.js';
import { PackWriter } from './pack-writer.js';
import type { RepoConfig } from './repo-config.js';
import { registerParts } from './repo-parts.js';
import type { KeptRef, SealPool } from './seal-pool.js';
import type { Snapshot, SnapshotEntry, SnapshotScan } from './snapshot.js';
import { SnapshotStore } from './snapshot-store.js';

export type { IndexEntry as StoredBlob } from './blob-index.js';
export type { KeyListing } from './key-store.js';
export type { RepoConfig } from './repo-config.js';
export { mapLimit } from './snapshot-store.js';

export interface RepositoryOptions {
  clock?: Clock;
  kdf?: KdfParams;
  chunker?: ChunkerParams;
  packSize?: number;
  /** Pack uploads allowed in flight at once. */
  uploadConcurrency?: number;
  /** Worker threads that compress and seal blobs; 0 seals on the main thread. */
  sealWorkers?: number;
}

const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;

export class Repository {
  private index = new BlobIndex();
  private readonly writer: PackWriter;
  private readonly reader: BlobReader;
  private readonly snapshots: SnapshotStore;

  private constructor(
    private readonly storage: Backend,
    private readonly keys: KeyStore,
    readonly clock: Clock,
    options: RepositoryOptions,
  ) {
    this.writer = new PackWriter(storage, keys, () => this.index, options);
    this.reader = new BlobReader(storage, keys, () => this.index, this.writer);
    this.snapshots = new SnapshotStore(storage, keys);
    const repo = this;
    registerParts(this, {
      backend: storage,
      keys,
      get key() {
        return keys.ring;
      },
      get index() {
        return repo.index;
      },
      writer: this.writer,
      reader: this.reader,
      resetIndex: () => {
        this.index = new BlobIndex();
      },
      removeFile: (type, name) => storage.remove({ type, name }),
    });
  }

  static async init(
    backend: Backend,
    password: string,
    options: RepositoryOptions = {},
  ): Promise<Repository> {
    const clock = options.clock ?? systemClock;
    await backend.create();
    const settings = { ...options, packSize: options.packSize ?? DEFAULT_PACK_SIZE };
    const keys = await KeyStore.init(backend, password, settings, clock);
    return new Repository(backend, keys, clock, options);
  }

  static async open(
    backend: Backend,
    password: string,
    options: RepositoryOptions = {},
  ): Promise<Repository> {
    const clock = options.clock ?? systemClock;
    const keys = await KeyStore.open(backend, password, options.kdf, clock);
    return new Repository(backend, keys, clock, options);
  }

  /**
   * Restores access from an escrow file (`key import`): checks it opens this repository's
   * config, then adds a key file for `newPassword`. Returns the new key's id.
   */
  static importEscrow(
    backend: Backend,
    escrow: string,
    unlock: EscrowUnlock,
    newPassword: string,
    options: RepositoryOptions = {},
  ): Promise<string> {
    return KeyStore.importEscrow(
      backend,
      escrow,
      unlock,
      newPassword,
      options.kdf,
      options.clock ?? systemClock,
    );
  }

  get location(): string {
    return this.storage.location;
  }

  get config(): RepoConfig {
    return this.keys.config;
  }

  /** The key file this repository was opened with. */
  get keyId(): string {
    return this.keys.keyId;
  }

  /** Credentials that can add snapshots but not read, list contents, forget or prune. */
  get writeOnly(): boolean {
    return this.keys.writeOnly;
  }

  /** Throws the write-only error (saying what they cannot do) unless these are full credentials. */
  requireFullKey(what: string): void {
    if (this.writeOnly) throw writeOnlyError(what);
  }

  /** Bytes this process added to storage (packs and index files), for statistics. */
  get bytesAdded(): number {
    return this.writer.bytesAdded;
  }

  // ---- named objects (docs/format.md, "WAL objects") -----------------------------------

  /** The archive of named objects stored for `source` (one object per name, sealed in frames). */
  objectArchive(source: string): ObjectArchive {
    return new ObjectArchive(this.storage, this.keys.ring, source);
  }

  /** Every archived object, by the tag of the source it belongs to (see archiveTag). */
  listArchivedObjects(): Promise<Map<string, ArchivedObject[]>> {
    return listAllObjects(this.storage);
  }

  /** The tag that names `source`'s archived objects: a keyed hash, so names leak no source. */
  archiveTag(source: string): string {
    return sourceTag(this.keys.ring, source);
  }

  /** Worker threads that seal archived objects' frames in parallel; the caller closes them. */
  objectSealers(): ObjectSealers {
    return objectSealers(this.keys.ring);
  }

  // ---- storage ------------------------------------------------------------------------

  /** Free bytes where the repository is stored, when the storage can tell. */
  async freeSpace(): Promise<number | undefined> {
    if (!this.storage.capabilities.freeSpace || !this.storage.freeSpace) return undefined;
    return this.storage.freeSpace();
  }

  /** Whether the storage answers: reads the config file's metadata (for health checks). */
  async probeStorage(): Promise<void> {
    await this.storage.stat({ type: 'config', name: 'config' });
  }

  hostname(): string {
    return hostname();
  }

  // ---- locks -------------------------------------------------------------------------

  lock(exclusive: boolean, operation: string, options?: LockOptions): Promise<RepositoryLock> {
    return RepositoryLock.acquire(this.storage, this.keys.ring, this.clock, exclusive, operation, options);
  }

  /**
   * Takes the lease `name` (lease.ts) when the storage has conditional writes; undefined when
   * it has none (the caller keeps to lock files alone).
   */
  async lease(name: string, operation: string): Promise<RepositoryLease | undefined> {
    if (!leasesSupported(this.storage)) return undefined;
    return RepositoryLease.take(this.storage, this.keys.ring, this.clock, name, operation);
  }

  /** Every lock file, read (a damaged one is listed as such). */
  listLocks(): Promise<LockInfo[]> {
    return listLocks(this.storage, this.keys.ring);
  }

  /** Removes a lock file (`unlock`): the caller judged its holder gone. */
  removeLock(name: string): Promise<void> {
    return this.storage.remove({ type: 'lock', name });
  }

  // ---- index and blobs -----------------------------------------------------------------

  /** Loads every index file. With `adoptOrphans`, packs no index names are read and added too. */
  loadIndex(options: { adoptOrphans?: boolean } = {}): Promise<void> {
    return this.reader.loadIndex(options);
  }

  /** Every blob of the loaded index, where it is stored (a blob stored twice: twice). */
  storedBlobs(): Iterable<IndexEntry> {
    return this.index.entries();
  }

  /** Packs the loaded index names. */
  get packCount(): number {
    return this.index.packs.length;
  }

  blobId(data: Uint8Array): Buffer {
    return blobId(this.keys.ring.mac, data);
  }

  hasBlob(id: Buffer): boolean {
    return this.index.has(id) || this.writer.isPending(id);
  }

  /** Stores a blob unless it is already stored; returns its id and whether it was new. */
  async saveBlob(
    type: BlobType,
    data: Uint8Array,
    knownId?: Buffer,
  ): Promise<{ id: Buffer; added: boolean }> {
    const id = knownId ?? this.blobId(data);
    if (this.hasBlob(id)) return { id, added: false };
    await this.writer.addToPack(type, id, data);
    return { id, added: true };
  }

  /** The seal workers that also cut and name content (SealPool.chunk), if blobs are sealed in workers. */
  contentPool(): SealPool | undefined {
    return this.writer.contentPool();
  }

  /** saveBlob for a chunk a seal worker holds (SealPool.chunk): dropped there when already stored. */
  async saveKept(type: BlobType, chunk: KeptRef, pool: SealPool): Promise<{ id: Buffer; added: boolean }> {
    if (this.hasBlob(chunk.id)) {
      pool.drop(chunk);
      return { id: chunk.id, added: false };
    }
    await this.writer.addKept(type, chunk);
    return { id: chunk.id, added: true };
  }

  /** Uploads partly filled packs, waits for every upload, and writes the index naming them. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /**
   * Reads a blob and verifies it: authentication, length and keyed id. Of several copies,
   * one sealed with a data key is tried before one sealed to the public key (a write-only
   * host's, which could hold anything), and the next is tried when one fails.
   */
  loadBlob(id: Buffer): Promise<Buffer> {
    return this.reader.loadBlob(id);
  }

  /** The blobs `ids` in order, `ahead` at a time (BlobReader.readBlobs). */
  readBlobs(
    ids: readonly Buffer[],
    ahead: number,
    ring?: BlobRing,
    damaged?: (index: number, err: unknown) => void,
    sameThread = false,
  ): AsyncGenerator<Buffer> {
    return this.reader.readBlobs(ids, ahead, ring, damaged, sameThread);
  }

  /**
   * The workers that open what is read (decrypt, decompress, verify), started on first use
   * and stopped by close().
   */
  openers(): SealPool {
    return this.reader.openers();
  }

  /** Stops the seal workers. */
  async close(): Promise<void> {
    await this.writer.close();
    await this.reader.close();
  }

  /** Closes the storage backend too (its connections), once nothing more is read or written. */
  async closeStorage(): Promise<void> {
    await this.storage.close();
  }

  // ---- snapshots ---------------------------------------------------------------------

  saveSnapshot(snapshot: Snapshot): Promise<string> {
    return this.snapshots.saveSnapshot(snapshot);
  }

  loadSnapshot(id: string): Promise<Snapshot> {
    return this.snapshots.loadSnapshot(id);
  }

  /** The snapshot with what its file says beside the manifest (SnapshotStore.readSnapshot). */
  readSnapshot(id: string, stored?: Date): Promise<SnapshotEntry> {
    return this.snapshots.readSnapshot(id, stored);
  }

  /** Every snapshot that reads, oldest first, and the files that do not. */
  scanSnapshots(): Promise<SnapshotScan> {
    return this.snapshots.scanSnapshots();
  }

  /** Every snapshot, oldest first, or an error naming the first file that does not read. */
  listSnapshots(): Promise<SnapshotEntry[]> {
    return this.snapshots.listSnapshots();
  }

  /** The snapshot files as stored (names, sizes, the storage's times), without reading them. */
  listSnapshotFiles(): AsyncIterable<FileInfo> {
    return this.storage.list('snapshot');
  }

  removeSnapshot(id: string): Promise<void> {
    return this.snapshots.removeSnapshot(id);
  }

  /** Until when the storage's retention lock keeps a snapshot file, if it does. */
  async snapshotRetainedUntil(id: string): Promise<Date | undefined> {
    const b = this.storage;
    if (!b.capabilities.retention || !b.retentionUntil) return undefined;
    return b.retentionUntil({ type: 'snapshot', name: id });
  }

  /** Whether a write-only key sealed the snapshot file (its first bytes say so). */
  async sealedByWriteOnlyKey(id: string): Promise<boolean> {
    return (await this.keys.epochOf('snapshot', id)) === BOX_EPOCH;
  }

  // ---- keys --------------------------------------------------------------------------

  /** The key epoch a stored file is sealed with (for packs: their header's). */
  epochOf(type: FileType, name: string, size?: number): Promise<number> {
    return this.keys.epochOf(type, name, size);
  }

  /** The data-key epochs and the current one (none for write-only credentials). */
  keyEpochs(): { epochs: number[]; current: number } {
    const ring = this.keys.ring;
    return { epochs: [...ring.dataKeys.keys()].sort((a, b) => a - b), current: ring.current };
  }

  /**
   * Starts a new key epoch: a fresh data key becomes current, so everything written from now
   * on uses it. Call under the exclusive lock. Returns the new epoch.
   */
  async rotateKey(): Promise<number> {
    const epoch = await this.keys.rotate();
    // Workers hold the old current key; new blobs must use the new one.
    await this.close();
    return epoch;
  }

  /** Removes an epoch's data key. The caller proves nothing uses it first (key retire). */
  retireEpoch(epoch: number): Promise<void> {
    return this.keys.retireEpoch(epoch);
  }

  listKeys(): Promise<KeyListing[]> {
    return this.keys.listKeys();
  }

  /** Adds a password; with `writeOnly`, one that can only add snapshots. Returns the key id. */
  addKey(password: string, options: { writeOnly?: boolean } = {}): Promise<string> {
    return this.keys.addKey(password, options);
  }

  /**
   * Changes the password this repository was opened with: a key file for `password` is
   * written, then the one opened is removed (a crash between leaves both working). Returns
   * the new key's id.
   */
  async replaceKey(password: string): Promise<string> {
    const id = await this.keys.addKey(password);
    await this.storage.remove({ type: 'key', name: this.keys.keyId });
    return id;
  }

  removeKey(id: string): Promise<void> {
    return this.keys.removeKey(id);
  }

  /** The master key sealed for a recipient or passphrase (`key export`). */
  exportEscrow(target: EscrowTarget): Promise<string> {
    return this.keys.exportEscrow(target);
  }
}
