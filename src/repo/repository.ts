/**
 * @module repo/repository
 * The repository: keys, config, blobs in packs, the index, snapshots and locks over one
 * storage backend. Write order (docs/format.md): packs, then the index naming them, then
 * the snapshot naming the trees. Everything stored is sealed with the master key.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { describe, isDamage, isLifeboatError, LifeboatError } from '../errors.js';
import type { Backend, FileInfo, FileType } from '../storage/backend.js';
import { BlobIndex, type IndexEntry } from './blob-index.js';
import type { BlobRing } from './blob-ring.js';
import { readInRuns } from './blob-runs.js';
import type { ChunkerParams } from './chunker.js';
import { DEFAULT_CHUNKER } from './chunker.js';
import { compress, DEFAULT_ZSTD_LEVEL } from './compress.js';
import type { MasterKey } from './crypto.js';
import {
  BOX_EPOCH,
  blobId,
  KeyRing,
  newBoxKeyPair,
  newMasterKey,
  open,
  seal,
  storageId,
  writeOnlyError,
} from './crypto.js';
import type { EscrowTarget, EscrowUnlock } from './escrow.js';
import type { IndexedPack } from './index-file.js';
import { decodeIndex, encodeIndex } from './index-file.js';
import type { KdfParams, KeyFile, KeyRole } from './keys.js';
import {
  DEFAULT_KDF,
  decodeMaster,
  parseKeyFile,
  unwrapKeyFile,
  wrapKeyFile,
  wrapMasterKey,
} from './keys.js';
import { type LockOptions, RepositoryLock } from './lock.js';
import type { BlobType, PackEntry } from './pack.js';
import { FLAG_ZSTD, headerLength, openVerified, PackBuilder, parsePackHeader, sealBlob } from './pack.js';
import { SealPool } from './seal-pool.js';
import type { Snapshot, SnapshotEntry, SnapshotProblem, SnapshotScan } from './snapshot.js';
import { CONFIG_AAD, SNAPSHOT_AAD, snapshotProblemError, snapshotProblemKind } from './snapshot.js';

export interface RepoConfig {
  version: 1;
  id: string;
  created: string;
  chunker: ChunkerParams;
  compression: { algorithm: 'zstd'; level: number };
  /** Target pack size in bytes. */
  packSize: number;
}

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

/** One stored copy of a blob, as Repository.judgeCopies found it. */
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

export interface KeyListing {
  id: string;
  current: boolean;
  role: KeyRole;
  host: string;
  username: string;
  created: string;
}

const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
/** Write an index file after this many new packs, so a killed backup loses little. */
const INDEX_EVERY_PACKS = 32;
const MAX_INDEX_ENTRIES = 100_000;
/** Smaller blobs (trees, small files) are sealed inline: a round trip to a worker costs more. */
const POOL_MIN_BLOB = 64 * 1024;

export class Repository {
  index = new BlobIndex();
  private builders: Partial<Record<BlobType, PackBuilder>> = {};
  /** Blobs sealed into a pack that is not yet indexed (hex ids). */
  private pending = new Set<string>();
  private uploads = new Set<Promise<void>>();
  private sealing = new Set<Promise<void>>();
  private pool: SealPool | undefined;
  /** Opens blobs for readBlobs(); made on first use. */
  private readPool: SealPool | undefined;
  private unindexed: IndexedPack[] = [];
  private uploadError: unknown;
  /** Prune writes one index for everything itself; backups write as they go. */
  deferIndex = false;
  /** Bytes this process added to storage (packs), for statistics. */
  bytesAdded = 0;

  private constructor(
    readonly backend: Backend,
    /**
     * The secrets a full password unwraps: needed to add keys and to rewrite the config.
     * Undefined for write-only credentials.
     */
    private readonly master: MasterKey | undefined,
    /** Data keys by epoch, with the MAC key: what everything stored is sealed with. */
    private keyring: KeyRing,
    readonly config: RepoConfig,
    readonly keyId: string,
    readonly clock: Clock,
    private readonly options: RepositoryOptions,
  ) {}

  get location(): string {
    return this.backend.location;
  }

  /** Data keys by epoch, with the MAC key: what everything stored is sealed with. */
  get key(): KeyRing {
    return this.keyring;
  }

  /** Credentials that can add snapshots but not read, list contents, forget or prune. */
  get writeOnly(): boolean {
    return this.keyring.writeOnly;
  }

