/**
 * @module repo/pack
 * Pack files: many sealed blobs back to back, then a sealed header listing them, then the
 * header's length. Layout in docs/format.md, "Pack files".
 */
import { createHash } from 'node:crypto';
import { LifeboatError } from '../errors.js';
import { decompress } from './compress.js';
import { BOX_EPOCH, blobId, EPOCH_SIZE, KeyRing, SEAL_OVERHEAD, type SealSpec, sealWith } from './crypto.js';

export type BlobType = 'data' | 'tree';
export const BLOB_TYPE_CODE: Record<BlobType, number> = { data: 0, tree: 1 };
export const BLOB_TYPES: BlobType[] = ['data', 'tree'];

/** Flag bit: the sealed plaintext is zstd-compressed. */
export const FLAG_ZSTD = 1;

export interface PackEntry {
  type: BlobType;
  flags: number;
  id: Buffer;
  offset: number;
  /** Stored length (sealed: nonce + ciphertext + tag). */
  length: number;
  /** Plaintext length before compression. */
  rawLength: number;
}

const HEADER_ENTRY_SIZE = 42;
const HEADER_AAD = Buffer.from('lifeboat pack header v1');

export function blobAad(type: BlobType, flags: number, id: Buffer): Buffer {
  const aad = Buffer.allocUnsafe(34);
  aad[0] = BLOB_TYPE_CODE[type];
  aad[1] = flags;
  id.copy(aad, 2);
  return aad;
}

/** Seals one blob (data key or sealed box, per `spec`); `body` is the (possibly compressed) plaintext. */
export function sealBlob(
  spec: SealSpec,
  type: BlobType,
  flags: number,
  id: Buffer,
  body: Uint8Array,
  into?: Buffer,
): Buffer {
  return sealWith(spec, body, blobAad(type, flags, id), into);
}

export function openBlob(keys: KeyRing, entry: PackEntry, sealed: Uint8Array, what: string): Buffer {
  return keys.open(sealed, blobAad(entry.type, entry.flags, entry.id), what);
}

/**
 * Opens a stored blob and verifies it: authentication, decompression, length and keyed id.
 * (Repository.openEntry and the seal workers' 'open' both use this.)
 *
 * `recomputeId: false` skips recomputing the keyed id of a blob sealed with a data key: the
 * id is in the GCM tag's associated data, so only a holder of the full key could have
 * sealed other content under it (a writer's bug, which `check --read-data` still finds).
 * Blobs sealed to the public key by write-only hosts are always recomputed.
 *
 * `into`, exactly `rawLength` bytes, receives the plaintext (and is returned): a reader that
 * reuses memory (BlobRing) allocates nothing per blob.
 */
export function openVerified(
  keys: KeyRing,
  entry: Pick<PackEntry, 'type' | 'flags' | 'id' | 'rawLength'>,
  sealed: Uint8Array,
  what: string,
  recomputeId = true,
  into?: Buffer,
): Buffer {
  const body = keys.open(sealed, blobAad(entry.type, entry.flags, entry.id), what);
  let plain: Buffer;
  if (entry.flags & FLAG_ZSTD) plain = decompress(body, entry.rawLength, what, into);
  else if (into && body.length === into.length) plain = into.subarray(0, body.copy(into));
  else plain = body;
  const idOk = () =>
    (!recomputeId && KeyRing.epochOf(sealed) !== BOX_EPOCH) || blobId(keys.mac, plain).equals(entry.id);
  if (plain.length !== entry.rawLength || !idOk()) {
    throw new LifeboatError('integrity', `[repo] ${what} is damaged: content does not match its id`);
  }
  return plain;
}

/** Room kept after the blobs for the header; a larger header is handled by one copy. */
const HEADER_SLACK = 64 * 1024;

/** The buffer a PackBuilder allocates for `blobCapacity` bytes of blobs. */
export function packBufferBytes(blobCapacity: number): number {
  return blobCapacity + HEADER_SLACK;
}

/**
 * Collects sealed blobs into one preallocated buffer until the pack is full, then appends
 * the header: one copy per blob and no concatenation at the end, so a pack costs its size
 * in memory once. (Untouched capacity is never paged in.) The pack's name (the SHA-256 of
 * its bytes) is hashed as the blobs come, while they are in the cache.
 */
