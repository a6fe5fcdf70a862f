/**
 * @module sources/postgres/tar-extract
 * Extracts a tar stream (pg_basebackup's base.tar) into a directory, in process. tar-stream
 * parses the archive; file data goes to the file system without waiting on each write
 * (libuv's thread pool runs them): one write at a time per file, as the kernel serializes
 * writes to one file anyway, and several files at once. Reading pauses while more than
 * `maxQueuedBytes` are waiting to be written. Piping into `tar -x` instead copied every byte
 * through a pipe and wrote one file after another from one process.
 *
 * What GNU tar does is kept where PostgreSQL or a comparison with tar can see it: modes (exact
 * as root, through the umask otherwise), mtimes, a directory's mtime set once the archive has
 * moved past it (so pg_wal, which gets the WAL appended at the end, shows the time of the
 * extraction, as with tar), and as root the archive's owners: by name when the name exists
 * here (pg_basebackup writes "postgres"), else by number.
 *
 * Refused as damage ('repo_corrupt', naming the entry): absolute names, names holding "..",
 * names (and hard link targets) that lead through a symlink made earlier in the same
 * extraction, and device or FIFO entries. The directory must be empty: then the only symlinks
 * in it are those the archive made, and refusing to go through them keeps every write inside.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { type Header, extract as tarExtract } from 'tar-stream';
import { errnoCode, isLifeboatError, LifeboatError, writeFailed } from '../../errors.js';

const run = promisify(execFile);

const runningAsRoot = process.getuid?.() === 0;

/** New files only, never through a symlink (O_EXCL already refuses one at the last step). */
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** One writev at most this many bytes, this many buffers. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_BATCH_BUFFERS = 256;

export interface TarExtractOptions {
  /** The archive's name in messages, e.g. "base.tar". */
  archive: string;
  /**
   * Bytes read from the archive and not yet written; reading pauses above this. Default 4 MiB
   * (a few chunks): restoring 1.6 GB on a 2-core VM, 0.5-4 MiB did equally well, while 16 MiB
   * cost about 1 s more kernel time and 64 MiB 1-2 s more, spent (by perf) copying the data
   * into the page cache, most likely because it had left the CPU caches by then. 4 MiB still
   * lets hundreds of small files be written at once.
   */
  maxQueuedBytes?: number;
  /** Files open for writing at once. Default 64. */
  maxOpenFiles?: number;
  /** Give entries the archive's owners and exact modes, as GNU tar does as root. Default: when root. */
  owners?: boolean;
  /**
   * Called with each chunk of `source` once nothing refers to its memory any more (the parser
   * has moved past it and its file data is written), so a lender can reuse it
   * (ContentStore.lendContent); every chunk is given back by the time extractTar settles.
   */
  release?: (chunk: Uint8Array) => void;
}

export interface TarExtractStats {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  /** Bytes of file data written. */
  bytes: number;
}

/** A chunk of the archive whose memory goes back to its lender (TarExtractOptions.release). */
interface Lent {
  chunk: Uint8Array;
  /** Where it ends in the archive. */
  end: number;
  /** Its parts queued for writing and not yet written. */
  writes: number;
  /** The parser has moved past its end. */
  passed: boolean;
}

interface DelayedDir {
  name: string;
  path: string;
  mode: number;
  mtime: Date;
}

/**
 * Extracts the tar read from `source` into the empty directory `dir`. On failure, throws a
 * LifeboatError naming the entry: 'repo_corrupt' for a damaged or refused archive,
 * 'source_failed' when the file system refused a write; an error thrown by `source` comes
 * through as it is. Files written until then stay: the caller says what to do with them.
 */
export async function extractTar(
  source: AsyncIterable<Uint8Array>,
  dir: string,
  options: TarExtractOptions,
): Promise<TarExtractStats> {
  return new TarExtractor(dir, options).run(source);
}