  /** The master key, or a clear error for write-only credentials. */
  private full(what: string): MasterKey {
    if (!this.master) throw writeOnlyError(what);
    return this.master;
  }

  /** Forgets the loaded index (before reloading it under a new lock). */
  resetIndex(): void {
    this.index = new BlobIndex();
  }

  // ---- key epochs ----------------------------------------------------------------------

  /** Re-reads the config (another process may have rotated since this one opened). */
  private async reloadConfig(): Promise<void> {
    const sealed = await this.backend.load({ type: 'config', name: 'config' });
    this.keyring = openConfig(this.full('change keys'), sealed, this.backend.location).keyring;
  }

  private async saveConfig(keyring: KeyRing): Promise<void> {
    await this.backend.save(
      { type: 'config', name: 'config' },
      sealConfig(this.full('change keys'), this.config, keyring, this.clock.now()),
    );
    this.keyring = keyring;
  }

  /**
   * Starts a new key epoch: a fresh data key becomes current, so everything written from now
   * on uses it. Call under the exclusive lock. Returns the new epoch.
   */
  async rotateKey(): Promise<number> {
    await this.reloadConfig();
    const epoch = Math.max(...this.keyring.dataKeys.keys()) + 1;
    const keys = new Map(this.keyring.dataKeys);
    keys.set(epoch, randomBytes(32));
    await this.saveConfig(this.keyring.withDataKeys(keys, epoch));
    // Workers hold the old current key; new blobs must use the new one.
    await this.close();
    return epoch;
  }

  /** Removes an epoch's data key. The caller proves nothing uses it first (key retire). */
  async retireEpoch(epoch: number): Promise<void> {
    await this.reloadConfig();
    if (epoch === this.keyring.current) {
      throw new LifeboatError(
        'usage',
        `[key] epoch ${epoch} is the current one; rotate first (\`lifeboat key rotate\`)`,
      );
    }
    if (!this.keyring.dataKeys.has(epoch)) {
      throw new LifeboatError(
        'not_found',
        `[key] there is no key epoch ${epoch} (epochs: ${[...this.keyring.dataKeys.keys()].join(', ')})`,
      );
    }
    const keys = new Map(this.keyring.dataKeys);
    keys.delete(epoch);
    await this.saveConfig(this.keyring.withDataKeys(keys, this.keyring.current));
  }

  /** The key epoch a stored file is sealed with (for packs: their header's). */
  async epochOf(type: FileType, name: string, size?: number): Promise<number> {
    // A WAL object starts with its header's length, then the sealed header.
    if (type === 'wal') return KeyRing.epochOf(await this.backend.load({ type, name }, 4, 4));
    if (type !== 'pack') return KeyRing.epochOf(await this.backend.load({ type, name }, 0, 4));
    const packSize = size ?? (await this.backend.stat({ type, name })).size;
    const trailer = await this.backend.load({ type, name }, packSize - 4, 4);
    const n = headerLength(trailer, packSize, name);
    return KeyRing.epochOf(await this.backend.load({ type, name }, packSize - 4 - n, 4));
  }

  static async init(
    backend: Backend,
    password: string,
    options: RepositoryOptions = {},
  ): Promise<Repository> {
    const clock = options.clock ?? systemClock;
    await backend.create();
    const master = newMasterKey();
    const box = newBoxKeyPair();
    const keyring = new KeyRing({
      mac: master.mac,
      chunkerSeed: master.chunkerSeed,
      dataKeys: new Map([[0, randomBytes(32)]]),
      current: 0,
      indexKey: randomBytes(32),
      boxPublic: box.publicKey,
      boxPrivate: box.privateKey,
    });
    const config: RepoConfig = {
      version: 1,
      id: randomBytes(16).toString('hex'),
      created: clock.now().toISOString(),
      chunker: options.chunker ?? DEFAULT_CHUNKER,
      compression: { algorithm: 'zstd', level: DEFAULT_ZSTD_LEVEL },
      packSize: options.packSize ?? DEFAULT_PACK_SIZE,
    };
    // Key first, config last: a repository without a config is not a repository yet.
    const keyFile = await wrapMasterKey(master, password, options.kdf ?? DEFAULT_KDF, clock.now());
    const keyId = storageId(keyFile);
    await backend.save({ type: 'key', name: keyId }, keyFile);
    await backend.save({ type: 'config', name: 'config' }, sealConfig(master, config, keyring, clock.now()));
    return new Repository(backend, master, keyring, config, keyId, clock, options);
  }

