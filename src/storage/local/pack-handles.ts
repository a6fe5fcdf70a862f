/**
 * @module storage/local/pack-handles
 * Open pack files kept for ranged reads. A restore reads many small ranges of the same
 * packs; opening and closing the file around each read cost two thread-pool round trips
 * more than the read itself. Packs never change once saved (their name is their hash), so
 * a handle stays valid; the least recently used is closed past a few, and all are closed
 * when idle, on remove() of their pack and on close().
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';

/** Packs kept open at once (a restore reads a few packs at a time). */
const MAX_OPEN = 16;
/** Handles unused this long are closed, so a finished reader holds no files. */
const IDLE_MS = 1000;

interface Entry {
  handle: Promise<FileHandle>;
  /** Reads using the handle now: it is closed only once they end. */
  users: number;
  /** Dropped from the set (evicted, removed, closed): close once unused. */
  dropped: boolean;
}

export class PackHandles {
  /** In order of last use, oldest first (a Map keeps insertion order). */
  private readonly open = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * Runs `read` with an open handle of `path`. An open that fails is not kept (the next
   * read tries again), and its error is thrown as it came.
   */
  async use<T>(path: string, read: (fh: FileHandle) => Promise<T>): Promise<T> {
    let entry = this.open.get(path);
    if (entry) {
      this.open.delete(path);
    } else {
      entry = { handle: open(path, 'r'), users: 0, dropped: false };
      entry.handle.catch(() => {}); // awaited below
    }
    this.open.set(path, entry);
    entry.users++;
    this.evict();
    try {
      const fh = await entry.handle.catch((err) => {
        if (this.open.get(path) === entry) this.open.delete(path);
        throw err;
      });
      return await read(fh);
    } finally {
      entry.users--;
      if (entry.dropped) await this.closeUnused(entry);
      this.idle();
    }
  }

  /** Closes the handle of `path`, if open (its file was removed or replaced). */
  async forget(path: string): Promise<void> {
    const entry = this.open.get(path);
    if (!entry) return;
    this.open.delete(path);
    entry.dropped = true;
    await this.closeUnused(entry);
  }

  /** Closes every handle (each once its reads end). */
  async closeAll(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const entries = [...this.open.values()];
    this.open.clear();
    for (const e of entries) e.dropped = true;
    await Promise.all(entries.map((e) => this.closeUnused(e)));
  }

  private evict(): void {
    for (const [path, entry] of this.open) {
      if (this.open.size <= MAX_OPEN) break;
      this.open.delete(path);
      entry.dropped = true;
      void this.closeUnused(entry);
    }
  }

  private async closeUnused(entry: Entry): Promise<void> {
    if (entry.users > 0) return;
    entry.users = -1; // closed once only
    const fh = await entry.handle.catch(() => undefined);
    await fh?.close().catch(() => {});
  }

  private idle(): void {
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.closeAll();
    }, IDLE_MS);
    this.timer.unref();
  }
}
