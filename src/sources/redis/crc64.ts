/**
 * @module sources/redis/crc64
 * CRC-64 as Redis computes it (Jones polynomial, reflected, init 0, no final xor): the
 * trailer of an RDB file and of every DUMP payload. Table-driven, on two 32-bit halves so
 * no BigInt is involved per byte.
 */

/** The reflected Jones polynomial 0xad93d23594c935a9 is 0x95ac9329ac4bc9b5. */
const POLY_HI = 0x95ac9329;
const POLY_LO = 0xac4bc9b5;

const TABLE_HI = new Uint32Array(256);
const TABLE_LO = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let k = 0; k < 8; k++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (carry) {
      hi = (hi ^ POLY_HI) >>> 0;
      lo = (lo ^ POLY_LO) >>> 0;
    }
  }
  TABLE_HI[i] = hi;
  TABLE_LO[i] = lo;
}

/** A running CRC-64 (Redis flavour). */
export class Crc64 {
  hi = 0;
  lo = 0;

  update(data: Uint8Array, start = 0, end = data.length): this {
    let hi = this.hi;
    let lo = this.lo;
    for (let i = start; i < end; i++) {
      const idx = (lo ^ data[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[idx];
      hi = (hi >>> 8) ^ TABLE_HI[idx];
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
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