  static async open(
    backend: Backend,
    password: string,
    options: RepositoryOptions = {},
  ): Promise<Repository> {
    const clock = options.clock ?? systemClock;
    const sealedConfig = await loadConfigFile(backend);
    const keyNames: string[] = [];
    for await (const f of backend.list('key')) keyNames.push(f.name);
    if (keyNames.length === 0) {
      throw new LifeboatError(
        'repo_corrupt',
        `[repo] the repository at ${backend.location} has no key files (its keys folder is empty or missing): restore the keys from a copy, or add one from an escrow file (\`lifeboat key import\`)`,
      );
    }
    const damaged: string[] = [];
    /** Key files this build cannot try the password on: restic's, or a later version's. */
    const unreadable: LifeboatError[] = [];
    for (const name of keyNames) {
      let raw: Buffer;
      try {
        raw = await backend.load({ type: 'key', name });
      } catch (err) {
        // Removed between the listing and the read (a key change): the others may open.
        if (isLifeboatError(err) && err.code === 'not_found') continue;
        throw err;
      }
      if (storageId(raw) !== name) damaged.push(name);
      let file: KeyFile;
      try {
        file = parseKeyFile(raw, name);
      } catch (err) {
        if (isLifeboatError(err) && err.code !== 'repo_corrupt') unreadable.push(err);
        continue;
      }
      const payload = await unwrapKeyFile(file, password);
      if (!payload) continue;
      if (file.role === 'write-only') {
        const { config, keyring } = decodeWriteOnly(payload);
        return new Repository(backend, undefined, keyring, config, name, clock, options);
      }
      const master = decodeMaster(payload);
      const { config, keyring } = openConfig(master, sealedConfig, backend.location);
      return new Repository(backend, master, keyring, config, name, clock, options);
    }
    // Restic's keys sit in the same folder: say so rather than blame the password.
    const restic = unreadable.find((e) => e.code === 'repo_not_found');
    if (restic) {
      throw new LifeboatError(
        'repo_not_found',
        `[repo] the repository at ${backend.location} is a restic repository, not a Lifeboat one (open it with restic, or give Lifeboat another location)`,
        { cause: restic },
      );
    }
    if (unreadable.length > 0) {
      throw new LifeboatError(
        'unsupported',
        `[repo] no key of the repository at ${backend.location} opens with this password, and ${unreadable.length} of its ${keyNames.length} keys are of a later format: ${unreadable[0].message.replace(/^\[repo\] /, '')}`,
        { cause: unreadable[0] },
      );
    }
    if (damaged.length > 0) {
      throw new LifeboatError(
        'repo_corrupt',
        `[repo] no key of the repository at ${backend.location} opens with this password, and key file ${damaged.map((d) => d.slice(0, 8)).join(', ')} is damaged (its content does not match its name): restore it from a copy, or use another password or an escrow file (\`lifeboat key import\`)`,
      );
    }
    throw new LifeboatError(
      'wrong_password',
      `[repo] wrong password for the repository at ${backend.location}: none of its ${keyNames.length} keys opens with it (check LIFEBOAT_PASSWORD or the password file)`,
    );
  }

  lock(exclusive: boolean, operation: string, options?: LockOptions): Promise<RepositoryLock> {
    return RepositoryLock.acquire(this.backend, this.key, this.clock, exclusive, operation, options);
  }

  // ---- index -------------------------------------------------------------------------

  /** Loads every index file. With `adoptOrphans`, packs no index names are read and added too. */
  async loadIndex(options: { adoptOrphans?: boolean } = {}): Promise<void> {
    this.damagedIndexes = [];
    for await (const f of this.backend.list('index')) {
      let packs: IndexedPack[];
      try {
        packs = await this.loadIndexFile(f.name);
      } catch (err) {
        if (!isLifeboatError(err) || (err.code !== 'integrity' && err.code !== 'repo_corrupt')) throw err;
        // One damaged index must not take every snapshot with it: its packs are read below.
        this.damagedIndexes.push(f.name);
        continue;
      }
      for (const p of packs) this.index.addPack(p.pack, p.entries);
    }
    if (options.adoptOrphans || this.damagedIndexes.length > 0) await this.adoptOrphanPacks();
  }

  /** Index files the last loadIndex could not read (their packs were indexed from headers). */
  damagedIndexes: string[] = [];

