/**
 * @module sources/redis/crc64
 * CRC-64 as Redis computes it (Jones polynomial, reflected, init 0, no final xor): the
 * trailer of an RDB file and of every DUMP payload. Eight bytes a step (slicing-by-8): a
 * backup checks the whole file as it streams, and a byte a step cost more than the parse.
 */
import { crc64Table, crc64Update } from '../crc64.js';

/** The reflected Jones polynomial 0xad93d23594c935a9 is 0x95ac9329ac4bc9b5. */
const TABLE = crc64Table(0x95ac9329, 0xac4bc9b5);

/** Tables 0..7 of slicing-by-8, table k at [256 k, 256 k + 256): hi and lo halves. */
const HI = new Uint32Array(8 * 256);
const LO = new Uint32Array(8 * 256);
HI.set(TABLE.hi);
LO.set(TABLE.lo);
for (let k = 1; k < 8; k++) {
  for (let i = 0; i < 256; i++) {
    const h = HI[256 * (k - 1) + i];
    const l = LO[256 * (k - 1) + i];
    const idx = l & 0xff;
    LO[256 * k + i] = (((l >>> 8) | (h << 24)) ^ TABLE.lo[idx]) >>> 0;
    HI[256 * k + i] = ((h >>> 8) ^ TABLE.hi[idx]) >>> 0;
  }
}

/** A running CRC-64 (Redis flavour). */
export class Crc64 {
  hi = 0;
  lo = 0;

  update(data: Uint8Array, start = 0, end = data.length): this {
    let hi = this.hi;
    let lo = this.lo;
    let i = start;
    for (; i + 8 <= end; i += 8) {
      lo ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
      hi ^= data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
      const nlo =
        LO[1792 + (lo & 0xff)] ^
        LO[1536 + ((lo >>> 8) & 0xff)] ^
        LO[1280 + ((lo >>> 16) & 0xff)] ^
        LO[1024 + (lo >>> 24)] ^
        LO[768 + (hi & 0xff)] ^
        LO[512 + ((hi >>> 8) & 0xff)] ^
        LO[256 + ((hi >>> 16) & 0xff)] ^
        LO[hi >>> 24];
      hi =
        HI[1792 + (lo & 0xff)] ^
        HI[1536 + ((lo >>> 8) & 0xff)] ^
        HI[1280 + ((lo >>> 16) & 0xff)] ^
        HI[1024 + (lo >>> 24)] ^
        HI[768 + (hi & 0xff)] ^
        HI[512 + ((hi >>> 8) & 0xff)] ^
        HI[256 + ((hi >>> 16) & 0xff)] ^
        HI[hi >>> 24];
      lo = nlo;
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
    if (i < end) crc64Update(TABLE, this, data, i, end);
    return this;
  }

  /** The CRC as Redis stores it: 8 bytes, little-endian. */
  digestLE(): Buffer {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32LE(this.lo >>> 0, 0);
    out.writeUInt32LE(this.hi >>> 0, 4);
    return out;
  }

  copy(): Crc64 {
    const c = new Crc64();
    c.hi = this.hi;
    c.lo = this.lo;
    return c;
  }
}

export function crc64(data: Uint8Array): Buffer {
  return new Crc64().update(data).digestLE();
}
