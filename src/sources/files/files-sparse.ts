/**
 * @module sources/files/files-sparse
 * Writes a stream into a file, leaving every all-zero 4 KiB block unwritten so that holes in
 * the original file (and runs of zeros) come back as holes. The caller truncates the file to
 * its full size at the end, which creates a trailing hole if the stream ended in zeros.
 */

export const SPARSE_BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(SPARSE_BLOCK);

/** Writes `length` bytes of `buffer` from `offset` at file position `position`. */
export type PositionalWrite = (
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
) => Promise<void>;

export class SparseWriter {
  /** File position of the first byte not yet flushed (a whole number of blocks until `end`). */
  private flushed = 0;
  /** The start of a block that is not complete yet (copied: callers may reuse their buffers). */
  private carry: Buffer | undefined;

  constructor(private readonly write: PositionalWrite) {}

  /** Bytes accepted so far: the file's size once `end` ran. */
  get size(): number {
    return this.flushed + (this.carry?.length ?? 0);
  }

  async push(chunk: Uint8Array): Promise<void> {
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.carry) {
      const need = SPARSE_BLOCK - this.carry.length;
      if (data.length < need) {
        this.carry = Buffer.concat([this.carry, data]);
        return;
      }
      const block = Buffer.concat([this.carry, data.subarray(0, need)]);
      this.carry = undefined;
      await this.flush(block);
      data = data.subarray(need);
    }
    const whole = data.length - (data.length % SPARSE_BLOCK);
    if (whole > 0) await this.flush(data.subarray(0, whole));
    if (whole < data.length) this.carry = Buffer.from(data.subarray(whole));
  }

  /** Flushes the last partial block. */
  async end(): Promise<void> {
    if (!this.carry) return;
    const last = this.carry;
    this.carry = undefined;
    await this.flush(last);
  }

  /** Writes each run of non-zero blocks of `region` with one call; zero blocks are skipped. */
  private async flush(region: Buffer): Promise<void> {
    const base = this.flushed;
    let runStart = -1;
    for (let at = 0; at < region.length; at += SPARSE_BLOCK) {
      const end = Math.min(at + SPARSE_BLOCK, region.length);
      const zero = region.subarray(at, end).equals(ZERO_BLOCK.subarray(0, end - at));
      if (!zero && runStart < 0) runStart = at;
      if (zero && runStart >= 0) {
        await this.write(region, runStart, at - runStart, base + runStart);
        runStart = -1;
      }
    }
    if (runStart >= 0) await this.write(region, runStart, region.length - runStart, base + runStart);
    this.flushed = base + region.length;
  }
}
