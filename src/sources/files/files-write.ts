/**
 * @module sources/files/files-write
 * Creating single entries during a restore: directories, sparse regular files, symlinks,
 * FIFOs and device nodes, atomic replacement when overwriting, and their metadata.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fsSync from 'node:fs';
import * as fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { errnoCode, LifeboatError } from '../../errors.js';
import type { TreeNode } from '../source.js';
import { encodeBytes, nsToUtimesSeconds } from './files-meta.js';
import { SparseWriter } from './files-sparse.js';

const run = promisify(execFile);

export const runningAsRoot = process.getuid?.() === 0;
const ownUid = process.getuid?.();

/** The metadata restored onto an entry. */
export type EntryMeta = Pick<TreeNode, 'type' | 'mode' | 'uid' | 'gid' | 'mtimeNs' | 'atimeNs'>;

/** Unguessable per process; a counter makes each name unique (one random draw per file cost time). */
const tempPrefix = `.lifeboat-restore-${randomBytes(6).toString('hex')}`;
let tempCount = 0;

/** A fresh name beside `path`, short and ASCII whatever the final name is. */
function siblingTemp(path: Buffer): Buffer {
  const slash = path.lastIndexOf(0x2f);
  const name = `${tempPrefix}-${(tempCount++).toString(36)}.tmp`;
  return Buffer.concat([path.subarray(0, slash + 1), Buffer.from(name)]);
}

/** Temporary files being written now, and whether new ones are refused (see abandonTemps). */
const liveTemps = new Set<string>();
let abandoned = false;

/**
 * For an interrupted restore: refuses new temporary files from now on and removes the ones
 * being written, so none is left when the process exits; returns how many there were.
 */
export async function abandonTemps(): Promise<number> {
  abandoned = true;
  const temps = [...liveTemps];
  liveTemps.clear();
  await Promise.all(temps.map((t) => fs.rm(Buffer.from(t, 'latin1'), { force: true }).catch(() => {})));
  return temps.length;
}

/**
 * Creates the entry at `path` with `create`, which may return false when it made nothing.
 * With `viaTemp` (always when overwriting), the entry is made under a temporary name in the
 * same folder and renamed into place once complete, so a reader never sees half a file and
 * a restore that fails or is killed midway leaves none under its real name; when
 * overwriting, a directory in the way is removed first (the snapshot says a non-directory
 * goes there).
 */
export async function placeEntry(
  path: Buffer,
  overwrite: boolean,
  create: (path: Buffer) => Promise<unknown>,
  viaTemp = overwrite,
): Promise<void> {
  if (!viaTemp) {
    await create(path);
    return;
  }
  if (abandoned) throw new LifeboatError('interrupted', '[restore] interrupted: no new file is written');
  const temp = siblingTemp(path);
  const key = temp.toString('latin1');
  liveTemps.add(key);
  try {
    if ((await create(temp)) === false) return;
    if (overwrite) {
      const existing = await fs.lstat(path).catch(() => undefined);
      if (existing?.isDirectory()) await fs.rm(path, { recursive: true, force: true });
    }
    // Synchronous, as the other calls on a restored file (writeContent): a thread-pool round
    // trip costs more than the call.
    fsSync.renameSync(temp, path);
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => {});
    throw err;
  } finally {
    liveTemps.delete(key);
  }
}

/** Creates a directory; when overwriting, keeps a directory already there and replaces anything else. */
export async function ensureDir(path: Buffer, overwrite: boolean): Promise<void> {
  try {
    // Private until its metadata is applied, after its contents.
    await fs.mkdir(path, { mode: 0o700 });
    return;
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST' || !overwrite) throw err;
  }
  const existing = await fs.lstat(path);
  if (existing.isDirectory()) return;
  await fs.rm(path, { force: true });
  await fs.mkdir(path, { mode: 0o700 });
}

/**
 * Writes `content` into a new file at `path`, sparse, and checks its length; with `meta`, also
 * applies the file's metadata (applyMeta) through the open file, last. Returns the size
 * written. `wx` never follows or clobbers an existing entry.
 *
 * The system calls are synchronous: on a restore of many small files, a thread-pool round
 * trip per call (open, write, chmod, utimes, close) cost more than the calls themselves.
 */
