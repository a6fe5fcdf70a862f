/**
 * @module repo/index-file
 * Index files: for each pack, the blobs it holds. Binary, zstd-compressed, sealed.
 * Layout in docs/format.md, "Index files".
 */
import { LifeboatError } from '../errors.js';
import { compress, decompress } from './compress.js';
import type { KeyRing } from './crypto.js';
import type { PackEntry } from './pack.js';
import { BLOB_TYPE_CODE, BLOB_TYPES } from './pack.js';

const MAGIC = Buffer.from('LBI1');
const AAD = Buffer.from('lifeboat index v1');
const ENTRY = 46;

export interface IndexedPack {
  pack: string;
  entries: PackEntry[];
}

export function encodeIndex(keys: KeyRing, packs: readonly IndexedPack[]): Buffer {
  let size = MAGIC.length;
  for (const p of packs) size += 36 + p.entries.length * ENTRY;
  const body = Buffer.allocUnsafe(size);
  MAGIC.copy(body, 0);
  let o = MAGIC.length;
  for (const p of packs) {
    o += Buffer.from(p.pack, 'hex').copy(body, o);
    o = body.writeUInt32LE(p.entries.length, o);
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
  if (!body.subarray(0, 4).equals(MAGIC)) {
    throw new LifeboatError('integrity', `[repo] ${what} is damaged: bad magic`);
  }
  const packs: IndexedPack[] = [];
  let o = 4;
  while (o < body.length) {
    const pack = body.subarray(o, o + 32).toString('hex');
    const n = body.readUInt32LE(o + 32);
    o += 36;
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
    packs.push({ pack, entries });
  }
  return packs;
}
