/**
 * @module testing/files-fixture
 * Test support for the files source: temporary folders, a tree holding every kind of entry
 * the source handles, a recording Progress, and backup/restore through the in-memory store.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { promisify } from 'node:util';
import type { Progress } from '../progress.js';
import { createFilesSource } from '../sources/files/files-source.js';
import type { BackupResult, RestoreOptions, RestoreResult } from '../sources/source.js';
import { MemoryContentStore } from './memory-content-store.js';

const run = promisify(execFile);

export const asRoot = process.getuid?.() === 0;

/** A name that is not valid UTF-8: "f", 0xff, "o". */
export const RAW_NAME = Buffer.from([0x66, 0xff, 0x6f]);
export const SPARSE_OFFSET = 10 * 1024 * 1024;

export class RecordingProgress implements Progress {
  readonly phases: Array<{ label: string; total?: number }> = [];
  advanced = 0;
  finished = 0;
  start(label: string, totalBytes?: number): void {
    this.phases.push({ label, total: totalBytes });
  }
  advance(bytes: number): void {
    this.advanced += bytes;
  }
  done(): void {
    this.finished++;
  }
}

/** A new empty folder under the system temp folder. */
export function tempDir(prefix = 'lifeboat-files-'): Promise<string> {
  return fs.mkdtemp(nodePath.join(os.tmpdir(), prefix));
}

/** Removes a test folder, read-only subfolders included. */
export async function removeTree(dir: string): Promise<void> {
  await run('chmod', ['-R', 'u+rwx', dir]).catch(() => {});
  await fs.rm(dir, { recursive: true, force: true });
}

/** Runs `fn` with a new empty folder, removed afterwards. */
export async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await fn(dir);
  } finally {
    await removeTree(dir);
  }
}

/** `dir` joined with names given as text or raw bytes. */
export function rawPath(dir: string, ...names: Array<string | Buffer>): Buffer {
  const slash = Buffer.from('/');
  return Buffer.concat([
    Buffer.from(dir),
    ...names.flatMap((n) => [slash, Buffer.isBuffer(n) ? n : Buffer.from(n)]),
  ]);
}

/** Whether this machine lets us make device nodes (root in a container may not). */
async function tryMknod(path: string): Promise<boolean> {
  if (!asRoot) return false;
  try {
    await run('mknod', [path, 'c', '1', '3']);
    return true;
  } catch {
    return false;
  }
}

/**
 * Fills `dir` with files of several sizes and modes, empty files and folders, symlinks
 * (dangling too), hard links, names in raw bytes and in Unicode, a FIFO, a sparse file, and,
 * as root, other owners and a device node (when the machine allows one: see `device`).
 */
export async function makeRichTree(dir: string): Promise<{ device: boolean }> {
  const p = (...parts: string[]) => nodePath.join(dir, ...parts);
  await fs.writeFile(p('a.txt'), 'hello\n');
  await fs.writeFile(p('empty.txt'), '');
  const random = Buffer.alloc(300 * 1024);
  for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + (i >> 9)) & 0xff;
  await fs.writeFile(p('big.bin'), random);
  await fs.writeFile(p('setuid.sh'), '#!/bin/sh\n', { mode: 0o755 });
  await fs.chmod(p('setuid.sh'), 0o4755);
  await fs.writeFile(p('private.txt'), 'secret', { mode: 0o600 });
  await fs.mkdir(p('sub', 'nested'), { recursive: true });
  await fs.writeFile(p('sub', 'nested', 'deep.txt'), 'deep down');
  await fs.writeFile(p('hard1.txt'), 'linked content');
  await fs.link(p('hard1.txt'), p('sub', 'hard2.txt'));
  await fs.mkdir(p('emptydir'));
  await fs.mkdir(p('sticky'));
  await fs.chmod(p('sticky'), 0o1777);
  await fs.mkdir(p('readonly'));
  await fs.writeFile(p('readonly', 'ro.txt'), 'read only');
  await fs.chmod(p('readonly'), 0o555);
  await fs.symlink('a.txt', p('sym'));
  await fs.symlink('nowhere/missing', p('dangling'));
  await fs.writeFile(rawPath(dir, RAW_NAME), 'raw name');
  await fs.symlink(Buffer.from([0x74, 0xfe, 0x78]), rawPath(dir, 'raw-target'));
  await fs.writeFile(p('🎉 party.txt'), 'emoji');
  await fs.writeFile(p('e\u0301.txt'), 'decomposed');
  await fs.writeFile(p('\u00e9.txt'), 'composed');
  await run('mkfifo', [p('fifo')]);
  const sparse = await fs.open(p('sparse.bin'), 'w');
  await sparse.write('start', 0);
  await sparse.write('end', SPARSE_OFFSET);
  await sparse.close();
  if (asRoot) {
    await fs.chown(p('private.txt'), 1234, 5678);
    await fs.lchown(p('sym'), 4321, 8765);
  }
  const device = await tryMknod(p('null-device'));
  // An old, exact folder time, set last: creating entries changes a folder's mtime.
  await fs.utimes(p('sub', 'nested'), 1_000_000_000.25, 1_000_000_000.5);
  return { device };
}

export interface Harness {
  store: MemoryContentStore;
  backup(path: string, options?: { exclude?: string[]; parentRoot?: string }): Promise<BackupResult>;
  restore(backup: BackupResult, options: Partial<RestoreOptions>, path?: string): Promise<RestoreResult>;
}

/** Backups and restores of files sources sharing one in-memory store. */
export function harness(store = new MemoryContentStore()): Harness {
  return {
    store,
    backup(path, options = {}) {
      const source = createFilesSource('test', { type: 'files', path, exclude: options.exclude });
      return source.backup({ store, progress: new RecordingProgress(), parentRoot: options.parentRoot });
    },
    restore(backup, options, path = '/nonexistent/original') {
      const source = createFilesSource('test', { type: 'files', path });
      return source.restore(
        {
          store,
          progress: new RecordingProgress(),
          root: backup.root,
          stats: backup.stats,
          meta: backup.meta ?? {},
        },
        { overwrite: false, dryRun: false, ...options },
      );
    },
  };
}
