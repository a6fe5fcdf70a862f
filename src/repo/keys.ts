/**
 * @module repo/keys
 * Key files: the master key wrapped by one password each (scrypt, then AES-256-GCM).
 * A key file is plain JSON so a fresh machine can find the KDF parameters; only the
 * wrapped master key inside it is secret.
 */
import { randomBytes, scrypt } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { LifeboatError } from '../errors.js';
import type { MasterKey } from './crypto.js';
import { open, seal } from './crypto.js';

export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/** scrypt cost: about 0.1-0.3 s and 32 MiB on a small server. Tests may lower it. */
export const DEFAULT_KDF: KdfParams = { N: 2 ** 15, r: 8, p: 1 };

export type KeyRole = 'full' | 'write-only';

export interface KeyFile {
  version: 1;
  created: string;
  host: string;
  username: string;
  /** What this password is for: full access, or adding snapshots only (write-only). */
  role: KeyRole;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  /**
   * base64 of seal(scrypt(password, salt), payload, aad "lifeboat key v1"): the master key
   * for 'full', the write-only material for 'write-only'.
   */
  data: string;
}

const KEY_AAD = Buffer.from('lifeboat key v1');

function deriveKey(password: string, salt: Buffer, kdf: KdfParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      salt,
      32,
      { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

function encodeMaster(mk: MasterKey): Buffer {
  return Buffer.from(
    JSON.stringify({
      kek: mk.kek.toString('base64'),
      mac: mk.mac.toString('base64'),
      chunkerSeed: mk.chunkerSeed.toString('base64'),
    }),
  );
}

function decodeMaster(data: Buffer): MasterKey {
  const j = JSON.parse(data.toString('utf8')) as Record<string, string>;
  return {
    kek: Buffer.from(j.kek, 'base64'),
    mac: Buffer.from(j.mac, 'base64'),
    chunkerSeed: Buffer.from(j.chunkerSeed, 'base64'),
  };
}

export function wrapMasterKey(mk: MasterKey, password: string, kdf: KdfParams, now: Date): Promise<Buffer> {
  return wrapKeyFile(encodeMaster(mk), 'full', password, kdf, now);
}

/** A key file sealing `payload` under `password`. */
export async function wrapKeyFile(
  payload: Buffer,
  role: KeyRole,
  password: string,
  kdf: KdfParams,
  now: Date,
): Promise<Buffer> {
  const salt = randomBytes(32);
  const wrapping = await deriveKey(password, salt, kdf);
  const file: KeyFile = {
    version: 1,
    created: now.toISOString(),
    host: hostname(),
    username: safeUsername(),
    role,
    kdf: 'scrypt',
    ...kdf,
    salt: salt.toString('base64'),
    data: seal(wrapping, payload, KEY_AAD).toString('base64'),
  };
  return Buffer.from(JSON.stringify(file, null, 2));
}

/** The key format this build reads; a key file of a later version needs a newer Lifeboat. */
export const KEY_FILE_VERSION = 1;

/**
 * A key file, read. Throws `repo_corrupt` when it is no key file at all, `repo_not_found`
 * when it is restic's (same folder name, no `version`, a `hostname`), and `unsupported`
 * when a later Lifeboat wrote it: each is told apart from a wrong password.
 */
export function parseKeyFile(raw: Buffer, name: string): KeyFile {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not an object');
  } catch (err) {
    throw new LifeboatError('repo_corrupt', `[repo] key file ${name.slice(0, 8)} is unreadable`, {
      cause: err,
    });
  }
  if (j.version === undefined && typeof j.hostname === 'string' && typeof j.salt === 'string') {
    throw new LifeboatError(
      'repo_not_found',
      `[repo] key file ${name.slice(0, 8)} is a restic key: this is a restic repository, not a Lifeboat one (open it with restic)`,
    );
  }
  if (typeof j.version === 'number' && j.version > KEY_FILE_VERSION) {
    throw new LifeboatError(
      'unsupported',
      `[repo] key file ${name.slice(0, 8)} has format version ${j.version}, and this Lifeboat reads version ${KEY_FILE_VERSION} (upgrade Lifeboat)`,
    );
  }
  if (
    j.version !== KEY_FILE_VERSION ||
    j.kdf !== 'scrypt' ||
    typeof j.salt !== 'string' ||
    typeof j.data !== 'string'
  ) {
    throw new LifeboatError(
      'repo_corrupt',
      `[repo] key file ${name.slice(0, 8)} is unreadable (unknown layout)`,
    );
  }
  return j as unknown as KeyFile;
}

/** The key file's payload, or undefined when the password does not open it. */
export async function unwrapKeyFile(file: KeyFile, password: string): Promise<Buffer | undefined> {
  const wrapping = await deriveKey(password, Buffer.from(file.salt, 'base64'), file);
  try {
    return open(wrapping, Buffer.from(file.data, 'base64'), KEY_AAD, 'key');
  } catch {
    return undefined;
  }
}

export { decodeMaster };

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
