/**
 * @module sources/folder-target
 * What a folder a restore writes into holds now (a files target, a data directory): its files, folders and bytes, for a restore plan.
 * Read only; unreadable folders are counted as such rather than failing the plan.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TargetContents } from './source.js';

export async function inspectFolderTarget(target: string): Promise<TargetContents> {
  const top = await lstat(target).catch(() => undefined);
  if (!top) return { target, exists: false, summary: 'does not exist (will be created)' };
  if (!top.isDirectory()) return { target, exists: true, summary: `a file of ${top.size} bytes` };
  let files = 0;
  let dirs = 0;
  let bytes = 0;
  let unreadable = 0;
  const pending = [target];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
    if (!entries) {
      unreadable++;
      continue;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        dirs++;
        pending.push(path);
      } else {
        files++;
        bytes += (await lstat(path).catch(() => undefined))?.size ?? 0;
      }
    }
  }
  const parts = [`${files} files`, `${dirs} dirs`, `${bytes} bytes`];
  if (unreadable > 0) parts.push(`${unreadable} unreadable folders`);
  return { target, exists: true, summary: files + dirs === 0 ? 'empty' : parts.join(', ') };
}
