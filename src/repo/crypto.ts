/**
 * @module repo/crypto
 * Authenticated encryption (AES-256-GCM, random 96-bit nonce) and keyed blob ids
 * (HMAC-SHA-256). Private to repo/: nothing outside it sees keys or sealed bytes.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { LifeboatError } from '../errors.js';

export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;
/** Bytes a sealed message adds to its plaintext. */
export const SEAL_OVERHEAD = NONCE_SIZE + TAG_SIZE;

/**
 * The secrets every password unwraps. The key-encryption key seals the repository config,
 * which holds the data keys (one per epoch); the MAC key and chunker seed never rotate,
 * since blob ids and chunk boundaries depend on them.
 */
export interface MasterKey {
  /** AES-256-GCM key for the repository config (and so, indirectly, the data keys). */
  kek: Buffer;
  /** HMAC-SHA-256 key for blob ids. */
  mac: Buffer;
  /** Seed of the chunker's gear table, so chunk boundaries reveal nothing to the storage. */
  chunkerSeed: Buffer;
}

export function newMasterKey(): MasterKey {
  return { kek: randomBytes(32), mac: randomBytes(32), chunkerSeed: randomBytes(32) };
}

/** Bytes the key epoch adds in front of every object sealed with a data key. */
export const EPOCH_SIZE = 4;

/**
 * The data keys, by epoch. Objects are sealed with the current epoch's key and carry that
 * epoch in their first four bytes, so old objects open with old keys until re-encrypted.
 */
export class KeyRing {
  constructor(
    readonly mac: Buffer,
    readonly chunkerSeed: Buffer,
    readonly dataKeys: ReadonlyMap<number, Buffer>,
    readonly current: number,
  ) {
    if (!dataKeys.has(current))
      throw new LifeboatError('repo_corrupt', `[repo] the current key epoch ${current} has no key`);
  }

  get currentKey(): Buffer {
    return this.dataKeys.get(this.current)!;
  }

  /** u32 LE epoch || seal(current data key, plaintext, aad). */
  seal(plaintext: Uint8Array, aad: Uint8Array): Buffer {
    return sealWithEpoch(this.current, this.currentKey, plaintext, aad);
  }

  open(sealed: Uint8Array, aad: Uint8Array, what: string): Buffer {
    return open(this.keyFor(sealed, what), sealed.subarray(EPOCH_SIZE), aad, what);
  }

  /** The epoch an object was sealed with. */
  static epochOf(sealed: Uint8Array): number {
    return Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength).readUInt32LE(0);
  }

  private keyFor(sealed: Uint8Array, what: string): Buffer {
    if (sealed.length < EPOCH_SIZE + SEAL_OVERHEAD) {
      throw new LifeboatError('integrity', `[repo] ${what} is damaged: too short to be an encrypted object`);
    }
    const epoch = KeyRing.epochOf(sealed);
    const key = this.dataKeys.get(epoch);
    if (!key) {
      throw new LifeboatError(
        'integrity',
        `[repo] ${what} is sealed with key epoch ${epoch}, which this repository does not have (damaged, or the epoch was retired while still in use)`,
      );
    }
    return key;
  }
}

export function sealWithEpoch(epoch: number, key: Buffer, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const body = seal(key, plaintext, aad);
  const out = Buffer.allocUnsafe(EPOCH_SIZE + body.length);
  out.writeUInt32LE(epoch, 0);
  body.copy(out, EPOCH_SIZE);
  return out;
}

/** nonce || ciphertext || tag, with `aad` authenticated but not stored. */
export function seal(key: Buffer, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_SIZE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const out = Buffer.allocUnsafe(NONCE_SIZE + plaintext.length + TAG_SIZE);
  nonce.copy(out, 0);
  let n = NONCE_SIZE;
  n += cipher.update(plaintext).copy(out, n);
  n += cipher.final().copy(out, n);
  cipher.getAuthTag().copy(out, n);
  return out;
}

/** Inverse of seal; throws an 'integrity' error naming `what` when authentication fails. */
export function open(key: Buffer, sealed: Uint8Array, aad: Uint8Array, what: string): Buffer {
  if (sealed.length < SEAL_OVERHEAD) {
    throw new LifeboatError('integrity', `[repo] ${what} is damaged: too short to be an encrypted object`);
  }
  const nonce = sealed.subarray(0, NONCE_SIZE);
  const tag = sealed.subarray(sealed.length - TAG_SIZE);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    const body = decipher.update(sealed.subarray(NONCE_SIZE, sealed.length - TAG_SIZE));
    const tail = decipher.final();
    return tail.length ? Buffer.concat([body, tail]) : body;
  } catch {
    throw new LifeboatError(
      'integrity',
      `[repo] ${what} is damaged: authentication failed (run \`lifeboat check --read-data\`)`,
    );
  }
}

/** Keyed id of a blob's plaintext: HMAC-SHA-256, hex. */
export function blobId(macKey: Buffer, plaintext: Uint8Array): Buffer {
  return createHmac('sha256', macKey).update(plaintext).digest();
}

/** Storage name of a file: SHA-256 of its stored bytes, hex, so storage can be checked without keys. */
export function storageId(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
