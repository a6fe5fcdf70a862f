/**
 * @module scratch/scratch-folder
 * A temporary folder as a drill's scratch target, for engines that restore to a path.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScratchTarget } from '../sources/source.js';

/** A fresh folder under the temp dir; with `file`, the target is that file inside it. */
export async function scratchFolder(kind: string, file?: string): Promise<ScratchTarget> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-drill-'));
  return {
    to: file ? join(dir, file) : dir,
    kind,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
