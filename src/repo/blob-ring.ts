/**
 * @module repo/blob-ring
 * Memory that a long read reuses for the blobs it opens: one SharedArrayBuffer, shared with
 * the worker that opens blobs straight into it, handed out in order as a ring and taken back
 * when the reader releases each blob. Restoring a 1.6 GB base backup with a new buffer per
 * blob cost about a core second in garbage collection (every buffer moved between threads
 * counts as fresh external memory) and page faults; with the ring it costs nothing.
 *
 * Regions are taken in order and may be released in any order; the space of the oldest
 * region still held bounds what can be taken. take() never waits: when the ring is full it
 * returns undefined and the caller uses a buffer of its own, so a reader that holds on to
 * blobs slows nothing down and cannot deadlock.
 */

interface Region {
  at: number;
  length: number;
  released: boolean;
}

export class BlobRing {
  readonly buffer: SharedArrayBuffer;
  /** Taken regions, oldest first. */
  private regions: Region[] = [];
  /** Where the next region starts (the end of the newest one). */
  private next = 0;

  constructor(readonly size: number) {
    this.buffer = new SharedArrayBuffer(size);
  }

  /** A region of `length` bytes, or undefined when the ring has no room for it now. */
  take(length: number): Buffer | undefined {
    if (length <= 0 || length > this.size) return undefined;
    let at: number | undefined;
    if (this.regions.length === 0) {
      this.next = 0;
      at = 0;
    } else {
      const oldest = this.regions[0].at;
      if (this.next > oldest) {
        // Free: [next, size) and, wrapping, [0, oldest).
        if (this.size - this.next >= length) at = this.next;
        else if (oldest >= length) at = 0;
      } else if (oldest - this.next >= length) {
        at = this.next;
      }
    }
    if (at === undefined) return undefined;
    this.regions.push({ at, length, released: false });
    this.next = at + length;
    return Buffer.from(this.buffer, at, length);
  }

  /** True when `buf` lies in this ring's memory. */
  holds(buf: Uint8Array): boolean {
    return buf.buffer === this.buffer;
  }

  /**
   * Gives back the region `buf` starts (a view from take(), or a part of it starting at the
   * same place). Buffers not from this ring are ignored; releasing twice is harmless.
   */
  release(buf: Uint8Array): void {
    if (!this.holds(buf)) return;
    const region = this.regions.find((r) => r.at === buf.byteOffset && !r.released);
    if (!region) return;
    region.released = true;
    while (this.regions.length > 0 && this.regions[0].released) this.regions.shift();
  }

  /** Bytes in regions not yet released. */
  get held(): number {
    return this.regions.reduce((n, r) => n + (r.released ? 0 : r.length), 0);
  }
}