export class PackBuilder {
  private buf: Buffer;
  private readonly hash = createHash('sha256');
  readonly entries: PackEntry[] = [];
  size = 0;

  /** `spare`: a finished pack's buffer to fill again, when it is large enough. */
  constructor(blobCapacity: number, spare?: Buffer) {
    this.buf =
      spare && spare.length >= packBufferBytes(blobCapacity)
        ? spare
        : Buffer.allocUnsafe(packBufferBytes(blobCapacity));
  }

  /** True when a sealed blob of `length` bytes still fits before the header room. */
  fits(length: number): boolean {
    return this.size + length + HEADER_SLACK <= this.buf.length;
  }

  add(type: BlobType, flags: number, id: Buffer, sealed: Buffer, rawLength: number): void {
    if (!this.fits(sealed.length)) throw new Error('pack builder overflow'); // callers check fits()
    this.entries.push({ type, flags, id, offset: this.size, length: sealed.length, rawLength });
    sealed.copy(this.buf, this.size);
    this.hash.update(sealed);
    this.size += sealed.length;
  }

  get count(): number {
    return this.entries.length;
  }

  /**
   * The pack file (a view over the builder's buffer, which the caller then owns), its name,
   * and that whole buffer (to build another pack in once the file is stored).
   */
  finish(keys: KeyRing): { file: Buffer; name: string; buffer: Buffer } {
    const header = Buffer.allocUnsafe(this.entries.length * HEADER_ENTRY_SIZE);
    let p = 0;
    for (const e of this.entries) {
      header[p] = BLOB_TYPE_CODE[e.type];
      header[p + 1] = e.flags;
      e.id.copy(header, p + 2);
      header.writeUInt32LE(e.length, p + 34);
      header.writeUInt32LE(e.rawLength, p + 38);
      p += HEADER_ENTRY_SIZE;
    }
    const sealedHeader = keys.seal(header, HEADER_AAD);
    const total = this.size + sealedHeader.length + 4;
    if (total > this.buf.length) {
      const bigger = Buffer.allocUnsafe(total);
      this.buf.copy(bigger, 0, 0, this.size);
      this.buf = bigger;
    }
    sealedHeader.copy(this.buf, this.size);
    this.buf.writeUInt32LE(sealedHeader.length, this.size + sealedHeader.length);
    this.hash.update(this.buf.subarray(this.size, total));
    const buffer = this.buf;
    this.buf = Buffer.alloc(0);
    return { file: buffer.subarray(0, total), name: this.hash.digest('hex'), buffer };
  }
}

/** Length of the sealed header, read from the last 4 bytes of a pack. */
export function headerLength(trailer: Buffer, packSize: number, name: string): number {
  const n = trailer.readUInt32LE(trailer.length - 4);
  // The exact overhead depends on how the header was sealed; parsePackHeader checks the rest.
  if (n < EPOCH_SIZE + SEAL_OVERHEAD || n + 4 > packSize) {
    throw new LifeboatError('integrity', `[repo] pack ${name.slice(0, 8)} is damaged: bad header length`);
  }
  return n;
}

/** Parses a pack's sealed header (without the 4-byte trailer) into its entries. */
export function parsePackHeader(
  keys: KeyRing,
  sealedHeader: Buffer,
  packSize: number,
  name: string,
): PackEntry[] {
  const header = keys.open(sealedHeader, HEADER_AAD, `header of pack ${name.slice(0, 8)}`);
  if (header.length % HEADER_ENTRY_SIZE !== 0) {
    throw new LifeboatError('integrity', `[repo] pack ${name.slice(0, 8)} is damaged: bad header length`);
  }
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let p = 0; p < header.length; p += HEADER_ENTRY_SIZE) {
    const code = header[p];
    const type = BLOB_TYPES[code];
    if (!type)
      throw new LifeboatError('integrity', `[repo] pack ${name.slice(0, 8)} has an unknown blob type`);
    const length = header.readUInt32LE(p + 34);
    entries.push({
      type,
      flags: header[p + 1],
      id: Buffer.from(header.subarray(p + 2, p + 34)),
      offset,
      length,
      rawLength: header.readUInt32LE(p + 38),
    });
    offset += length;
  }
  if (offset + sealedHeader.length + 4 !== packSize) {
    throw new LifeboatError(
      'integrity',
      `[repo] pack ${name.slice(0, 8)} is damaged: size does not match its header`,
    );
  }
  return entries;
}