class TarExtractor {
  readonly stats: TarExtractStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0 };
  private readonly archive: string;
  private readonly maxQueued: number;
  private readonly maxOpen: number;
  private readonly owners: boolean;
  /** atime of what is extracted: the start, as GNU tar does. */
  private readonly started = new Date();
  private queued = 0;
  private openFiles = 0;
  private readonly sinks = new Set<Promise<void>>();
  /** The first failed write, thrown by the main loop at its next step. */
  private failure: LifeboatError | undefined;
  private wake: (() => void) | undefined;
  /** Symlinks made so far, by relative name: nothing is written through them. */
  private readonly symlinks = new Set<string>();
  /** Directories whose mode and mtime wait until the archive leaves them. */
  private delayed: DelayedDir[] = [];
  private current = '';
  /** Where the data of the last entry ends, from the start of the archive. */
  private lastEnd = 0;
  private readonly ids = new OwnerIds();
  private readonly release: ((chunk: Uint8Array) => void) | undefined;
  /** Chunks fed to the parser and not yet released, in archive order. */
  private lent: Lent[] = [];

  constructor(
    private readonly dir: string,
    options: TarExtractOptions,
  ) {
    this.archive = options.archive;
    this.maxQueued = options.maxQueuedBytes ?? 4 * 1024 * 1024;
    this.maxOpen = options.maxOpenFiles ?? 64;
    this.owners = options.owners ?? runningAsRoot;
    this.release = options.release;
  }

  async run(source: AsyncIterable<Uint8Array>): Promise<TarExtractStats> {
    const extract = tarExtract();
    let sourceError: unknown;
    let parseError: Error | undefined;
    extract.on('error', (err) => {
      parseError ??= err;
    });
    let fed = 0;
    const feeding = (async () => {
      try {
        for await (const chunk of source) {
          if (extract.destroying) {
            this.release?.(chunk);
            return;
          }
          fed += chunk.length;
          if (this.release) this.lent.push({ chunk, end: fed, writes: 0, passed: false });
          if (!extract.write(chunk)) await writable(extract);
        }
        extract.end(null);
      } catch (err) {
        sourceError = err;
        extract.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    })();

    let error: unknown;
    try {
      for await (const entry of extract) {
        await this.entry(entry.header, entry.offset, entry as AsyncIterable<unknown>);
        this.throwIfFailed();
      }
    } catch (err) {
      error = err;
      extract.destroy();
    }
    await feeding;
    // Every file closed before returning, whatever happened.
    while (this.sinks.size > 0) await Promise.allSettled([...this.sinks]);
    this.passed(Number.POSITIVE_INFINITY); // the parser is done with everything
    error ??= this.failure;
    if (error === undefined) {
      try {
        await this.leaveDirs(undefined);
      } catch (err) {
        error = err;
      }
    }
    if (error === undefined && fed < this.lastEnd + 512) {
      // tar-stream accepts an archive cut at an entry boundary; tar's end blocks prove the end.
      error = this.damaged(`it ends ${this.where()} without the end-of-archive blocks (truncated?)`);
    }
    if (error === undefined) return this.stats;
    if (isLifeboatError(error)) throw error;
    // Entry streams fail with a bare "Stream was destroyed" when the archive stream fails.
    if (sourceError !== undefined) throw sourceError;
    if (parseError !== undefined) {
      if (parseError.message === 'Unexpected end of data') {
        const where = fed < this.lastEnd ? `inside entry "${this.current}"` : `in a header ${this.where()}`;
        throw this.damaged(`it ends ${where} (truncated?)`, parseError);
      }
      throw this.damaged(`${parseError.message} ${this.where()}`, parseError);
    }
    throw error;
  }

  private where(): string {
    return this.current === '' ? 'at its start' : `after entry "${this.current}"`;
  }

  private async entry(header: Header, offset: number, data: AsyncIterable<unknown>): Promise<void> {
    const raw = header.name;
    this.current = raw;
    const hasData = header.type === 'file' || header.type === 'contiguous-file';
    this.lastEnd = offset + 512 + (hasData ? Math.ceil(header.size / 512) * 512 : 0);
    this.passed(offset + 512);
    const name = this.checkedName(raw, raw);
    await this.leaveDirs(name);
    if (name === '') {
      // The directory itself ("./"): it keeps the mode and owner it was made with.
      for await (const _ of data);
      return;
    }
    this.refuseThroughSymlink(name, raw);
    const path = join(this.dir, name);
    const mode = header.mode & 0o7777;
    switch (header.type) {
      case 'file':
      case 'contiguous-file':
        await this.file(name, path, header, mode, data as AsyncIterable<Buffer>);
        return;
      case 'directory':
        await this.directory(name, path, header, mode);
        break;
      case 'symlink':
        await this.symlink(name, path, header);
        break;
      case 'link':
        await this.hardlink(name, path, header);
        break;
      default:
        throw this.refused(raw, `is a ${header.type}; a base backup holds files, directories and links`);
    }
    for await (const _ of data); // no data, but the parser moves on once the entry is read
  }

  private async file(
    name: string,
    path: string,
    header: Header,
    mode: number,
    data: AsyncIterable<Buffer>,
  ): Promise<void> {
    await this.waitFor(() => this.openFiles < this.maxOpen);
    const owner = this.owners ? await this.ids.owner(header) : undefined;
    const fh = await this.create(name, path, 'create', () => fs.open(path, CREATE_FLAGS, mode));
    this.openFiles++;
    this.stats.files++;
    const sink = new FileSink(fh, (n, buffers) => this.written(n, buffers));
    const done = sink.done
      .then(async () => {
        if (owner) await fh.chown(owner.uid, owner.gid);
        if (this.owners) await fh.chmod(mode); // after chown, which clears set-id bits
        await fh.utimes(this.started, header.mtime);
      })
      .finally(() => fh.close())
      .catch((err) => {
        this.fail(this.fsError(err, name, 'write'));
      })
      .finally(() => {
        this.openFiles--;
        this.sinks.delete(done);
        this.wake?.();
      });
    this.sinks.add(done);
    try {
      for await (const chunk of data) {
        this.queued += chunk.length;
        this.stats.bytes += chunk.length;
        const lent = this.lentOf(chunk);
        if (lent) lent.writes++;
        sink.push(chunk);
        // The parser cut this from the lent chunk: it has consumed that chunk up to here.
        if (lent)
          this.passed(
            lent.end - (lent.chunk.byteOffset + lent.chunk.length - chunk.byteOffset - chunk.length),
          );
        if (this.queued >= this.maxQueued) await this.waitFor(() => this.queued < this.maxQueued);
        this.throwIfFailed();
      }
    } finally {
      sink.end();
    }
  }

  private async directory(name: string, path: string, header: Header, mode: number): Promise<void> {
    try {
      // Writable for us until its own mode is applied, after its contents.
      await this.create(name, path, 'create the directory', () => fs.mkdir(path, { mode: mode | 0o700 }));
    } catch (err) {
      if (!(isLifeboatError(err) && errnoCode(err.cause) === 'EEXIST')) throw err;
      // A directory named twice is fine; a directory over a symlink or file is not.
      const st = await fs.lstat(path);
      if (!st.isDirectory())
        throw this.refused(header.name, 'names a directory where the archive made a link or file');
    }
    this.stats.dirs++;
    await this.chown(name, path, header);
    this.delayed.push({ name, path, mode, mtime: header.mtime });
  }

  private async symlink(name: string, path: string, header: Header): Promise<void> {
    if (!header.linkname) throw this.refused(header.name, 'is a symlink without a target');
    const target = header.linkname;
    await this.create(name, path, 'create the symlink', () => fs.symlink(target, path));
    this.symlinks.add(name);
    this.stats.symlinks++;
    await this.chown(name, path, header);
    await this.op(name, 'set the time of', () => fs.lutimes(path, this.started, header.mtime));
  }

  private async hardlink(name: string, path: string, header: Header): Promise<void> {
    const rawTarget = header.linkname ?? '';
    const target = this.checkedName(rawTarget, header.name);
    if (target === '') throw this.refused(header.name, 'is a hard link without a target');
    this.refuseThroughSymlink(target, header.name);
    try {
      await this.create(name, path, 'create the hard link', () => fs.link(join(this.dir, target), path));
    } catch (err) {
      if (isLifeboatError(err) && errnoCode(err.cause) === 'ENOENT') {
        throw this.refused(
          header.name,
          `is a hard link to "${rawTarget}", which the archive does not hold before it`,
        );
      }
      throw err;
    }
    if (this.symlinks.has(target)) this.symlinks.add(name); // a link to a symlink is one
    this.stats.hardlinks++;
  }

  /** Runs `make`; when the parent is missing (not in the archive), makes it and tries again. */
  private async create<T>(name: string, path: string, what: string, make: () => Promise<T>): Promise<T> {
    try {
      return await make();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.fsError(err, name, what);
    }
    // Parents were checked: none is a symlink, so this stays inside.
    await this.op(name, 'create the parent directory of', () =>
      fs.mkdir(dirname(path), { recursive: true, mode: 0o700 }),
    );
    return this.op(name, what, make);
  }

  private async op<T>(name: string, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.fsError(err, name, what);
    }
  }

  private async chown(name: string, path: string, header: Header): Promise<void> {
    if (!this.owners) return;
    const owner = await this.ids.owner(header);
    await this.op(name, 'set the owner of', () => fs.lchown(path, owner.uid, owner.gid));
  }

  /**
   * Applies the mode and mtime of every waiting directory that `next` (the next entry's name;
   * undefined at the end) is not inside, as GNU tar does: later entries would change them.
   */
  private async leaveDirs(next: string | undefined): Promise<void> {
    if (this.delayed.length === 0) return;
    const keep: DelayedDir[] = [];
    for (const d of this.delayed) {
      if (next !== undefined && (next === d.name || next.startsWith(`${d.name}/`))) {
        keep.push(d);
        continue;
      }
      if (this.owners || (d.mode & 0o700) !== 0o700) {
        await this.op(d.name, 'set the mode of', () => fs.chmod(d.path, d.mode));
      }
      await this.op(d.name, 'set the time of', () => fs.lutimes(d.path, this.started, d.mtime));
    }
    this.delayed = keep;
  }

  /** The entry's name relative to the directory, "" for the directory itself; refuses escapes. */
  private checkedName(raw: string, entry: string): string {
    if (raw.includes('\0')) throw this.refused(entry, 'has a NUL byte in a name');
    if (raw.startsWith('/')) throw this.refused(entry, 'has an absolute name');
    const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw this.refused(entry, 'has a ".." in a name, which could lead outside');
    return parts.join('/');
  }

  private refuseThroughSymlink(name: string, entry: string): void {
    for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
      const prefix = name.slice(0, i);
      if (this.symlinks.has(prefix)) {
        throw this.refused(entry, `leads through "${prefix}", a symlink the archive made`);
      }
    }
  }

  private written(n: number, buffers: Buffer[]): void {
    this.queued -= n;
    if (this.release) {
      for (const b of buffers) {
        const lent = this.lentOf(b);
        if (lent) lent.writes--;
      }
      this.passed(0); // nothing newly passed: releases the chunks these writes finished
    }
    this.wake?.();
  }

  /** The lent chunk `part` (a view the parser cut from it) lies in. */
  private lentOf(part: Uint8Array): Lent | undefined {
    if (!this.release) return undefined;
    return this.lent.find(
      (l) =>
        l.chunk.buffer === part.buffer &&
        part.byteOffset >= l.chunk.byteOffset &&
        part.byteOffset < l.chunk.byteOffset + l.chunk.length,
    );
  }

  /**
   * The parser has consumed the archive up to `position`: releases the chunks that end there
   * or before and have nothing left to write.
   */
  private passed(position: number): void {
    if (!this.release || this.lent.length === 0) return;
    const keep: Lent[] = [];
    for (const l of this.lent) {
      if (l.end <= position) l.passed = true;
      if (l.passed && l.writes <= 0) this.release(l.chunk);
      else keep.push(l);
    }
    this.lent = keep;
  }

  private fail(err: LifeboatError): void {
    this.failure ??= err;
    this.wake?.();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Waits until `ready()`, rechecked after each finished write; throws a failed write. */
  private async waitFor(ready: () => boolean): Promise<void> {
    while (!ready()) {
      this.throwIfFailed();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
    this.throwIfFailed();
  }

  private refused(entry: string, why: string): LifeboatError {
    return new LifeboatError(
      'repo_corrupt',
      `[restore] refusing entry "${entry}" of ${this.archive}: it ${why}`,
    );
  }

  private damaged(why: string, cause?: unknown): LifeboatError {
    return new LifeboatError('repo_corrupt', `[restore] ${this.archive} is not a whole tar archive: ${why}`, {
      cause,
    });
  }

  private fsError(err: unknown, name: string, what: string): LifeboatError {
    if (isLifeboatError(err)) return err;
    const code = errnoCode(err);
    if (code === 'EEXIST') {
      return new LifeboatError(
        'repo_corrupt',
        `[restore] ${this.archive} holds "${name}" twice (or the directory was not empty)`,
        { cause: err },
      );
    }
    return writeFailed('restore', join(this.dir, name), err, what);
  }
}

/**
 * Writes the buffers pushed into one open file, in order, one writev at a time; `done`
 * settles once end() was called and everything is written (or a write failed).
 */
class FileSink {
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;
  private queue: Buffer[] = [];
  private position = 0;
  private writing = false;
  private ended = false;
  private error: unknown;

  constructor(
    private readonly fh: fs.FileHandle,
    /** Bytes written (or dropped after a failed write), and the buffers they were in. */
    private readonly onWritten: (n: number, buffers: Buffer[]) => void,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => {}); // handled by the caller's chain
  }

  push(buf: Buffer): void {
    if (this.error !== undefined) {
      this.onWritten(buf.length, [buf]); // dropped: it will never be written
      return;
    }
    this.queue.push(buf);
    this.next();
  }

  end(): void {
    this.ended = true;
    this.next();
  }

  private next(): void {
    if (this.writing) return;
    if (this.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && n < MAX_BATCH_BUFFERS && (n === 0 || bytes < MAX_BATCH_BYTES)) {
        bytes += this.queue[n++].length;
      }
      const batch = this.queue.splice(0, n);
      this.writing = true;
      writeAll(this.fh, batch, this.position).then(
        () => {
          this.position += bytes;
          this.writing = false;
          this.onWritten(bytes, batch);
          this.next();
        },
        (err) => {
          this.error = err;
          let dropped = bytes;
          for (const b of this.queue) dropped += b.length;
          const buffers = [...batch, ...this.queue];
          this.queue = [];
          this.writing = false;
          this.onWritten(dropped, buffers);
          this.next();
        },
      );
      return;
    }
    if (this.error !== undefined) this.reject(this.error);
    else if (this.ended) this.resolve();
  }
}

