/**
 * @module sources/redis/resp-writer
 * Builds RESP commands into large buffers (many commands per socket write), so pipelining
 * two million commands does not allocate millions of small buffers.
 */

const CRLF = Buffer.from('\r\n', 'latin1');

export class RespWriter {
  private buf: Buffer;
  private used = 0;
  private readonly flushed: Buffer[] = [];
  private flushedBytes = 0;

  constructor(private readonly blockSize = 1024 * 1024) {
    this.buf = Buffer.allocUnsafe(blockSize);
  }

  /** Bytes written since the last take(). */
  get size(): number {
    return this.flushedBytes + this.used;
  }

  private room(n: number): void {
    if (this.buf.length - this.used >= n) return;
    if (this.used > 0) {
      this.flushed.push(this.buf.subarray(0, this.used));
      this.flushedBytes += this.used;
    }
    this.buf = Buffer.allocUnsafe(Math.max(this.blockSize, n));
    this.used = 0;
  }

  ascii(s: string): this {
    this.room(s.length);
    this.used += this.buf.write(s, this.used, 'latin1');
    return this;
  }

  bytes(b: Uint8Array): this {
    if (b.length > this.blockSize / 4) {
      // Large pieces are referenced, not copied.
      this.room(0);
      if (this.used > 0) {
        this.flushed.push(this.buf.subarray(0, this.used));
        this.flushedBytes += this.used;
        this.buf = this.buf.subarray(this.used);
        this.used = 0;
      }
      this.flushed.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      this.flushedBytes += b.length;
      return this;
    }
    this.room(b.length);
    this.buf.set(b, this.used);
    this.used += b.length;
    return this;
  }

  /** `*N` header of a command with N arguments. */
  arrayHeader(n: number): this {
    return this.ascii(`*${n}\r\n`);
  }

  /** One bulk string argument. */
  bulk(arg: string | Uint8Array): this {
    const b = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    this.ascii(`$${b.length}\r\n`);
    this.bytes(b);
    return this.bytes(CRLF);
  }

  /** A bulk string argument given as pieces whose total length is known. */
  bulkHeader(length: number): this {
    return this.ascii(`$${length}\r\n`);
  }

  crlf(): this {
    return this.bytes(CRLF);
  }

  command(args: (string | Uint8Array)[]): this {
    this.arrayHeader(args.length);
    for (const a of args) this.bulk(a);
    return this;
  }

  /** Everything written so far, as buffers to send; the writer starts empty again. */
  take(): Buffer[] {
    const out = this.flushed.splice(0);
    if (this.used > 0) {
      out.push(this.buf.subarray(0, this.used));
      this.buf = this.buf.subarray(this.used);
      this.used = 0;
      if (this.buf.length < 4096) this.buf = Buffer.allocUnsafe(this.blockSize);
    }
    this.flushedBytes = 0;
    return out;
  }
}

export function encodeCommand(args: (string | Uint8Array)[]): Buffer {
  return Buffer.concat(new RespWriter(4096).command(args).take());
}