  /** One index file, checked against its name (its SHA-256) before it is opened. */
  async loadIndexFile(name: string): Promise<IndexedPack[]> {
    const raw = await this.backend.load({ type: 'index', name });
    if (storageId(raw) !== name) {
      throw new LifeboatError(
        'integrity',
        `[repo] index ${name.slice(0, 8)} is damaged: content does not match its name`,
      );
    }
    return decodeIndex(this.key, raw, name);
  }

  /**
   * Packs uploaded by a backup that died before writing its index are read (header only)
   * and indexed, so the next backup reuses them instead of uploading them again.
   */
  private async adoptOrphanPacks(): Promise<void> {
    for await (const f of this.backend.list('pack')) {
      if (this.index.hasPack(f.name)) continue;
      try {
        const entries = await this.readPackHeader(f.name, f.size);
        this.index.addPack(f.name, entries);
        this.unindexed.push({ pack: f.name, entries });
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
    return parsePackHeader(this.key, sealedHeader, packSize, name);
  }

  // ---- blobs -------------------------------------------------------------------------

  blobId(data: Uint8Array): Buffer {
    return blobId(this.key.mac, data);
  }

  hasBlob(id: Buffer): boolean {
    return this.index.has(id) || this.pending.has(id.toString('hex'));
  }

  /** Stores a blob unless it is already stored; returns its id and whether it was new. */
  async saveBlob(
    type: BlobType,
    data: Uint8Array,
    knownId?: Buffer,
  ): Promise<{ id: Buffer; added: boolean }> {
    const id = knownId ?? this.blobId(data);
    if (this.hasBlob(id)) return { id, added: false };
    await this.addToPack(type, id, data);
    return { id, added: true };
  }

  private async addToPack(type: BlobType, id: Buffer, data: Uint8Array): Promise<void> {
    if (this.uploadError) throw this.uploadError;
    this.pending.add(id.toString('hex'));
    const rawLength = data.length;
    if (rawLength < POOL_MIN_BLOB || this.options.sealWorkers === 0) {
      const compressed = compress(data, this.config.compression.level);
      const flags = compressed ? FLAG_ZSTD : 0;
      await this.addSealed(
        type,
        flags,
        id,
        sealBlob(this.key.sealSpec, type, flags, id, compressed ?? data),
        rawLength,
      );
      return;
    }
    this.pool ??= new SealPool(this.key.sealSpec, this.config.compression.level, this.options.sealWorkers);
    while (this.sealing.size >= this.pool.size * 2) await Promise.race(this.sealing);
    if (this.uploadError) throw this.uploadError;
    // `data` may be transferred to the worker: nothing here reads it afterwards.
    const job = this.pool
      .seal(type, id, data)
      .then((done) => this.addSealed(type, done.flags, id, done.sealed, rawLength))
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
    let builder = this.builders[type];
    // Another completion may have started a new builder while this one waited: check again.
    while (builder && !builder.fits(sealed.length)) {
      this.builders[type] = undefined;
      await this.upload(builder);
      builder = this.builders[type];
    }
    if (!builder) {
      builder = new PackBuilder(Math.max(this.config.packSize, sealed.length));
      this.builders[type] = builder;
    }
    builder.add(type, flags, id, sealed, rawLength);
    if (builder.size >= this.config.packSize) {
      this.builders[type] = undefined;
      await this.upload(builder);
    }
  }

  /** Waits until no blob is being sealed and no pack uploaded (their errors are recorded). */
  private async settle(): Promise<void> {
    while (this.sealing.size > 0 || this.uploads.size > 0)
      await Promise.race([...this.sealing, ...this.uploads]);
  }

  /** Stops the seal workers. */
  async close(): Promise<void> {
    await this.pool?.close();
    await this.readPool?.close();
    this.pool = undefined;
    this.readPool = undefined;
  }

  private async upload(builder: PackBuilder): Promise<void> {
    const limit = this.options.uploadConcurrency ?? 2;
    while (this.uploads.size >= limit) await Promise.race(this.uploads);
    if (this.uploadError) throw this.uploadError;
    const built = builder.finish(this.key);
    const entries = builder.entries;
    const job = (async () => {
      // Hashing a 16 MiB pack is worth a worker when workers are running anyway.
      const { file, name } = this.pool
        ? await this.pool.hash(built).then((d) => ({ file: d.sealed, name: d.digest as string }))
        : { file: built, name: storageId(built) };
      await this.backend.save({ type: 'pack', name }, file);
      this.bytesAdded += file.length;
      this.index.addPack(name, entries);
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
      const file = encodeIndex(this.key, batch);
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
    if (this.pending.has(id.toString('hex'))) return;
    await this.addToPack(type, id, data);
  }

  /**
   * Reads a blob and verifies it: authentication, length and keyed id. Of several copies,
   * one sealed with a data key is tried before one sealed to the public key (a write-only
   * host's, which could hold anything), and the next is tried when one fails.
   */
  async loadBlob(id: Buffer): Promise<Buffer> {
    const copies = this.index.locations(id);
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
    for (const entry of this.index.locations(id)) {
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
    return openVerified(this.key, entry, sealed, blobWhat(entry));
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
   */
  readBlobs(
    ids: readonly Buffer[],
    ahead: number,
    ring?: BlobRing,
    damaged?: (index: number, err: unknown) => void,
  ): AsyncGenerator<Buffer> {
    const pooled = (entry: IndexEntry) => entry.rawLength >= POOL_MIN_BLOB && !this.writeOnly;
    const opened = async (entry: IndexEntry, sealed: Buffer, into: Buffer | undefined) => {
      if (!pooled(entry)) return this.openEntry(entry, sealed);
      // Moved to the worker: a run of one blob as it is, a blob of a longer run as a copy.
      return this.openers().open(entry, sealed, blobWhat(entry), false, into);
    };
    // A blob stored more than once is read on its own (single): loadBlob chooses the copy.
    return readInRuns(
      ids.map((id) => (this.index.hasCopies(id) ? undefined : this.index.get(id))),
      {
        load: (pack, offset, length) => this.backend.load({ type: 'pack', name: pack }, offset, length),
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
            if (!damaged || !isDamage(err) || !this.index.has(ids[i])) throw err;
            damaged(i, err);
            return Buffer.alloc(this.index.get(ids[i])?.rawLength ?? 0);
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
    this.readPool ??= new SealPool(this.key.sealSpec, this.config.compression.level, undefined, this.key);
    return this.readPool;
  }

  // ---- snapshots ---------------------------------------------------------------------

  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    const marked = this.writeOnly ? { ...snapshot, writeOnly: true as const } : snapshot;
    const file = this.key.seal(Buffer.from(JSON.stringify(marked)), SNAPSHOT_AAD);
    const id = storageId(file);
    await this.backend.save({ type: 'snapshot', name: id }, file);
    return id;
  }

  async loadSnapshot(id: string): Promise<Snapshot> {
    return (await this.readSnapshot(id)).snapshot;
  }

  /**
   * The snapshot with what its file says beside the manifest: whether a write-only key wrote
   * it, and the storage's time for it when the caller listed one (`stored`).
   */
  async readSnapshot(id: string, stored?: Date): Promise<SnapshotEntry> {
    if (this.writeOnly) throw writeOnlyError('read snapshots');
    const raw = await this.backend.load({ type: 'snapshot', name: id });
    if (storageId(raw) !== id) {
      throw new LifeboatError(
        'integrity',
        `[repo] snapshot ${id.slice(0, 8)} is damaged: content does not match its name`,
      );
    }
    const json = this.key.open(raw, SNAPSHOT_AAD, `snapshot ${id.slice(0, 8)}`).toString('utf8');
    let snapshot: Snapshot;
    try {
      snapshot = JSON.parse(json);
    } catch (err) {
      throw new LifeboatError('integrity', `[repo] snapshot ${id.slice(0, 8)} is damaged: not valid JSON`, {
        cause: err,
      });
    }
    const writeOnly = KeyRing.epochOf(raw) === BOX_EPOCH || snapshot.writeOnly === true;
    return { id, snapshot, writeOnly, ...(stored ? { stored } : {}) };
  }

  /**
   * Every snapshot that reads, oldest first, and the files that do not. One bad file costs
   * only itself: the others are listed, and the caller decides what the problems mean
   * (list and name them; prune counts damaged ones as lost but stops on unreadable ones).
   * A file removed while listing (a concurrent forget) is skipped silently.
   */
  async scanSnapshots(): Promise<SnapshotScan> {
    if (this.writeOnly) throw writeOnlyError('list snapshots');
    const files: FileInfo[] = [];
    for await (const f of this.backend.list('snapshot')) files.push(f);
    const snapshots: SnapshotEntry[] = [];
    const problems: SnapshotProblem[] = [];
    await mapLimit(files, 16, async ({ name: id, modified }) => {
      try {
        snapshots.push(await this.readSnapshot(id, modified));
      } catch (err) {
        const kind = snapshotProblemKind(err);
        if (kind) problems.push({ id, kind, message: describe(err), error: err });
      }
    });
    snapshots.sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time) || a.id.localeCompare(b.id));
    problems.sort((a, b) => a.id.localeCompare(b.id));
    return { snapshots, problems };
  }

  /**
   * Every snapshot, oldest first, or an error naming the first file that does not read: for
   * callers that must see every snapshot or none (copying them all). The rest use scanSnapshots.
   */
  async listSnapshots(): Promise<SnapshotEntry[]> {
    const { snapshots, problems } = await this.scanSnapshots();
    if (problems.length > 0) throw snapshotProblemError(problems);
    return snapshots;
  }

  async removeSnapshot(id: string): Promise<void> {
    await this.backend.remove({ type: 'snapshot', name: id });
  }

  // ---- keys --------------------------------------------------------------------------

  async listKeys(): Promise<KeyListing[]> {
    const out: KeyListing[] = [];
    for await (const f of this.backend.list('key')) {
      const file: KeyFile = parseKeyFile(await this.backend.load({ type: 'key', name: f.name }), f.name);
      out.push({
        id: f.name,
        current: f.name === this.keyId,
        role: file.role,
        host: file.host,
        username: file.username,
        created: file.created,
      });
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  /** Adds a password; with `writeOnly`, one that can only add snapshots. Returns the key id. */
  async addKey(password: string, options: { writeOnly?: boolean } = {}): Promise<string> {
    const master = this.full('add keys');
    if (options.writeOnly) {
      const file = await wrapKeyFile(
        encodeWriteOnly(this.keyring, this.config),
        'write-only',
        password,
        this.options.kdf ?? DEFAULT_KDF,
        this.clock.now(),
      );
      const id = storageId(file);
      await this.backend.save({ type: 'key', name: id }, file);
      return id;
    }
    const file = await wrapMasterKey(master, password, this.options.kdf ?? DEFAULT_KDF, this.clock.now());
    const id = storageId(file);
    await this.backend.save({ type: 'key', name: id }, file);
    return id;
  }

  /** The master key sealed for a recipient or passphrase (`key export`). */
  async exportEscrow(target: EscrowTarget): Promise<string> {
    // age is loaded only for escrow: it is large and rarely needed.
    const { sealEscrow } = await import('./escrow.js');
    return sealEscrow(this.full('export keys'), this.config.id, target, this.clock.now());
  }

  /**
   * Restores access from an escrow file (`key import`): checks it opens this repository's
   * config, then adds a key file for `newPassword`. Returns the new key's id.
   */
  static async importEscrow(
    backend: Backend,
    escrow: string,
    unlock: EscrowUnlock,
    newPassword: string,
    options: RepositoryOptions = {},
  ): Promise<string> {
    const { openEscrow } = await import('./escrow.js');
    const { master } = await openEscrow(escrow, unlock);
    const sealed = await loadConfigFile(backend);
    try {
      openConfig(master, sealed, backend.location);
    } catch (err) {
      throw new LifeboatError(
        'usage',
        `[key] this escrow file does not belong to the repository at ${backend.location}`,
        { cause: err },
      );
    }
    const clock = options.clock ?? systemClock;
    const file = await wrapMasterKey(master, newPassword, options.kdf ?? DEFAULT_KDF, clock.now());
    const id = storageId(file);
    await backend.save({ type: 'key', name: id }, file);
    return id;
  }

  async removeKey(id: string): Promise<void> {
    if (id === this.keyId) {
      throw new LifeboatError(
        'usage',
        `[repo] key ${id.slice(0, 8)} is the one this command opened the repository with; remove it using another password`,
      );
    }
    await this.backend.stat({ type: 'key', name: id });
    await this.backend.remove({ type: 'key', name: id });
  }

  /** Removes a file of any type; for prune and repair. */
  async removeFile(type: FileType, name: string): Promise<void> {
    await this.backend.remove({ type, name });
  }

  hostname(): string {
    return hostname();
  }
}

/** Runs `fn` over items with at most `limit` in flight, preserving order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}

/** The config as stored: the public settings plus the data keys, sealed with the KEK. */
interface StoredConfig extends RepoConfig {
  keys: {
    current: number;
    epochs: { epoch: number; key: string; created: string }[];
    index: string;
    boxPublic: string;
    boxPrivate: string;
  };
}

function sealConfig(master: MasterKey, config: RepoConfig, keyring: KeyRing, now: Date): Buffer {
  const stored: StoredConfig = {
    ...config,
    keys: {
      current: keyring.current,
      index: keyring.indexKey.toString('base64'),
      boxPublic: keyring.boxPublic.toString('base64'),
      boxPrivate: keyring.boxPrivate!.toString('base64'),
      epochs: [...keyring.dataKeys].map(([epoch, key]) => ({
        epoch,
        key: key.toString('base64'),
        created: now.toISOString(),
      })),
    },
  };
  return seal(master.kek, Buffer.from(JSON.stringify(stored)), CONFIG_AAD);
}

function openConfig(
  master: MasterKey,
  sealed: Buffer,
  location: string,
): { config: RepoConfig; keyring: KeyRing } {
  let stored: StoredConfig;
  try {
    stored = JSON.parse(
      open(master.kek, sealed, CONFIG_AAD, 'repository config').toString('utf8'),
    ) as StoredConfig;
  } catch (err) {
    throw new LifeboatError(
      'repo_corrupt',
      `[repo] the repository config at ${location} is damaged (a key opened, the config did not): restore the file "config" from a copy of the repository, or from a copy made by \`lifeboat copy\``,
      { cause: err },
    );
  }
  if (typeof stored.version === 'number' && stored.version > 1) {
    throw new LifeboatError(
      'unsupported',
      `[repo] the repository at ${location} has format version ${stored.version}, written by a later Lifeboat; this Lifeboat reads version 1 (upgrade Lifeboat)`,
    );
  }
  if (stored.version !== 1) {
    throw new LifeboatError(
      'repo_corrupt',
      `[repo] the repository config at ${location} is damaged: it has no valid format version (restore the file "config" from a copy of the repository)`,
    );
  }
  const { keys, ...config } = stored;
  const dataKeys = new Map(keys.epochs.map((e) => [e.epoch, Buffer.from(e.key, 'base64')]));
  const keyring = new KeyRing({
    mac: master.mac,
    chunkerSeed: master.chunkerSeed,
    dataKeys,
    current: keys.current,
    indexKey: Buffer.from(keys.index, 'base64'),
    boxPublic: Buffer.from(keys.boxPublic, 'base64'),
    boxPrivate: Buffer.from(keys.boxPrivate, 'base64'),
  });
  return { config, keyring };
}

async function loadConfigFile(backend: Backend): Promise<Buffer> {
  try {
    return await backend.load({ type: 'config', name: 'config' });
  } catch (err) {
    if ((err as { code?: string }).code === 'not_found') {
      throw new LifeboatError(
        'repo_not_found',
        `[repo] no repository at ${backend.location} (check the URL, or create one with \`lifeboat init\`)`,
      );
    }
    throw err;
  }
}

/**
 * What a write-only key file holds: enough to chunk, compute blob ids, read the index (to
 * deduplicate) and seal to the repository's public key; nothing that decrypts stored data.
 */
function encodeWriteOnly(keyring: KeyRing, config: RepoConfig): Buffer {
  return Buffer.from(
    JSON.stringify({
      config,
      mac: keyring.mac.toString('base64'),
      chunkerSeed: keyring.chunkerSeed.toString('base64'),
      index: keyring.indexKey.toString('base64'),
      boxPublic: keyring.boxPublic.toString('base64'),
    }),
  );
}

function decodeWriteOnly(payload: Buffer): { config: RepoConfig; keyring: KeyRing } {
  const j = JSON.parse(payload.toString('utf8'));
  const keyring = new KeyRing({
    mac: Buffer.from(j.mac, 'base64'),
    chunkerSeed: Buffer.from(j.chunkerSeed, 'base64'),
    dataKeys: new Map(),
    current: BOX_EPOCH,
    indexKey: Buffer.from(j.index, 'base64'),
    boxPublic: Buffer.from(j.boxPublic, 'base64'),
  });
  return { config: j.config as RepoConfig, keyring };
}

function blobWhat(entry: IndexEntry): string {
  return `blob ${entry.id.toString('hex').slice(0, 8)} in pack ${entry.pack}`;
}