/** writev until every byte is written (a regular file may take fewer in one call). */
async function writeAll(fh: fs.FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let bufs = buffers;
  let pos = position;
  let left = bufs.reduce((s, b) => s + b.length, 0);
  while (left > 0) {
    const { bytesWritten } = await fh.writev(bufs, pos);
    if (bytesWritten <= 0) throw new Error('the file system took no bytes');
    left -= bytesWritten;
    pos += bytesWritten;
    if (left === 0) return;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of bufs) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    bufs = rest;
  }
}

/** Resolves once `stream` takes writes again, or is closed. */
function writable(stream: {
  once(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

/**
 * Owners as GNU tar gives them as root: the archive's user and group names looked up here
 * (getent, else /etc/passwd and /etc/group), else its numeric ids.
 */
class OwnerIds {
  private readonly cache = new Map<string, Promise<number | undefined>>();

  async owner(header: Header): Promise<{ uid: number; gid: number }> {
    const [uid, gid] = await Promise.all([
      this.lookup('passwd', header.uname),
      this.lookup('group', header.gname),
    ]);
    return { uid: uid ?? header.uid, gid: gid ?? header.gid };
  }

  private lookup(db: 'passwd' | 'group', name: string | undefined): Promise<number | undefined> {
    if (!name || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(name)) return Promise.resolve(undefined);
    const key = `${db}:${name}`;
    let found = this.cache.get(key);
    if (!found) {
      found = lookupId(db, name);
      this.cache.set(key, found);
    }
    return found;
  }
}

async function lookupId(db: 'passwd' | 'group', name: string): Promise<number | undefined> {
  let text: string;
  try {
    text = (await run('getent', [db, name], { encoding: 'utf8' })).stdout;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') return undefined; // getent ran: no such name
    text = await fs.readFile(`/etc/${db}`, 'utf8').catch(() => '');
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && /^\d+$/.test(fields[2] ?? '')) return Number(fields[2]);
  }
  return undefined;
}
