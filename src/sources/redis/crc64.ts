/**
 * @module sources/redis/crc64
 * CRC-64 as Redis computes it (Jones polynomial, reflected, init 0, no final xor): the
 * trailer of an RDB file and of every DUMP payload.
 */
import { crc64Table, crc64Update } from '../crc64.js';

/** The reflected Jones polynomial 0xad93d23594c935a9 is 0x95ac9329ac4bc9b5. */
const TABLE = crc64Table(0x95ac9329, 0xac4bc9b5);

/** A running CRC-64 (Redis flavour). */
export class Crc64 {
  hi = 0;
  lo = 0;

  update(data: Uint8Array, start = 0, end = data.length): this {
    crc64Update(TABLE, this, data, start, end);
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
