/**
 * @module repo/blob-runs
 * Reads a stream of blobs (a file's chunks, in order) with one storage read per run of
 * blobs stored next to each other in a pack, instead of one per blob. A backup stores a
 * stream's chunks in order, so a restore finds them in long runs: remote stores answer one
 * ranged GET per run, and a local repository saves an open, a stat and a close per blob.
 */

/** Where a blob is stored. */
export interface Stored {
  pack: string;
  offset: number;
  /** Stored (sealed) length. */
  length: number;
}

/** One read covers at most this many bytes... */
export const MAX_RUN_BYTES = 8 * 1024 * 1024;
/** ...and skips at most this many bytes between two blobs of the stream (other blobs). */
export const MAX_RUN_GAP = 64 * 1024;

interface Run {
  pack: string;
  offset: number;
  length: number;
  /** Items of this run not yet started: the data is dropped when none are left. */
  left: number;
  data?: Promise<Buffer>;
}

interface Item<E extends Stored> {
  entry: E | undefined;
  run?: Run;
  /** Where the blob starts in its run's data. */
  at: number;
}

/** Groups `entries` (undefined: not in the index) into runs, in stream order. */
export function planRuns<E extends Stored>(
  entries: readonly (E | undefined)[],
): { items: Item<E>[]; runs: Run[] } {
  const items: Item<E>[] = [];
  const runs: Run[] = [];
  let run: Run | undefined;
  for (const entry of entries) {
    if (!entry) {
      items.push({ entry, at: 0 });
      continue;
    }
    const end = run ? run.offset + run.length : 0;
    if (
      run &&
      run.pack === entry.pack &&
      entry.offset >= end &&
      entry.offset - end <= MAX_RUN_GAP &&
      entry.offset + entry.length - run.offset <= MAX_RUN_BYTES
    ) {
      run.length = entry.offset + entry.length - run.offset;
    } else {
      run = { pack: entry.pack, offset: entry.offset, length: entry.length, left: 0 };
      runs.push(run);
    }
    run.left++;
    items.push({ entry, run, at: entry.offset - run.offset });
  }
  return { items, runs };
}

export interface RunReader<E extends Stored> {
  /** One ranged read of a pack. */
  load(pack: string, offset: number, length: number): Promise<Buffer>;
  /**
   * Opens one blob (the stream's `index`-th) from its stored bytes (a view into the run's
   * data), into the memory reserve() gave for it, if any.
   */
  open(entry: E, sealed: Buffer, into: Buffer | undefined, index: number): Promise<Buffer>;
  /**
   * Memory for the plaintext of `entry`, asked for as its read starts (in stream order, so
   * memory taken in order is given back in order); undefined lets open() allocate.
   */
  reserve?(entry: E): Buffer | undefined;
  /** The blob at `index` of the stream on its own (not in the index: its error). */
  single(index: number): Promise<Buffer>;
}

/**
 * The opened blobs of `entries`, in order, at most `ahead` being opened at once. Reading a
 * run also starts reading the next one, so storage latency overlaps the opening; memory
 * holds at most two or three runs and `ahead` opened blobs.
 */
export async function* readInRuns<E extends Stored>(
  entries: readonly (E | undefined)[],
  reader: RunReader<E>,
  ahead: number,
): AsyncGenerator<Buffer> {
  const { items, runs } = planRuns(entries);
  const runIndex = new Map(runs.map((r, i) => [r, i]));
  const fetch = (run: Run | undefined) => {
    if (run && run.left > 0 && !run.data) {
      run.data = reader.load(run.pack, run.offset, run.length);
      run.data.catch(() => {}); // awaited through an item; avoid an unhandled rejection
    }
  };
  const start = (i: number): Promise<Buffer> => {
    const { entry, run, at } = items[i];
    if (!entry || !run) return reader.single(i);
    fetch(run);
    fetch(runs[(runIndex.get(run) ?? 0) + 1]);
    const data = run.data as Promise<Buffer>;
    if (--run.left === 0) run.data = undefined;
    const into = reader.reserve?.(entry);
    return data.then((buf) => reader.open(entry, buf.subarray(at, at + entry.length), into, i));
  };
  const inflight: Promise<Buffer>[] = [];
  let next = 0;
  while (next < items.length || inflight.length > 0) {
    while (next < items.length && inflight.length < ahead) {
      const p = start(next++);
      p.catch(() => {}); // awaited below, in order
      inflight.push(p);
    }
    yield await (inflight.shift() as Promise<Buffer>);
  }
}
