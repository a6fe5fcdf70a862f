/**
 * @module sources/byte-reader
 * A pull reader over a stream of buffers, for the RDB parser and the RESP client. Small reads
 * are synchronous on an internal buffer (`has(n)` then `u8()`, `take(n)`, ...; `fill(n)` when
 * short), large spans are passed through piece by piece (`skip`), so nothing large is ever
 * buffered. Every consumed byte can be observed by taps (checksums, value capture), and the
 * absolute offset is always known.
 */

/** Sees every consumed byte range, in order. */
export interface ByteTap {
  bytes(data: Buffer, start: number, end: number): void;
}

export class TruncatedError extends Error {
  constructor(readonly offset: number) {
    super(`stream ended early at byte ${offset}`);
  }
}

const EMPTY = Buffer.alloc(0);
/** At least this much of a new read is joined to the bytes left of the last one. */
const JOIN_BYTES = 4096;

export class ByteReader {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Absolute offset of buf[0]. */
  private base = 0;
  /** Bytes before this index of buf have been shown to the taps. */
  private tapped = 0;
  private ended = false;
  /** The part of the last read not yet joined to `buf` (see fillSoft). */
  private queued: Buffer | undefined;
  private readonly taps: ByteTap[] = [];
  private readonly iterator: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Absolute offset of the next byte to read. */
  get offset(): number {
    return this.base + this.pos;
  }

  get available(): number {
    return this.buf.length - this.pos;
  }

  has(n: number): boolean {
    return this.buf.length - this.pos >= n;
  }

  addTap(tap: ByteTap): void {
    this.flushTaps();
    this.taps.push(tap);
  }

  removeTap(tap: ByteTap): void {
    this.flushTaps();
    const i = this.taps.indexOf(tap);
    if (i >= 0) this.taps.splice(i, 1);
  }

  /** Shows the consumed, not yet shown bytes to the taps. */
  flushTaps(): void {
    if (this.tapped < this.pos) {
      for (const t of this.taps) t.bytes(this.buf, this.tapped, this.pos);
    }
    this.tapped = this.pos;
  }

  /** Ensures `n` bytes are buffered; throws TruncatedError at the end of the stream. */
  async fill(n: number): Promise<void> {
    await this.fillSoft(n);
    if (!this.has(n)) throw new TruncatedError(this.base + this.buf.length);
  }

  /** Buffers up to `n` bytes, fewer only at the end of the stream. */
  async fillSoft(n: number): Promise<void> {
    while (!this.has(n)) {
      let chunk = this.queued;
      this.queued = undefined;
      if (!chunk) {
        if (this.ended) break;
        const next = await this.iterator.next();
        if (next.done) {
          this.ended = true;
          break;
        }
        chunk = Buffer.isBuffer(next.value)
          ? next.value
          : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        if (chunk.length === 0) continue;
      }
      this.flushTaps();
      const rest = this.buf.length - this.pos;
      this.base += this.pos;
      if (rest === 0) this.buf = chunk;
      else {
        // An item cut between two reads: only its start is copied next to the rest, and the
        // rest of the new read waits its turn, used in place (copying every read cost more
        // than the parse of a Redis backup's keys).
        const take = Math.min(chunk.length, Math.max(n - rest, JOIN_BYTES));
        this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk.subarray(0, take)]);
        if (take < chunk.length) this.queued = chunk.subarray(take);
      }
      this.pos = 0;
      this.tapped = 0;
    }
  }

  /** True when no byte is left (reads ahead to find out). */
  async atEnd(): Promise<boolean> {
    await this.fillSoft(1);
    return !this.has(1);
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new TruncatedError(this.offset);
    return this.buf[this.pos++];
  }

  peek(): number {
    if (this.pos >= this.buf.length) throw new TruncatedError(this.offset);
    return this.buf[this.pos];
  }

  /** `n` buffered bytes (call has/fill first); a view, valid until the next fill. */
  take(n: number): Buffer {
    if (!this.has(n)) throw new TruncatedError(this.base + this.buf.length);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Consumes `n` buffered bytes (call has/fill first) without making a view of them. */
  drop(n: number): void {
    if (!this.has(n)) throw new TruncatedError(this.base + this.buf.length);
    this.pos += n;
  }

  /** Index (in the stream) of the first `byte` at or after the read position, if buffered. */
  indexOf(byte: number): number {
    const i = this.buf.indexOf(byte, this.pos);
    return i < 0 ? -1 : i - this.pos;
  }

  /** Consumes `n` bytes, streaming: each piece goes to `onPiece` (and the taps). */
  async skip(n: number, onPiece?: (piece: Buffer) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.available === 0) await this.fill(1);
      const k = Math.min(left, this.available);
      const piece = this.buf.subarray(this.pos, this.pos + k);
      this.pos += k;
      left -= k;
      if (onPiece) await onPiece(piece);
    }
  }

  /**
   * Takes whatever is buffered (at most `max` bytes), reading one more chunk when nothing is;
   * empty at the end of the stream.
   */
  async chunk(max: number): Promise<Buffer> {
    if (this.available === 0) await this.fillSoft(1);
    const k = Math.min(max, this.available);
    const out = this.buf.subarray(this.pos, this.pos + k);
    this.pos += k;
    return out;
  }

  /** Stops the underlying stream (e.g. a socket iterator) early. */
  async close(): Promise<void> {
    this.ended = true;
    this.queued = undefined;
    await this.iterator.return?.();
  }
}
