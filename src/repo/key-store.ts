/**
 * @module repo/key-store
 * The repository's keys: the key files a password (or a write-only password) opens, the
 * config they unlock, data-key epochs (rotate, retire) and escrow. Everything else in the
 * repository reads the current KeyRing from here, as a rotation replaces it.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { isLifeboatError, LifeboatError } from '../errors.js';
import type { Backend, FileType } from '../storage/backend.js';
import type { ChunkerParams } from './chunker.js';
import { DEFAULT_CHUNKER } from './chunker.js';
import { DEFAULT_ZSTD_LEVEL } from './compress.js';
import type { MasterKey } from './crypto.js';
import { KeyRing, newBoxKeyPair, newMasterKey, storageId, writeOnlyError } from './crypto.js';
import type { EscrowTarget, EscrowUnlock } from './escrow.js';
import type { KdfParams, KeyFile, KeyRole } from './keys.js';
import {
  DEFAULT_KDF,
  decodeMaster,
  parseKeyFile,
  unwrapKeyFile,
  wrapKeyFile,
  wrapMasterKey,
} from './keys.js';
import { headerLength } from './pack.js';
import {
  decodeWriteOnly,
  encodeWriteOnly,
  loadConfigFile,
  openConfig,
  type RepoConfig,
  sealConfig,
} from './repo-config.js';

export interface KeyListing {
  id: string;
  current: boolean;
  role: KeyRole;
  host: string;
  username: string;
  created: string;
}

/** What a new repository is made with. */
export interface NewRepoSettings {
  kdf?: KdfParams;
  chunker?: ChunkerParams;
  packSize: number;
}

export class KeyStore {
  private constructor(
    private readonly backend: Backend,
    /**
     * The secrets a full password unwraps: needed to add keys and to rewrite the config.
     * Undefined for write-only credentials.
     */
    private readonly master: MasterKey | undefined,
    /** Data keys by epoch, with the MAC key: what everything stored is sealed with. */
    private keyring: KeyRing,
    readonly config: RepoConfig,
    readonly keyId: string,
    private readonly clock: Clock,
    private readonly kdf: KdfParams,
  ) {}

  /** Data keys by epoch, with the MAC key: what everything stored is sealed with. */
  get ring(): KeyRing {
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

  /** Writes a new repository's key file, then its config (a repository without one is not one yet). */
  static async init(
    backend: Backend,
    password: string,
    settings: NewRepoSettings,
    clock: Clock,
  ): Promise<KeyStore> {
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
      chunker: settings.chunker ?? DEFAULT_CHUNKER,
      compression: { algorithm: 'zstd', level: DEFAULT_ZSTD_LEVEL },
      packSize: settings.packSize,
    };
    const kdf = settings.kdf ?? DEFAULT_KDF;
    // Key first, config last: a repository without a config is not a repository yet.
    const keyFile = await wrapMasterKey(master, password, kdf, clock.now());
    const keyId = storageId(keyFile);
    await backend.save({ type: 'key', name: keyId }, keyFile);
    await backend.save({ type: 'config', name: 'config' }, sealConfig(master, config, keyring, clock.now()));
    return new KeyStore(backend, master, keyring, config, keyId, clock, kdf);
  }

  /** Tries `password` on every key file; the first that opens unlocks the config. */
  static async open(
    backend: Backend,
    password: string,
    kdf: KdfParams | undefined,
    clock: Clock,
  ): Promise<KeyStore> {
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
      const kdfOrDefault = kdf ?? DEFAULT_KDF;
      if (file.role === 'write-only') {
        const { config, keyring } = decodeWriteOnly(payload);
        return new KeyStore(backend, undefined, keyring, config, name, clock, kdfOrDefault);
      }
      const master = decodeMaster(payload);
      const { config, keyring } = openConfig(master, sealedConfig, backend.location);
      return new KeyStore(backend, master, keyring, config, name, clock, kdfOrDefault);
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

  /** Starts a new key epoch with a fresh data key as the current one. Returns the new epoch. */
  async rotate(): Promise<number> {
    await this.reloadConfig();
    const epoch = Math.max(...this.keyring.dataKeys.keys()) + 1;
    const keys = new Map(this.keyring.dataKeys);
    keys.set(epoch, randomBytes(32));
    await this.saveConfig(this.keyring.withDataKeys(keys, epoch));
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

  // ---- key files ---------------------------------------------------------------------

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
    const file = options.writeOnly
      ? await wrapKeyFile(
          encodeWriteOnly(this.keyring, this.config),
          'write-only',
          password,
          this.kdf,
          this.clock.now(),
        )
      : await wrapMasterKey(master, password, this.kdf, this.clock.now());
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
    kdf: KdfParams | undefined,
    clock: Clock,
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
    const file = await wrapMasterKey(master, newPassword, kdf ?? DEFAULT_KDF, clock.now());
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
}
