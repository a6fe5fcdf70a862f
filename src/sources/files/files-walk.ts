/**
 * @module sources/files/files-walk
 * Backup of a file tree: a depth-first walk that stores each directory's entries as a tree
 * blob (children first, so a parent can name its subtrees) and each regular file's content.
 * Files unchanged since the parent snapshot reuse its content without being opened. An entry
 * that cannot be read (permission denied, vanished, I/O error) is left out and listed as
 * skipped, and the rest is saved; only an unreadable root fails the backup.
 */
import type { BigIntStats } from 'node:fs';
import { closeSync, constants, lstatSync, openSync, read as readFd } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { describe, errnoCode, isLifeboatError, LifeboatError } from '../../errors.js';
import type { BackupContext, BackupResult, NodeType, SkippedPath, Tree, TreeNode } from '../source.js';
import { createExcludeMatcher, type ExcludeMatcher } from './files-exclude.js';
import { encodeBytes, hardlinkSegment, joinPath, nodeNameBytes, nodeType, nsString } from './files-meta.js';
import { scanTree } from './files-scan.js';

/** Bytes read at once: the store's pieces (content-store.ts), so large files move without copies of parts. */
const READ_BUFFER = 1 << 20;
/** Files read at once. */
const PARALLEL_READS = 4;

/**
 * lstat of a directory's entries. Synchronous: on a walk of many files a thread-pool round
 * trip per entry cost several times the call itself (the stat is of an inode the readdir
 * just brought in). A failure is given back as a rejected promise, for the caller to judge.
 */
class StatAhead {
  constructor(
    private readonly dir: Buffer,
    private readonly names: Buffer[],
  ) {}

