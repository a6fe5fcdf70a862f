/**
 * @module repo/index-file
 * Index files: for each pack, the blobs it holds. Binary, zstd-compressed, sealed.
 * Layout in docs/format.md, "Index files". A file that names packs marked for deletion by a
 * prune with a grace period (maintenance/prune.ts) is written as version 2, which records the
 * time of each mark; files without marks stay version 1, so older readers still read them.
 */
import { LifeboatError } from '../errors.js';
import { compress, decompress } from './compress.js';
import type { KeyRing } from './crypto.js';
import type { PackEntry } from './pack.js';
import { BLOB_TYPE_CODE, BLOB_TYPES } from './pack.js';

const MAGIC = Buffer.from('LBI1');
const MAGIC_MARKED = Buffer.from('LBI2');
const AAD = Buffer.from('lifeboat index v1');
const ENTRY = 46;

export interface IndexedPack {
  pack: string;
  entries: PackEntry[];
  /**
   * When a prune marked the pack for deletion (ms since the epoch): its blobs are read but
   * not deduplicated against, and a later prune deletes it once the grace has passed.
   */
  markedAt?: number;
}

export function encodeIndex(keys: KeyRing, packs: readonly IndexedPack[]): Buffer {
  const marks = packs.some((p) => p.markedAt !== undefined);
  // Version 2 adds a u64 LE mark time (0: live) after each pack's entry count.
  const packHead = marks ? 44 : 36;
  let size = MAGIC.length;
  for (const p of packs) size += packHead + p.entries.length * ENTRY;
  const body = Buffer.allocUnsafe(size);
  (marks ? MAGIC_MARKED : MAGIC).copy(body, 0);
  let o = MAGIC.length;
  for (const p of packs) {
    o += Buffer.from(p.pack, 'hex').copy(body, o);
    o = body.writeUInt32LE(p.entries.length, o);
    if (marks) o = body.writeBigUInt64LE(BigInt(p.markedAt ?? 0), o);
    for (const e of p.entries) {
      body[o] = BLOB_TYPE_CODE[e.type];
      body[o + 1] = e.flags;
      e.id.copy(body, o + 2);
      body.writeUInt32LE(e.offset, o + 34);
      body.writeUInt32LE(e.length, o + 38);
      body.writeUInt32LE(e.rawLength, o + 42);
      o += ENTRY;
    }
  }
  const packed = compress(body);
  // Prefix: u8 compressed flag, then u32 LE plaintext length of the body.
  const prefix = Buffer.allocUnsafe(5);
  prefix[0] = packed ? 1 : 0;
  prefix.writeUInt32LE(body.length, 1);
  return keys.sealIndex(Buffer.concat([prefix, packed ?? body]), AAD);
}

export function decodeIndex(keys: KeyRing, sealed: Buffer, name: string): IndexedPack[] {
  const what = `index ${name.slice(0, 8)}`;
  const plain = keys.open(sealed, AAD, what);
  const rawLength = plain.readUInt32LE(1);
  const body = plain[0] === 1 ? decompress(plain.subarray(5), rawLength, what) : plain.subarray(5);
  const marks = body.subarray(0, 4).equals(MAGIC_MARKED);
  if (!marks && !body.subarray(0, 4).equals(MAGIC)) {
    throw new LifeboatError('integrity', `[repo] ${what} is damaged: bad magic`);
  }
  const packs: IndexedPack[] = [];
  let o = 4;
  while (o < body.length) {
    const pack = body.subarray(o, o + 32).toString('hex');
    const n = body.readUInt32LE(o + 32);
    o += 36;
    let markedAt: number | undefined;
    if (marks) {
      const at = Number(body.readBigUInt64LE(o));
      o += 8;
      if (at > 0) markedAt = at;
    }
    const entries: PackEntry[] = [];
    for (let i = 0; i < n; i++, o += ENTRY) {
      const type = BLOB_TYPES[body[o]];
      if (!type) throw new LifeboatError('integrity', `[repo] ${what} has an unknown blob type`);
      entries.push({
        type,
        flags: body[o + 1],
        id: Buffer.from(body.subarray(o + 2, o + 34)),
        offset: body.readUInt32LE(o + 34),
        length: body.readUInt32LE(o + 38),
        rawLength: body.readUInt32LE(o + 42),
      });
    }
    packs.push(markedAt === undefined ? { pack, entries } : { pack, entries, markedAt });
  }
  return packs;
}
