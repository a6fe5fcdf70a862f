/**
 * @module repo/repo-config
 * The repository config file: the public settings (chunker, compression, pack size) and the
 * data keys, sealed with the master key's KEK (docs/format.md). A write-only key file holds
 * a copy of the settings with the keys that only add data, never decrypt it.
 */
import { LifeboatError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import type { ChunkerParams } from './chunker.js';
import type { MasterKey } from './crypto.js';
import { BOX_EPOCH, KeyRing, open, seal } from './crypto.js';
import { CONFIG_AAD } from './snapshot.js';

export interface RepoConfig {
  version: 1;
  id: string;
  created: string;
  chunker: ChunkerParams;
  compression: { algorithm: 'zstd'; level: number };
  /** Target pack size in bytes. */
  packSize: number;
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

export function sealConfig(master: MasterKey, config: RepoConfig, keyring: KeyRing, now: Date): Buffer {
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

export function openConfig(
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

export async function loadConfigFile(backend: Backend): Promise<Buffer> {
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
export function encodeWriteOnly(keyring: KeyRing, config: RepoConfig): Buffer {
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

export function decodeWriteOnly(payload: Buffer): { config: RepoConfig; keyring: KeyRing } {
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
