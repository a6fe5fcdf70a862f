/**
 * @module sources/mongodb/mongo-crc64
 * CRC-64 as mongodump's archive uses it: Go's hash/crc64 with the ECMA table (reflected
 * polynomial 0xc96c5795d7870f42, initial and final value all ones; the CRC-64/XZ variant).
 */
import { crc64Table, crc64Update } from '../crc64.js';

const TABLE = crc64Table(0xc96c5795, 0xd7870f42);

export class EcmaCrc64 {
  /** The running value, kept inverted as Go does between updates. */
  hi = 0xffffffff;
  lo = 0xffffffff;

  update(data: Uint8Array): this {
    crc64Update(TABLE, this, data);
    return this;
  }

  /** The CRC as a signed 64-bit value, as the archive's int64 CRC field holds it. */
  value(): bigint {
    const u = (BigInt(~this.hi >>> 0) << 32n) | BigInt(~this.lo >>> 0);
    return BigInt.asIntN(64, u);
  }
}
