/**
 * @module cli/interrupt-note
 * What an interrupted command says it did. By default a backup's words: nothing was committed
 * (the snapshot is the commit). A command whose writes stay (a restore) registers a note that
 * says what it wrote and what it left, read when SIGINT or SIGTERM arrives.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '../byte-size.js';
import type { ProgressTally } from '../progress.js';
import type { Snapshot } from '../repo/snapshot.js';
import { abandonTemps } from '../sources/files/files-write.js';

type Note = () => Promise<string>;

let current: Note | undefined;

export function setInterruptNote(note: Note | undefined): void {
  current = note;
}

/** The line printed on an interruption, after `lifeboat: interrupted by SIGNAL`. */
export async function interruptNote(): Promise<string> {
  if (!current) return 'nothing was committed';
  try {
    return await current();
  } catch {
    return 'what was written before it stopped stays';
  }
}

/** The temporary names a files restore writes under before a file is complete (files-write). */
const TEMP = /^\.lifeboat-restore-[0-9a-f]{12}\.tmp$/;

/** Removes the temporary files a stopped files restore left under `dir`; how many there were. */
async function removeTemps(dir: string): Promise<number> {
  let removed = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) removed += await removeTemps(path);
    else if (TEMP.test(e.name)) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}

/**
 * The note of a restore to `target`: how much it wrote of how much, that what it wrote stays,
 * and for files, the half-written temporary files it removed and the folders left private.
 */
export function restoreNote(
  tally: ProgressTally,
  found: () => { id: string; snapshot: Snapshot; target?: string } | undefined,
): Note {
  return async () => {
    const s = found();
    if (!s) return 'nothing was written';
    const of = tally.totalBytes ? ` of ${formatBytes(tally.totalBytes)}` : '';
    const target = s.target ?? 'the target';
    const head = `the restore of snapshot ${s.id.slice(0, 8)} (${s.snapshot.source}) to ${target} stopped after writing ${formatBytes(tally.bytesDone)}${of}`;
    if (s.snapshot.kind !== 'files') {
      return `${head}; what the engine had written is left as it was (${target} may hold part of the snapshot: restore again with --overwrite before using it)`;
    }
    // New temporary files are refused first, so none appears behind the sweep.
    const temps = (await abandonTemps()) + (s.target ? await removeTemps(s.target) : 0);
    const removed =
      temps > 0
        ? `; ${temps} half-written file${temps === 1 ? ' was' : 's were'} removed (.lifeboat-restore-*.tmp)`
        : '';
    return `${head}: the files it wrote are complete and stay, the rest are missing${removed}; folders it had not finished are still private (mode 0700). Restore again with --overwrite to complete ${target}`;
  };
}
