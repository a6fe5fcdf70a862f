/**
 * @module repo/crypto
 * Authenticated encryption (AES-256-GCM, random 96-bit nonce) and keyed blob ids
 * (HMAC-SHA-256). Private to repo/: nothing outside it sees keys or sealed bytes.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
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
/** Epoch marker of objects sealed with the index key (index files, locks). */
export const INDEX_EPOCH = 0xfffffff0;
/** Epoch marker of objects sealed to the repository's public key (by write-only hosts). */
export const BOX_EPOCH = 0xfffffff1;
const BOX_PUBLIC_SIZE = 32;
const BOX_INFO = Buffer.from('lifeboat sealed box v1');

/** How to seal: with a data key of an epoch, or to a public key (sealed box). */
export type SealSpec = { epoch: number; key: Buffer } | { box: Buffer };

export interface KeyRingParts {
  mac: Buffer;
  chunkerSeed: Buffer;
  /** Data keys by epoch; empty for write-only credentials. */
  dataKeys: ReadonlyMap<number, Buffer>;
  /** The epoch new objects are sealed with; BOX_EPOCH for write-only credentials. */
  current: number;
  /** Seals index files and locks: readable by write-only hosts, which need them to deduplicate. */
  indexKey: Buffer;
  /** X25519 public key (raw 32 bytes) that write-only hosts seal to. */
  boxPublic: Buffer;
  /** Its private half: only full credentials have it. */
  boxPrivate?: Buffer;
}

/**
 * The keys a repository handle holds. Objects sealed with a data key carry its epoch in
 * their first four bytes, so old objects open with old keys until re-encrypted; objects
 * from write-only hosts carry BOX_EPOCH and an ephemeral public key instead.
 */
export class KeyRing implements KeyRingParts {
  readonly mac: Buffer;
  readonly chunkerSeed: Buffer;
  readonly dataKeys: ReadonlyMap<number, Buffer>;
  readonly current: number;
  readonly indexKey: Buffer;
  readonly boxPublic: Buffer;
  readonly boxPrivate?: Buffer;

  constructor(parts: KeyRingParts) {
    this.mac = parts.mac;
    this.chunkerSeed = parts.chunkerSeed;
    this.dataKeys = parts.dataKeys;
    this.current = parts.current;
    this.indexKey = parts.indexKey;
    this.boxPublic = parts.boxPublic;
    this.boxPrivate = parts.boxPrivate;
    if (parts.current !== BOX_EPOCH && !parts.dataKeys.has(parts.current)) {
      throw new LifeboatError('repo_corrupt', `[repo] the current key epoch ${parts.current} has no key`);
    }
  }

  /** Credentials that can add data but not read it back. */
  get writeOnly(): boolean {
    return this.boxPrivate === undefined;
  }

  /** A copy with other data keys (rotation, retirement). */
  withDataKeys(dataKeys: ReadonlyMap<number, Buffer>, current: number): KeyRing {
    return new KeyRing({ ...this, dataKeys, current });
  }

  get sealSpec(): SealSpec {
    return this.current === BOX_EPOCH
      ? { box: this.boxPublic }
      : { epoch: this.current, key: this.currentKey };
  }

  get currentKey(): Buffer {
    return this.dataKeys.get(this.current)!;
  }

  /** Seals with the current data key, or to the public key for write-only credentials. */
  seal(plaintext: Uint8Array, aad: Uint8Array): Buffer {
    return sealWith(this.sealSpec, plaintext, aad);
  }

  /** Seals with the index key (index files, locks). */
  sealIndex(plaintext: Uint8Array, aad: Uint8Array): Buffer {
    return sealWithEpoch(INDEX_EPOCH, this.indexKey, plaintext, aad);
  }

  open(sealed: Uint8Array, aad: Uint8Array, what: string): Buffer {
    if (sealed.length < EPOCH_SIZE + SEAL_OVERHEAD) {
      throw new LifeboatError('integrity', `[repo] ${what} is damaged: too short to be an encrypted object`);
    }
    const epoch = KeyRing.epochOf(sealed);
    if (epoch === BOX_EPOCH) return this.openBox(sealed, aad, what);
    const key = epoch === INDEX_EPOCH ? this.indexKey : this.dataKeys.get(epoch);
    if (!key) {
      if (this.writeOnly) throw writeOnlyError('decrypt stored data');
      throw new LifeboatError(
        'integrity',
        `[repo] ${what} is sealed with key epoch ${epoch}, which this repository does not have (damaged, or the epoch was retired while still in use)`,
      );
    }
    return open(key, sealed.subarray(EPOCH_SIZE), aad, what);
  }