  get(i: number): Promise<BigIntStats> {
    try {
      return Promise.resolve(lstatSync(joinPath(this.dir, this.names[i]), { bigint: true }));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
const MAX_NOTES = 100;
/** Skipped paths listed at most (all are counted), so an unreadable tree cannot bloat the snapshot. */
const MAX_SKIPPED = 100;
// O_NONBLOCK: should the file be swapped for a FIFO after lstat, open must not hang.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
// O_NOATIME: a backup's own read leaves the access time alone (as `tar --atime-preserve=system`
// and restic do), else the next backup would find every file read changed and store every
// folder listing again. Linux allows it to the file's owner and to root; 0 where there is none.
const NOATIME = constants.O_NOATIME ?? 0;
const EUID = process.geteuid?.() ?? -1;

/** Opens a file to read, without touching its access time where this process may. */
function openToRead(path: Buffer, uid: number | undefined): number {
  if (NOATIME !== 0 && (EUID === 0 || uid === EUID)) {
    try {
      return openSync(path, OPEN_FLAGS | NOATIME);
    } catch (err) {
      // EPERM: not allowed here after all (e.g. root without CAP_FOWNER in a user namespace).
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    }
  }
  return openSync(path, OPEN_FLAGS);
}

export interface WalkConfig {
  path: string;
  exclude?: string[];
}

/** Where an entry sits: its display path (for messages, excludes) and its hard-link path. */
interface Place {
  display: string;
  link: string;
}

/**
 * Maps a failed fs call on `displayPath` to the error that fails the backup (the root, or an
 * error that is not the entry's); undefined when it vanished, which the caller reports.
 */
export function walkError(err: unknown, displayPath: string): LifeboatError | undefined {
  if (isLifeboatError(err)) return err;
  const code = errnoCode(err);
  if (code === 'ENOENT') return undefined;
  if (code === 'EACCES' || code === 'EPERM') {
    return new LifeboatError(
      'source_unreadable',
      `[source:files] cannot read ${displayPath}: permission denied (grant read access to the backup user, or exclude it)`,
      { cause: err },
    );
  }
  return new LifeboatError('source_failed', `[source:files] cannot read ${displayPath}: ${describe(err)}`, {
    cause: err,
  });
}

/**
 * Why an entry could not be read, for the snapshot's list of skipped paths; undefined when the
 * error is not the entry's (the store's, an interruption, a bug), which fails the backup.
 */
export function skipReason(err: unknown): string | undefined {
  if (isLifeboatError(err)) return undefined;
  const code = errnoCode(err);
  if (code === undefined) return undefined;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOENT') return 'vanished during the backup';
  // "EIO: i/o error, read '/srv/x'": the path is named beside it already.
  return describe(err).replace(/ '.*'$/, '');
}

/** The metadata every node carries, in a fixed key order so equal trees serialize equally. */
function baseNode(nameBytes: Buffer, type: NodeType, st: BigIntStats): TreeNode {
  const { text, raw } = encodeBytes(nameBytes);
  return {
    name: text,
    ...(raw !== undefined ? { nameRaw: raw } : {}),
    type,
    mode: Number(st.mode) & 0o7777,
    mtimeNs: nsString(st.mtimeNs),
    atimeNs: nsString(st.atimeNs),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

class TreeWalker {
  private readonly hardlinks = new Map<string, string>();
  /** Read buffers, one per file read in flight (see readContent). */
  private readonly buffers: Buffer[] = [];
  private active = 0;
  private waiting: (() => void)[] = [];
  private readonly exclude: ExcludeMatcher;
  readonly stats = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  readonly skipped: string[] = [];
  skippedCount = 0;
  /** Entries that could not be read, left out (the first MAX_SKIPPED; all counted). */
  readonly unreadable: SkippedPath[] = [];
  unreadableCount = 0;

  /** `singleFile`: the root is one file, so failing to read it fails the backup. */
  constructor(
    private readonly ctx: BackupContext,
    private readonly rootDisplay: string,
    exclude: string[] | undefined,
    private readonly singleFile = false,
  ) {
    this.exclude = createExcludeMatcher(exclude);
  }

  private displayOf(place: Place): string {
    return place.display === '' ? this.rootDisplay : nodePath.posix.join(this.rootDisplay, place.display);
  }

  /**
   * A failed fs call on an entry: the entry is left out and listed as skipped. The root is
   * different: without it nothing can be saved, so that fails (a vanished root is reported
   * by the caller).
   */
  private skip(err: unknown, place: Place): undefined {
    const reason = skipReason(err);
    if (reason === undefined || place.display === '' || this.singleFile) {
      const mapped = walkError(err, this.displayOf(place));
      if (mapped) throw mapped;
      return undefined;
    }
    // An excluded entry is not missed, even one that could not be stat'ed (its type unknown).
    if (this.exclude(place.display, false) || this.exclude(place.display, true)) return undefined;
    this.unreadableCount++;
    if (this.unreadable.length < MAX_SKIPPED)
      this.unreadable.push({ path: this.displayOf(place), error: reason });
    return undefined;
  }

  private note(place: Place, why: string): void {
    this.skippedCount++;
    if (this.skipped.length < MAX_NOTES) this.skipped.push(`${place.display}: ${why}`);
  }

  private checkAborted(): void {
    if (this.ctx.signal?.aborted) {
      throw new LifeboatError('interrupted', `[source:files] backup of ${this.rootDisplay} interrupted`);
    }
  }

  /** Stores the entries of `dir`; undefined when the directory vanished. */
  async walkDir(dir: Buffer, place: Place, parentTreeId?: string): Promise<string | undefined> {
    let names: Buffer[];
    try {
      names = await fs.readdir(dir, { encoding: 'buffer' });
    } catch (err) {
      return this.skip(err, place);
    }
    names.sort(Buffer.compare);
    const previous = parentTreeId ? await this.loadParent(parentTreeId) : undefined;
    // Entries are looked at in name order (hard links: the first one carries the content),
    // but files are read several at a time: one at a time, a walk of small files spends most
    // of its time waiting on the disk. Their nodes keep their places in the list.
    const stats = new StatAhead(dir, names);
    const nodes: (TreeNode | undefined)[] = new Array(names.length);
    const reads: Promise<void>[] = [];
    for (const [i, name] of names.entries()) {
      this.checkAborted();
      const text = encodeBytes(name).text;
      const child: Place = {
        display: place.display === '' ? text : `${place.display}/${text}`,
        link: place.link === '' ? hardlinkSegment(name) : `${place.link}/${hardlinkSegment(name)}`,
      };
      const st = await stats.get(i).catch((err) => this.skip(err, child));
      if (st === undefined) continue;
      const prev = previous?.get(name.toString('latin1'));
      if (st.isFile() && st.nlink === 1n && !this.excluded(child, 'file')) {
        await this.slot();
        const read = this.entry(joinPath(dir, name), name, child, prev, true, st)
          .then((node) => {
            nodes[i] = node;
          })
          .finally(() => this.release());
        read.catch(() => {}); // settled below
        reads.push(read);
      } else {
        nodes[i] = await this.entry(joinPath(dir, name), name, child, prev, true, st);
      }
    }
    const failed = (await Promise.allSettled(reads)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return this.ctx.store.saveTree({ nodes: nodes.filter((n): n is TreeNode => n !== undefined) });
  }

  private excluded(place: Place, type: NodeType | undefined): boolean {
    return this.exclude(place.display, type === 'dir');
  }

  private async slot(): Promise<void> {
    while (this.active >= PARALLEL_READS) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  private async loadParent(id: string): Promise<Map<string, TreeNode>> {
    const tree: Tree = await this.ctx.store.loadTree(id);
    return new Map(tree.nodes.map((n) => [nodeNameBytes(n).toString('latin1'), n]));
  }

  /** One directory entry as a node; undefined when it is excluded, skipped or vanished. */
  async entry(
    path: Buffer,
    name: Buffer,
    place: Place,
    previous: TreeNode | undefined,
    excludable = true,
    prefetched?: BigIntStats,
  ): Promise<TreeNode | undefined> {
    let st: BigIntStats;
    try {
      st = prefetched ?? (await fs.lstat(path, { bigint: true }));
    } catch (err) {
      return this.skip(err, place);
    }
    const type = nodeType(st);
    if (excludable && this.exclude(place.display, type === 'dir')) return undefined;
    if (type === undefined || type === 'socket') {
      // A socket is recreated by the program that listens on it; restoring one is meaningless.
      this.note(place, type === 'socket' ? 'socket, skipped' : 'unknown file type, skipped');
      return undefined;
    }
    const node = baseNode(name, type, st);
    switch (type) {
      case 'dir': {
        const subtree = await this.walkDir(
          path,
          place,
          previous?.type === 'dir' ? previous.subtree : undefined,
        );
        if (subtree === undefined) return undefined;
        node.inode = Number(st.ino);
        node.dev = Number(st.dev);
        node.subtree = subtree;
        this.stats.dirs++;
        return node;
      }
      case 'file':
        return this.file(path, node, st, place, previous);
      case 'symlink': {
        let target: Buffer;
        try {
          target = await fs.readlink(path, { encoding: 'buffer' });
        } catch (err) {
          return this.skip(err, place);
        }
        const encoded = encodeBytes(target);
        node.target = encoded.text;
        if (encoded.raw !== undefined) node.targetRaw = encoded.raw;
        this.stats.symlinks++;
        return node;
      }
      default:
        node.inode = Number(st.ino);
        node.dev = Number(st.dev);
        if (type === 'chardev' || type === 'blockdev') node.rdev = Number(st.rdev);
        return node;
    }
  }

  private async file(
    path: Buffer,
    node: TreeNode,
    st: BigIntStats,
    place: Place,
    previous?: TreeNode,
  ): Promise<TreeNode | undefined> {
    node.size = Number(st.size);
    node.inode = Number(st.ino);
    node.dev = Number(st.dev);
    node.nlink = Number(st.nlink);
    const linkKey = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
    const first = linkKey ? this.hardlinks.get(linkKey) : undefined;
    if (first !== undefined) {
      node.hardlinkTo = first;
      this.stats.files++;
      return node;
    }
    // Reused only when every blob is still stored: after a repair dropped some, or cut the
    // file (`damaged`), it is read again and what was lost is stored anew.
    const unchanged =
      previous?.type === 'file' &&
      previous.content !== undefined &&
      previous.damaged === undefined &&
      previous.size === node.size &&
      previous.mtimeNs === node.mtimeNs &&
      previous.inode === node.inode &&
      this.ctx.store.hasContent(previous.content);
    if (unchanged && previous?.content) {
      node.content = previous.content;
      this.ctx.progress.advance(node.size, { files: 1, reused: true });
    } else {
      const content = await this.readContent(path, place, node.size, node.uid);
      if (content === undefined) return undefined;
      node.content = content.chunks;
      // The size actually read, so a restore can verify it even if the file grew meanwhile.
      node.size = content.size;
      this.ctx.progress.advance(0, { files: 1 });
    }
    if (linkKey) this.hardlinks.set(linkKey, place.link);
    this.stats.files++;
    this.stats.bytes += node.size;
    return node;
  }

  /** `size`: the file's size by lstat, so the read that would find its end can be left out; `uid` its owner. */
  private async readContent(
    path: Buffer,
    place: Place,
    size: number,
    uid: number | undefined,
  ): Promise<{ chunks: string[]; size: number } | undefined> {
    // open and close are synchronous, as lstat: the inode is in memory already, and a
    // thread-pool round trip cost several times the call. Reads stay asynchronous (the data
    // may have to come from the disk).
    let fd: number;
    try {
      fd = openToRead(path, uid);
    } catch (err) {
      return this.skip(err, place);
    }
    const { progress } = this.ctx;
    const checkAborted = () => this.checkAborted();
    // A read error skips the file (what was stored of it is left for prune); errors from the
    // store itself, or an interruption, fail the backup.
    let readError: unknown;
    let total = 0;
    let ended = false;
    const read = async (into: Buffer): Promise<number> => {
      if (ended) return 0;
      let bytesRead: number;
      try {
        bytesRead = await readAsync(fd, into);
      } catch (err) {
        readError = err;
        throw err;
      }
      if (bytesRead === 0) return 0;
      checkAborted();
      progress.advance(bytesRead);
      total += bytesRead;
      // A short read that reaches the size lstat gave is the end: one thread-pool round trip
      // less per file. (A file that grew goes on being read; one whose size says nothing, as
      // in /proc, reads until a read returns 0.)
      if (bytesRead < into.length && total === size && size > 0) ended = true;
      return bytesRead;
    };
    const { store } = this.ctx;
    // Read buffers are reused: a fresh 1 MiB buffer per read (what a read stream does) turned
    // into most of a backup's time as garbage collection on trees of small files. A store
    // with saveRead lends its own memory instead (the seal workers cut from it).
    let buffer: Buffer | undefined;
    try {
      if (store.saveRead) return await store.saveRead(read);
      const reused = this.buffers.pop() ?? Buffer.allocUnsafe(READ_BUFFER);
      buffer = reused;
      // saveContent consumes each piece before pulling the next (ContentStore contract).
      const pieces = async function* (): AsyncIterable<Uint8Array> {
        for (let n = await read(reused); n > 0; n = await read(reused)) yield reused.subarray(0, n);
      };
      const ref = await store.saveContent(pieces());
      return { chunks: ref.chunks, size: ref.size };
    } catch (err) {
      if (readError === undefined) throw err;
      return this.skip(readError, place);
    } finally {
      if (buffer) this.buffers.push(buffer);
      closeSync(fd);
    }
  }
}

/** One read from the file's current position into `into`, through the thread pool. */
function readAsync(fd: number, into: Buffer): Promise<number> {
  return new Promise((resolve, reject) =>
    readFd(fd, into, 0, into.length, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

function rootError(err: unknown, path: string): LifeboatError {
  if (errnoCode(err) === 'ENOENT') {
    return new LifeboatError(
      'source_failed',
      `[source:files] path ${path} does not exist (check "path" in the source config)`,
      { cause: err },
    );
  }
  return walkError(err, path) as LifeboatError;
}

/** Backs up `config.path` (a directory, or a single file) into `ctx.store`. */
export async function backupFiles(config: WalkConfig, ctx: BackupContext): Promise<BackupResult> {
  const root = config.path;
  let st: BigIntStats;
  try {
    // stat, not lstat: a configured path that is a symlink means what it points to.
    st = await fs.stat(root, { bigint: true });
  } catch (err) {
    throw rootError(err, root);
  }
  const meta: Record<string, unknown> = { path: root };
  // Totals for the progress display, counted beside the walk, only for a renderer that shows them.
  let walked = false;
  const { progress } = ctx;
  if (progress.total) {
    const total = progress.total.bind(progress);
    void scanTree(
      root,
      config.exclude,
      (t) => walked || total(t),
      () => walked,
    ).catch(() => {});
  }
  try {
    return await walkRoot(config, ctx, st, meta);
  } finally {
    walked = true;
  }
}

async function walkRoot(
  config: WalkConfig,
  ctx: BackupContext,
  st: BigIntStats,
  meta: Record<string, unknown>,
): Promise<BackupResult> {
  const root = config.path;
  // Change detection needs the previous snapshot's tree: the walk waits for the repository.
  const parentRoot = await ctx.parentRoot;
  // Messages name entries under the folder that holds them: the root itself, or a file's folder.
  const walker = new TreeWalker(
    ctx,
    st.isDirectory() ? root : nodePath.dirname(root),
    config.exclude,
    !st.isDirectory(),
  );
  let rootId: string | undefined;
  if (st.isDirectory()) {
    meta.pathType = 'dir';
    // The root is no node of its own; keep its metadata so a restore into a new folder has it.
    meta.rootDir = {
      mode: Number(st.mode) & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeNs: nsString(st.mtimeNs),
      atimeNs: nsString(st.atimeNs),
    };
    rootId = await walker.walkDir(Buffer.from(root), { display: '', link: '' }, parentRoot);
  } else if (st.isFile()) {
    meta.pathType = 'file';
    const name = Buffer.from(nodePath.basename(root));
    let previous: TreeNode | undefined;
    if (parentRoot !== undefined) {
      const tree = await ctx.store.loadTree(parentRoot);
      previous = tree.nodes.find((n) => nodeNameBytes(n).equals(name));
    }
    const place = { display: name.toString('utf8'), link: hardlinkSegment(name) };
    // The real path, so a configured symlink to a file backs up the file.
    const real = await fs.realpath(root).catch((err) => Promise.reject(rootError(err, root)));
    const node = await walker.entry(Buffer.from(real), name, place, previous, false);
    if (node !== undefined) rootId = await ctx.store.saveTree({ nodes: [node] });
  } else {
    throw new LifeboatError(
      'source_failed',
      `[source:files] path ${root} is neither a directory nor a regular file (point "path" at a folder or a file)`,
    );
  }
  if (rootId === undefined) throw rootError(Object.assign(new Error('vanished'), { code: 'ENOENT' }), root);
  if (walker.skippedCount > 0) {
    meta.skipped = walker.skipped;
    meta.skippedCount = walker.skippedCount;
  }
  const result: BackupResult = { root: rootId, stats: { ...walker.stats }, meta };
  if (walker.unreadableCount > 0) {
    result.skipped = walker.unreadable;
    result.skippedCount = walker.unreadableCount;
  }
  return result;
}
