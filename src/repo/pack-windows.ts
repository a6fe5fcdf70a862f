/**
 * @module repo/pack-windows
 * Small reads of a pack served from a few windows of it read whole. A backup stores the
 * blobs of small files one after the other, and a restore wants them in the same order,
 * each file on its own: one window read covers the next few dozen files, where each file
 * cost a storage read of its own. Memory: at most `keep` windows (and the views readers
 * still hold into them).
 */

/** Reads of at least this many bytes go to storage as they are. */
export const WINDOW_BYTES = 1024 * 1024;
/** Windows kept (several files are restored at once, from one or two packs). */
export const WINDOWS_KEPT = 4;
/** Pack sizes remembered (one stat per pack): the map is cleared past this many. */
const SIZES_KEPT = 4096;

interface Window {
  pack: string;
  start: number;
  end: number;
  data: Promise<Buffer>;
}

export class PackWindows {
  private windows: Window[] = [];
  /** Sizes asked for or known, shared by reads that start together. */
  private sizes = new Map<string, Promise<number>>();

  constructor(
    /** One ranged read of a pack. */
    private readonly load: (pack: string, offset: number, length: number) => Promise<Buffer>,
    /** A pack's size. */
    private readonly size: (pack: string) => Promise<number>,
    private readonly windowBytes = WINDOW_BYTES,
    private readonly keep = WINDOWS_KEPT,
  ) {}

  /**
   * The bytes [offset, offset + length) of `pack`. A window that fails to read is dropped and
   * the range read on its own, so errors are those of the range (a pack gone, too short).
   */
  async read(pack: string, offset: number, length: number): Promise<Buffer> {
    if (length * 2 >= this.windowBytes) return this.load(pack, offset, length);
    const end = offset + length;
    let w = this.windows.find((x) => x.pack === pack && x.start <= offset && end <= x.end);
    if (!w) {
      let size: number | undefined;
      try {
        size = await this.packSize(pack);
      } catch {
        return this.load(pack, offset, length);
      }
      const wEnd = Math.min(offset + this.windowBytes, size);
      if (wEnd < end) return this.load(pack, offset, length);
      // Another read may have made the window while the size was asked for.
      w = this.windows.find((x) => x.pack === pack && x.start <= offset && end <= x.end);
      if (!w) {
        w = { pack, start: offset, end: wEnd, data: this.load(pack, offset, wEnd - offset) };
        w.data.catch(() => {}); // awaited below
        this.windows.push(w);
        if (this.windows.length > this.keep) this.windows.shift();
      }
    }
    const window = w;
    try {
      const data = await window.data;
      return data.subarray(offset - window.start, end - window.start);
    } catch {
      this.windows = this.windows.filter((x) => x !== window);
      return this.load(pack, offset, length);
    }
  }

  private packSize(pack: string): Promise<number> {
    let size = this.sizes.get(pack);
    if (!size) {
      if (this.sizes.size >= SIZES_KEPT) this.sizes.clear();
      size = this.size(pack);
      size.catch(() => this.sizes.delete(pack));
      this.sizes.set(pack, size);
    }
    return size;
  }

  /** Lets go of the windows (their memory). */
  clear(): void {
    this.windows = [];
    this.sizes.clear();
  }
}