export async function writeContent(
  path: Buffer,
  content: AsyncIterable<Uint8Array>,
  expectedSize: number,
  display: string,
  onBytes: (n: number) => void,
  meta?: EntryMeta,
): Promise<number> {
  const fd = fsSync.openSync(path, 'wx', 0o600);
  try {
    /** Where the last write ended: the file's length so far (it is new). */
    let written = 0;
    const writer = new SparseWriter(async (buffer, offset, length, position) => {
      written = Math.max(written, position + length);
      let done = 0;
      while (done < length) {
        done += fsSync.writeSync(fd, buffer, offset + done, length - done, position + done);
      }
    });
    for await (const chunk of content) {
      await writer.push(chunk);
      onBytes(chunk.length);
    }
    await writer.end();
    if (writer.size !== expectedSize) {
      throw new LifeboatError(
        'integrity',
        `[restore] ${display}: snapshot content has ${writer.size} bytes, expected ${expectedSize} (run lifeboat check --read-data)`,
      );
    }
    // Zero blocks at the end were skipped (sparse): the length comes from truncate.
    if (written < expectedSize) fsSync.ftruncateSync(fd, expectedSize);
    if (meta) applyFileMeta(fd, meta);
  } finally {
    fsSync.closeSync(fd);
  }
  return expectedSize;
}

/** applyMeta through an open regular file. */
function applyFileMeta(fd: number, meta: EntryMeta): void {
  if (meta.uid !== undefined && meta.gid !== undefined && (runningAsRoot || meta.uid === ownUid)) {
    try {
      fsSync.fchownSync(fd, meta.uid, meta.gid);
    } catch (err) {
      if (!ignorable(err)) throw err;
    }
  }
  if (meta.mode !== undefined) fsSync.fchmodSync(fd, meta.mode);
  const now = Date.now() / 1000;
  fsSync.futimesSync(fd, nsToUtimesSeconds(meta.atimeNs, now), nsToUtimesSeconds(meta.mtimeNs, now));
}

function rdevParts(rdev: number): [string, string] {
  // Linux dev_t layout (glibc gnu_dev_major / gnu_dev_minor).
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [major.toString(), minor.toString()];
}

/**
 * Creates a FIFO or device node with the system tools (Node has no mkfifo/mknod). Returns why
 * it was skipped, or undefined when created.
 */
export async function makeSpecial(path: Buffer, node: TreeNode): Promise<string | undefined> {
  let args: string[];
  let tool: string;
  if (node.type === 'fifo') {
    tool = 'mkfifo';
    args = ['-m', '600'];
  } else {
    if (!runningAsRoot) return 'device node, skipped (only root can create one)';
    if (node.rdev === undefined) return 'device node without a device number, skipped';
    tool = 'mknod';
    args = ['-m', '600'];
  }
  // Command arguments are text, so a raw-byte name is made under an ASCII name and renamed.
  const direct = encodeBytes(path).raw === undefined;
  const made = direct ? path : siblingTemp(path);
  const tail =
    node.type === 'fifo' ? [] : [node.type === 'chardev' ? 'c' : 'b', ...rdevParts(node.rdev ?? 0)];
  try {
    await run(tool, [...args, made.toString('utf8'), ...tail]);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return `${node.type}, skipped (${tool} is not installed)`;
    throw err;
  }
  if (!direct) await fs.rename(made, path);
  return undefined;
}

function ignorable(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'EPERM' || code === 'EINVAL' || code === 'ENOTSUP' || code === 'EOPNOTSUPP';
}

/** Owner, mode and times, in that order: chown clears setuid bits, and chmod would not. */
export async function applyMeta(path: Buffer, meta: EntryMeta): Promise<void> {
  if (meta.uid !== undefined && meta.gid !== undefined && (runningAsRoot || meta.uid === ownUid)) {
    try {
      await fs.lchown(path, meta.uid, meta.gid);
    } catch (err) {
      if (!ignorable(err)) throw err;
    }
  }
  if (meta.type !== 'symlink' && meta.mode !== undefined) await fs.chmod(path, meta.mode);
  const now = Date.now() / 1000;
  const atime = nsToUtimesSeconds(meta.atimeNs, now);
  const mtime = nsToUtimesSeconds(meta.mtimeNs, now);
  if (meta.type === 'symlink') {
    try {
      await fs.lutimes(path, atime, mtime);
    } catch (err) {
      if (!ignorable(err)) throw err;
    }
  } else {
    await fs.utimes(path, atime, mtime);
  }
}
