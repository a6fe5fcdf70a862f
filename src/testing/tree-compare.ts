/**
 * @module testing/tree-compare
 * Compares two file trees entry by entry (type, bytes, mode, mtime, owner, link targets,
 * device numbers, hard-link groups) for round-trip tests; returns the differences found.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { nodeType } from '../sources/files/files-meta.js';

export interface CompareOptions {
  /**
   * Times are equal when equal at this resolution. Default 1000 (1 µs): Node sets file times
   * through libuv, which keeps whole microseconds.
   */
  mtimeResolutionNs?: number;
  /** Compare uid/gid (default true). */
  owners?: boolean;
  /** Also compare the two top folders' own mode, owner and mtime (default false). */
  root?: boolean;
  /** Entries to leave out, by path relative to the top ('/'-separated, lossy UTF-8). */
  skip?: (relPath: string) => boolean;
}

interface Side {
  top: Buffer;
  /** Hard-link groups: inode -> paths (latin1 keys, exact bytes) of files with nlink > 1. */
  groups: Map<string, string[]>;
  inodeOf: Map<string, string>;
}

const SLASH = Buffer.from('/');

function kind(st: BigIntStats): string {
  return nodeType(st) ?? 'unknown';
}

async function fileHash(path: Buffer): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function show(rel: Buffer): string {
  return rel.length === 0 ? '/' : rel.toString('utf8');
}

class TreeComparer {
  readonly diffs: string[] = [];
  private readonly resolution: bigint;

  constructor(
    private readonly a: Side,
    private readonly b: Side,
    private readonly options: CompareOptions,
  ) {
    this.resolution = BigInt(options.mtimeResolutionNs ?? 1000);
  }

  private abs(side: Side, rel: Buffer): Buffer {
    return rel.length === 0 ? side.top : Buffer.concat([side.top, SLASH, rel]);
  }

  async dir(rel: Buffer): Promise<void> {
    const [namesA, namesB] = await Promise.all([
      fs.readdir(this.abs(this.a, rel), { encoding: 'buffer' }),
      fs.readdir(this.abs(this.b, rel), { encoding: 'buffer' }),
    ]);
    const inB = new Set(namesB.map((n) => n.toString('latin1')));
    const inA = new Set(namesA.map((n) => n.toString('latin1')));
    for (const name of [...namesA, ...namesB.filter((n) => !inA.has(n.toString('latin1')))].sort(
      Buffer.compare,
    )) {
      const child = rel.length === 0 ? name : Buffer.concat([rel, SLASH, name]);
      if (this.options.skip?.(child.toString('utf8'))) continue;
      const key = name.toString('latin1');
      if (!inB.has(key)) this.diffs.push(`${show(child)}: only in first tree`);
      else if (!inA.has(key)) this.diffs.push(`${show(child)}: only in second tree`);
      else await this.entry(child);
    }
  }

  private async entry(rel: Buffer): Promise<void> {
    const pathA = this.abs(this.a, rel);
    const pathB = this.abs(this.b, rel);
    const [stA, stB] = await Promise.all([
      fs.lstat(pathA, { bigint: true }),
      fs.lstat(pathB, { bigint: true }),
    ]);
    const type = kind(stA);
    if (type !== kind(stB)) {
      this.diffs.push(`${show(rel)}: type ${type} != ${kind(stB)}`);
      return;
    }
    this.meta(rel, stA, stB, type);
    if (type === 'file') {
      if (stA.size !== stB.size) this.diffs.push(`${show(rel)}: size ${stA.size} != ${stB.size}`);
      else if ((await fileHash(pathA)) !== (await fileHash(pathB)))
        this.diffs.push(`${show(rel)}: content differs`);
      this.group(this.a, rel, stA);
      this.group(this.b, rel, stB);
    } else if (type === 'symlink') {
      const [ta, tb] = await Promise.all([
        fs.readlink(pathA, { encoding: 'buffer' }),
        fs.readlink(pathB, { encoding: 'buffer' }),
      ]);
      if (!ta.equals(tb)) this.diffs.push(`${show(rel)}: link target ${show(ta)} != ${show(tb)}`);
    } else if (type === 'chardev' || type === 'blockdev') {
      if (stA.rdev !== stB.rdev) this.diffs.push(`${show(rel)}: device ${stA.rdev} != ${stB.rdev}`);
    } else if (type === 'dir') {
      await this.dir(rel);
    }
  }

  meta(rel: Buffer, stA: BigIntStats, stB: BigIntStats, type: string): void {
    const where = show(rel);
    // Linux has no symlink modes to keep.
    if (type !== 'symlink' && (stA.mode & 0o7777n) !== (stB.mode & 0o7777n)) {
      this.diffs.push(
        `${where}: mode ${(stA.mode & 0o7777n).toString(8)} != ${(stB.mode & 0o7777n).toString(8)}`,
      );
    }
    if (this.options.owners !== false && (stA.uid !== stB.uid || stA.gid !== stB.gid)) {
      this.diffs.push(`${where}: owner ${stA.uid}:${stA.gid} != ${stB.uid}:${stB.gid}`);
    }
    if (stA.mtimeNs / this.resolution !== stB.mtimeNs / this.resolution) {
      this.diffs.push(`${where}: mtime ${stA.mtimeNs} != ${stB.mtimeNs}`);
    }
  }

  private group(side: Side, rel: Buffer, st: BigIntStats): void {
    if (st.nlink < 2n) return;
    const inode = `${st.dev}:${st.ino}`;
    const key = rel.toString('latin1');
    side.inodeOf.set(key, inode);
    const paths = side.groups.get(inode) ?? [];
    paths.push(key);
    side.groups.set(inode, paths);
  }

  /** Every set of paths sharing an inode on one side shares one on the other, and no more. */
  linkGroups(): void {
    const check = (from: Side, to: Side, label: string) => {
      for (const paths of from.groups.values()) {
        if (paths.length < 2) continue;
        const inodes = new Set(paths.map((p) => to.inodeOf.get(p)));
        const other = [...inodes][0];
        const same =
          inodes.size === 1 && other !== undefined && (to.groups.get(other)?.length ?? 0) === paths.length;
        if (!same) {
          const names = paths.map((p) => show(Buffer.from(p, 'latin1'))).join(', ');
          this.diffs.push(`hard links ${names}: linked in the ${label} tree only, or linked differently`);
        }
      }
    };
    check(this.a, this.b, 'first');
    check(this.b, this.a, 'second');
  }
}

/** Differences between the trees under folders `a` and `b`, one line each; empty when equal. */
export async function compareTrees(a: string, b: string, options: CompareOptions = {}): Promise<string[]> {
  const side = (top: string): Side => ({ top: Buffer.from(top), groups: new Map(), inodeOf: new Map() });
  const comparer = new TreeComparer(side(a), side(b), options);
  if (options.root) {
    const [stA, stB] = await Promise.all([fs.stat(a, { bigint: true }), fs.stat(b, { bigint: true })]);
    comparer.meta(Buffer.alloc(0), stA, stB, 'dir');
  }
  await comparer.dir(Buffer.alloc(0));
  comparer.linkGroups();
  return comparer.diffs;
}
