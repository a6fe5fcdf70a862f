/**
 * @module sources/crc64
 * Reflected CRC-64, table-driven on two 32-bit halves so no BigInt is involved per byte.
 * The engines differ only in the polynomial and the initial/final values: Redis (Jones,
 * init 0) in redis/crc64.ts, mongodump archives (ECMA/XZ, init and final all ones) in
 * mongodb/mongo-crc64.ts.
 */

export interface Crc64Table {
  hi: Uint32Array;
  lo: Uint32Array;
}

/** The table for a reflected polynomial given as its high and low 32 bits. */
export function crc64Table(polyHi: number, polyLo: number): Crc64Table {
  const hiTable = new Uint32Array(256);
  const loTable = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) {
        hi = (hi ^ polyHi) >>> 0;
        lo = (lo ^ polyLo) >>> 0;
      }
    }
    hiTable[i] = hi;
    loTable[i] = lo;
  }
  return { hi: hiTable, lo: loTable };
}

/** A running register (hi, lo) advanced over data[start..end). */
export function crc64Update(
  table: Crc64Table,
  state: { hi: number; lo: number },
  data: Uint8Array,
  start = 0,
  end = data.length,
): void {
  let hi = state.hi;
  let lo = state.lo;
  for (let i = start; i < end; i++) {
    const idx = (lo ^ data[i]) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ table.lo[idx];
    hi = (hi >>> 8) ^ table.hi[idx];
  }
  state.hi = hi >>> 0;
  state.lo = lo >>> 0;
}
