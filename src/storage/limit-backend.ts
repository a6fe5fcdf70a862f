/**
 * @module storage/limit-backend
 * Bandwidth limits (`--limit-upload`, `--limit-download`, in KiB/s) as a wrapper: a token
 * bucket per direction, shared by every request in flight. The contract moves whole
 * buffers, so the limit holds on average (over a few objects), not within one object: a
 * 16 MiB pack at 1 MiB/s waits about 16 s, then goes at the link's speed.
 */
import type { Backend, FileHandle } from './backend.js';
import { ForwardingBackend } from './forwarding-backend.js';

export interface LimitOptions {
  /** Upload limit in bytes per second; 0 or undefined: unlimited. */
  uploadBytesPerSecond?: number;
  downloadBytesPerSecond?: number;
  /** Injected for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Tokens are bytes; the bucket holds at most one second's worth. A request takes its bytes
 * at once and may drive the bucket into debt, then waits until the debt is paid back, so
 * later requests queue behind it and the long-run rate is the limit.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly bytesPerSecond: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = realSleep,
  ) {
    this.tokens = bytesPerSecond;
    this.last = now();
  }

  /** Waits until `bytes` may go. */
  async take(bytes: number): Promise<void> {
    const t = this.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((t - this.last) / 1000) * this.bytesPerSecond);
    this.last = t;
    this.tokens -= bytes;
    if (this.tokens < 0) await this.sleep(Math.ceil((-this.tokens / this.bytesPerSecond) * 1000));
  }
}

class LimitBackend extends ForwardingBackend {
  private readonly up?: TokenBucket;
  private readonly down?: TokenBucket;

  constructor(inner: Backend, options: LimitOptions) {
    super(inner);
    const now = options.now ?? Date.now;
    const sleep = options.sleep ?? realSleep;
    if (options.uploadBytesPerSecond) this.up = new TokenBucket(options.uploadBytesPerSecond, now, sleep);
    if (options.downloadBytesPerSecond)
      this.down = new TokenBucket(options.downloadBytesPerSecond, now, sleep);
  }

  override async save(h: FileHandle, data: Buffer): Promise<void> {
    await this.up?.take(data.length);
    await this.inner.save(h, data);
  }

  override async load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    // A ranged read's size is known up front; a whole object is paid for once it arrived.
    if (length !== undefined) await this.down?.take(length);
    const data = await this.inner.load(h, offset, length);
    if (length === undefined) await this.down?.take(data.length);
    return data;
  }
}

/** `backend` with upload and download limits; unchanged when neither is set. */
export function withLimits(backend: Backend, options: LimitOptions): Backend {
  if (!options.uploadBytesPerSecond && !options.downloadBytesPerSecond) return backend;
  return new LimitBackend(backend, options);
}
