/**
 * @module sources/redis/chunk-queue
 * A bounded queue of buffers between a producer and an async-iterating consumer, used to let
 * a parser read the same stream that is being stored (a tee with backpressure): the producer
 * waits while the queue is full, and a failure on either side reaches the other.
 */

export class ChunkQueue implements AsyncIterable<Buffer> {
  private readonly items: Buffer[] = [];
  private ended = false;
  private failure: unknown;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly capacity = 8) {}

  /** Adds a chunk, waiting while the queue is full; throws if the consumer failed. */
  async push(chunk: Buffer): Promise<void> {
    while (this.items.length >= this.capacity && this.failure === undefined) {
      await new Promise<void>((resolve) => {
        this.wakeProducer = resolve;
      });
    }
    if (this.failure !== undefined) throw this.failure;
    this.items.push(chunk);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Either side failed: wakes both, and makes the other side throw `err`. */
  fail(err: unknown): void {
    this.failure ??= err;
    this.wake();
    const p = this.wakeProducer;
    this.wakeProducer = undefined;
    p?.();
  }

  private wake(): void {
    const c = this.wakeConsumer;
    this.wakeConsumer = undefined;
    c?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const item = this.items.shift();
      if (item) {
        const p = this.wakeProducer;
        this.wakeProducer = undefined;
        p?.();
        yield item;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wakeConsumer = resolve;
      });
    }
  }
}

/**
 * Passes `source` through unchanged while `consume` reads the same chunks; returns the
 * pass-through stream and the consumer's result. If the consumer fails, the pass-through
 * stream throws its error. `cancel(err)` stops the consumer with `err` when the pass-through
 * stream's reader gave up (possibly before reading anything), unless it failed already.
 */
export function tee<T>(
  source: AsyncIterable<Buffer>,
  consume: (stream: AsyncIterable<Buffer>) => Promise<T>,
): { output: AsyncIterable<Buffer>; result: Promise<T>; cancel(err: unknown): void } {
  const queue = new ChunkQueue();
  const result = consume(queue).catch((err) => {
    queue.fail(err);
    throw err;
  });
  result.catch(() => {}); // awaited by the caller; no unhandled rejection meanwhile
  async function* output(): AsyncIterable<Buffer> {
    try {
      for await (const chunk of source) {
        await queue.push(chunk);
        yield chunk;
      }
      queue.end();
    } catch (err) {
      queue.fail(err);
      throw err;
    }
  }
  return { output: output(), result, cancel: (err) => queue.fail(err) };
}
