/**
 * @module make-dir
 * `mkdir -p` for paths users give (restore targets, repository folders). Node's
 * `mkdir(path, { recursive: true })` never returns when the kernel answers ENOENT for a child
 * of a directory that exists (/proc, /sys, a dangling symlink): it creates the parent
 * (EEXIST), retries the child (ENOENT), and so on. Here each missing level is created once,
 * top down, and an ENOENT below an existing parent is the error it is.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { errnoCode } from './errors.js';

export async function makeDir(path: string, mode?: number): Promise<void> {
  const missing: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      await mkdir(dir, { mode });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' && dirname(dir) !== dir) {
        missing.push(dir);
        continue;
      }
      // An existing ancestor that is not a directory fails at its child (ENOTDIR).
      if (code !== 'EEXIST' || (missing.length === 0 && !(await stat(dir)).isDirectory())) throw err;
    }
    break;
  }
  for (const dir of missing.reverse()) {
    await mkdir(dir, { mode }).catch((err) => {
      if (errnoCode(err) !== 'EEXIST') throw err; // created meanwhile by someone else: fine
    });
  }
}