  /** The epoch an object was sealed with. */
  static epochOf(sealed: Uint8Array): number {
    return Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength).readUInt32LE(0);
  }

  private openBox(sealed: Uint8Array, aad: Uint8Array, what: string): Buffer {
    if (!this.boxPrivate) throw writeOnlyError('decrypt stored data');
    const ephPublic = Buffer.from(sealed.subarray(EPOCH_SIZE, EPOCH_SIZE + BOX_PUBLIC_SIZE));
    const shared = diffieHellman({
      privateKey: x25519Private(this.boxPrivate, this.boxPublic),
      publicKey: x25519Public(ephPublic),
    });
    return open(
      boxKey(shared, ephPublic, this.boxPublic),
      sealed.subarray(EPOCH_SIZE + BOX_PUBLIC_SIZE),
      aad,
      what,
    );
  }
}

export function writeOnlyError(what: string): LifeboatError {
  return new LifeboatError(
    'forbidden',
    `[repo] these credentials are write-only: they can add snapshots but not ${what} (run this from a host with a full key)`,
  );
}

/** The most a sealed object is longer than its plaintext (a sealed box). */
export const MAX_SEAL_GROWTH = EPOCH_SIZE + BOX_PUBLIC_SIZE + SEAL_OVERHEAD;

/**
 * Seals under `spec`. With `into`, at least the plaintext's length plus MAX_SEAL_GROWTH
 * bytes, the sealed object is written at its start and a view of it returned.
 */
export function sealWith(spec: SealSpec, plaintext: Uint8Array, aad: Uint8Array, into?: Buffer): Buffer {
  return 'box' in spec
    ? sealBox(spec.box, plaintext, aad, into)
    : sealWithEpoch(spec.epoch, spec.key, plaintext, aad, into);
}

export function sealWithEpoch(
  epoch: number,
  key: Buffer,
  plaintext: Uint8Array,
  aad: Uint8Array,
  into?: Buffer,
): Buffer {
  const out = seal(key, plaintext, aad, EPOCH_SIZE, into);
  out.writeUInt32LE(epoch, 0);
  return out;
}

/** u32 BOX_EPOCH || ephemeral X25519 public key || seal(HKDF(ECDH), plaintext, aad). */
export function sealBox(recipient: Buffer, plaintext: Uint8Array, aad: Uint8Array, into?: Buffer): Buffer {
  const eph = generateKeyPairSync('x25519');
  const ephPublic = Buffer.from(eph.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: x25519Public(recipient) });
  const out = seal(boxKey(shared, ephPublic, recipient), plaintext, aad, EPOCH_SIZE + BOX_PUBLIC_SIZE, into);
  out.writeUInt32LE(BOX_EPOCH, 0);
  ephPublic.copy(out, EPOCH_SIZE);
  return out;
}

function boxKey(shared: Buffer, ephPublic: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephPublic, recipient]), BOX_INFO, 32));
}

/** A new X25519 key pair as raw 32-byte keys. */
export function newBoxKeyPair(): { publicKey: Buffer; privateKey: Buffer } {
  const pair = generateKeyPairSync('x25519');
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return {
    publicKey: Buffer.from(jwk.x as string, 'base64url'),
    privateKey: Buffer.from(jwk.d as string, 'base64url'),
  };
}

function x25519Public(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function x25519Private(raw: Buffer, publicRaw: Buffer): KeyObject {
  return createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', x: publicRaw.toString('base64url'), d: raw.toString('base64url') },
    format: 'jwk',
  });
}

/**
 * nonce || ciphertext || tag, with `aad` authenticated but not stored. `headroom` bytes are
 * left (unset) before the nonce for the caller's prefix, so a sealed blob is one buffer and
 * one copy of its bytes; with `into` (long enough), that buffer is a view of it.
 */
export function seal(
  key: Buffer,
  plaintext: Uint8Array,
  aad: Uint8Array,
  headroom = 0,
  into?: Buffer,
): Buffer {
  const nonce = randomBytes(NONCE_SIZE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const length = headroom + NONCE_SIZE + plaintext.length + TAG_SIZE;
  if (into && into.length < length) throw new LifeboatError('internal', '[repo] no room to seal into');
  const out = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  nonce.copy(out, headroom);
  let n = headroom + NONCE_SIZE;
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
