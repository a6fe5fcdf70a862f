/**
 * @module sources/mongodb/mongo-crc64
 * CRC-64 as mongodump's archive uses it: Go's hash/crc64 with the ECMA table (reflected
 * polynomial 0xc96c5795d7870f42, initial and final value all ones; the CRC-64/XZ variant).
 */

const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;
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

export class EcmaCrc64 {
  /** The running value, kept inverted as Go does between updates. */
  private hi = 0xffffffff;
  private lo = 0xffffffff;

  update(data: Uint8Array): this {
    let hi = this.hi;
    let lo = this.lo;
    for (let i = 0; i < data.length; i++) {
      const idx = (lo ^ data[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[idx];
      hi = (hi >>> 8) ^ TABLE_HI[idx];
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
    return this;
  }

  /** The CRC as a signed 64-bit value, as the archive's int64 CRC field holds it. */
  value(): bigint {
    const u = (BigInt(~this.hi >>> 0) << 32n) | BigInt(~this.lo >>> 0);
    return BigInt.asIntN(64, u);
  }
}
