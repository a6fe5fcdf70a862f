/**
 * @module sources/files/files-scan
 * A quick count of what a files backup covers (regular files and their bytes, by lstat only,
 * with the same excludes; a hard-linked file once), run beside the backup's walk so progress
 * can show a total, a percentage and an ETA. It never fails the backup: an entry it cannot
 * read is left out of the count.
 */
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createExcludeMatcher } from './files-exclude.js';
import { encodeBytes, joinPath } from './files-meta.js';

/** Totals are reported after this many files, and once at the end. */
const REPORT_EVERY = 500;
/** lstat calls in flight at once. */
const STAT_WINDOW = 32;

export interface ScanTotals {
  bytes: number;
  files: number;
  final: boolean;
}

/**
 * Counts the tree at `root` (a folder or one file), calling `report` as the count grows and
 * once with `final: true`; stops early, without a final report, when `stopped()` says so.
 */
export async function scanTree(
  root: string,
  exclude: string[] | undefined,
  report: (totals: ScanTotals) => void,
  stopped: () => boolean,
): Promise<void> {
  const excluded = createExcludeMatcher(exclude);
  const seen = new Set<string>();
  const totals = { bytes: 0, files: 0, final: false };
  const count = (st: BigIntStats) => {
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    totals.files++;
    totals.bytes += Number(st.size);
    if (totals.files % REPORT_EVERY === 0) report({ ...totals });
  };
  const rootStat = await fs.stat(root, { bigint: true }).catch(() => undefined);
  if (!rootStat) return;
  if (rootStat.isFile()) count(rootStat);
  else if (rootStat.isDirectory()) {
    const dirs: { path: Buffer; display: string }[] = [{ path: Buffer.from(root), display: '' }];
    while (dirs.length > 0) {
      if (stopped()) return;
      const dir = dirs.pop() as { path: Buffer; display: string };
      const entries = await fs.readdir(dir.path, { encoding: 'buffer', withFileTypes: true }).catch(() => []);
      const files: Buffer[] = [];
      for (const entry of entries) {
        const text = encodeBytes(entry.name).text;
        const display = dir.display === '' ? text : `${dir.display}/${text}`;
        const path = joinPath(dir.path, entry.name);
        if (entry.isDirectory()) {
          if (!excluded(display, true)) dirs.push({ path, display });
        } else if (entry.isFile() && !excluded(display, false)) files.push(path);
      }
      // Sizes a window at a time: one lstat after another would make the scan the slow part.
      for (let i = 0; i < files.length; i += STAT_WINDOW) {
        const stats = await Promise.all(
          files.slice(i, i + STAT_WINDOW).map((f) => fs.lstat(f, { bigint: true }).catch(() => undefined)),
        );
        for (const st of stats) if (st?.isFile()) count(st);
      }
    }
  }
  if (!stopped()) report({ ...totals, final: true });
}
