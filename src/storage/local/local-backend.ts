/**
 * @module storage/local/local-backend
 * A repository in a folder on a local or mounted disk. Saves are atomic and durable: write
 * a temp file beside the target, fsync it, rename it over the target, fsync the folder.
 *
 * Layout under the root: `config`, `keys/<name>`, `locks/<name>`, `snapshots/<name>`,
 * `index/<name>`, `wal/<name>`, `data/<first two chars of name>/<name>` (storage/layout.ts). create() makes all folders,
 * including the 256 `data/00`..`data/ff`, eagerly (as restic does); save() still creates a
 * missing type folder below an existing root, so a hand-pruned layout heals itself.
 * The repository is private, as restic's: folders are made 0700 and files 0400 (written
 * 0600, then made read-only before the rename; a save replaces a file by rename, never in
 * place), so no other local user reads a key file, a pack or the config.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FileHandle as NodeFileHandle } from 'node:fs/promises';
import { link, mkdir, open, readdir, readFile, rename, stat, statfs, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, errnoCode, LifeboatError } from '../../errors.js';
import { makeDir } from '../../make-dir.js';
import {
  type Backend,
  type BackendCapabilities,
  type FileHandle,
  type FileInfo,
  type FileType,
  UNFINISHED_AGE_MS,
  type VersionedObject,
} from '../backend.js';
import { rangeStart, tooShort } from '../byte-range.js';
import { checkName, objectName, TYPE_DIRS } from '../layout.js';
import { PackHandles } from './pack-handles.js';

const TEMP_PREFIX = '.tmp-';
/** Modes of what the backend creates (before the umask for folders). */
export const LOCAL_MODES = { dir: 0o700, file: 0o400, temp: 0o600 } as const;
/** Parallel stat() calls while listing. */
const STAT_CONCURRENCY = 32;
/** Pack folders read at once while listing. */
const DIR_CONCURRENCY = 16;

const CAPABILITIES: BackendCapabilities = {
  atomicReplace: true,
  rangedReads: true,
  freeSpace: true,
  conditionalWrites: true,
};

/** A local object's version: the SHA-256 of its bytes (a lease's bytes are never repeated). */
function versionOf(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

type Operation = 'write' | 'read' | 'remove' | 'list' | 'create';

const RETRYABLE = new Set(['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EINTR', 'ETIMEDOUT']);

/** Turns a node fs error into a LifeboatError that names the object and the next step. */
function fsError(err: unknown, op: Operation, what: string, root: string): LifeboatError {
  const errno = errnoCode(err);
  const verb = op === 'create' ? 'unable to create a repository' : `unable to ${op} ${what}`;
  const where = `${verb} at ${root}`;
  const options = { cause: err, retryable: errno !== undefined && RETRYABLE.has(errno) };
  switch (errno) {
    case 'ENOSPC':
      return new LifeboatError(
        'no_space',
        `[storage:local] ${where}: disk full (free space or move the repository)`,
        options,
      );
    case 'EDQUOT':
      return new LifeboatError(
        'no_space',
        `[storage:local] ${where}: disk quota exceeded (free space, raise the quota or move the repository)`,
        options,
      );
    case 'EACCES':
    case 'EPERM': {
      const may = op === 'read' || op === 'list' ? 'read' : 'write to';
      return new LifeboatError(
        'storage_failed',
        `[storage:local] ${where}: permission denied (check that this user may ${may} ${root} and its folders)`,
        options,
      );
    }
    case 'EROFS':
      return new LifeboatError(
        'storage_failed',
        `[storage:local] ${where}: read-only file system (mount it read-write or move the repository)`,
        options,
      );
    default:
      return new LifeboatError(
        'storage_failed',
        `[storage:local] ${where}: ${describe(err)} (check the disk and try again)`,
        options,
      );
  }
}

function notFound(h: FileHandle, root: string, err: unknown): LifeboatError {
  const next =
    h.type === 'config'
      ? 'check the repository path, or create one with `lifeboat init`'
      : h.type === 'lock'
        ? 'it may have been released'
        : 'run `lifeboat check`';
  return new LifeboatError('not_found', `[storage:local] ${objectName(h)} not found at ${root} (${next})`, {
    cause: err,
  });
}

/** ENOTDIR means a path component is a file: the object cannot be there either. */
function isMissing(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Flushes a folder's entries (a rename is durable only once its folder is). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some file systems cannot fsync a folder; the rename itself has still happened.
    if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EBADF'].includes(errnoCode(err) ?? '')) throw err;
  } finally {
    await fh.close();
  }
}

async function writeAll(fh: NodeFileHandle, data: Buffer): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, done);
    done += bytesWritten;
  }
}

export class LocalBackend implements Backend {
  readonly location: string;
  readonly capabilities = CAPABILITIES;
  private readonly handles = new PackHandles();

  constructor(root: string) {
    this.location = resolve(root);
  }

  /** Where an object lives on disk. */
  path(h: FileHandle): string {
    if (h.type === 'config') return join(this.location, 'config');
    checkName(h, 'storage:local');
    if (h.type === 'pack') return join(this.location, 'data', h.name.slice(0, 2), h.name);
    return join(this.location, TYPE_DIRS[h.type], h.name);
  }

  async create(): Promise<void> {
    const root = this.location;
    let exists = false;
    try {
      await stat(join(root, 'config'));
      exists = true;
    } catch (err) {
      if (!isMissing(err)) throw fsError(err, 'create', 'config', root);
    }
    if (exists) {
      throw new LifeboatError(
        'repo_exists',
        `[storage:local] a repository already exists at ${root} (use it, or choose an empty folder)`,
      );
    }
    try {
      await makeDir(root, LOCAL_MODES.dir);
      const mode = LOCAL_MODES.dir;
      for (const dir of Object.values(TYPE_DIRS)) await mkdir(join(root, dir), { recursive: true, mode });
      const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
      await Promise.all(hex.map((h) => mkdir(join(root, 'data', h), { recursive: true, mode })));
      await syncDir(join(root, 'data'));
      await syncDir(root);
    } catch (err) {
      throw fsError(err, 'create', 'repository', root);
    }
  }

  async save(h: FileHandle, data: Buffer): Promise<void> {
    const target = this.path(h);
    const dir = dirname(target);
    const temp = join(dir, TEMP_PREFIX + randomBytes(8).toString('hex'));
    let fh: NodeFileHandle | undefined;
    try {
      try {
        fh = await open(temp, 'wx', LOCAL_MODES.temp);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT' || dir === this.location) throw err;
        // A type folder removed by hand: recreate it, but never the root (no repository there).
        await stat(this.location);
        await mkdir(dir, { recursive: true, mode: LOCAL_MODES.dir });
        fh = await open(temp, 'wx', LOCAL_MODES.temp);
      }
      await writeAll(fh, data);
      await fh.chmod(LOCAL_MODES.file);
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(temp, target);
      if (h.type === 'pack') await this.handles.forget(target);
      await syncDir(dir);
    } catch (err) {
      if (fh) await fh.close().catch(() => {});
      await unlink(temp).catch(() => {});
      if (errnoCode(err) === 'ENOENT') {
        throw new LifeboatError(
          'storage_failed',
          `[storage:local] unable to write ${objectName(h)}: no repository folder at ${this.location} (check the path, or create one with \`lifeboat init\`)`,
          { cause: err },
        );
      }
      throw fsError(err, 'write', objectName(h), this.location);
    }
  }

  // Conditional writes: link() of a complete temp file creates the name only if it is absent;
  // a replace first renames the current file aside (of two renames of one file, one fails),
  // compares it with the version named, and links the new file in (or puts the old back).

  async createIfAbsent(h: FileHandle, data: Buffer): Promise<string | undefined> {
    const target = this.path(h);
    const temp = await this.writeTemp(h, data);
    try {
      await link(temp, target);
      await syncDir(dirname(target));
      return versionOf(data);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return undefined;
      throw fsError(err, 'write', objectName(h), this.location);
    } finally {
      await unlink(temp).catch(() => {});
    }
  }

  async loadVersioned(h: FileHandle): Promise<VersionedObject> {
    const data = await this.load(h);
    return { data, version: versionOf(data) };
  }

  async replaceIfVersion(h: FileHandle, data: Buffer, version: string): Promise<string | undefined> {
    const target = this.path(h);
    const dir = dirname(target);
    const aside = join(dir, TEMP_PREFIX + randomBytes(8).toString('hex'));
    try {
      await rename(target, aside);
    } catch (err) {
      if (isMissing(err)) return undefined; // gone, or another replace moved it first
      throw fsError(err, 'write', objectName(h), this.location);
    }
    const temp = await this.writeTemp(h, data).catch(async (err) => {
      await link(aside, target).catch(() => {});
      await unlink(aside).catch(() => {});
      throw err;
    });
    try {
      const current = await readFile(aside);
      const winner = versionOf(current) === version ? temp : aside;
      try {
        await link(winner, target);
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
        return undefined; // created meanwhile by another writer: theirs stands
      }
      await syncDir(dir);
      return winner === temp ? versionOf(data) : undefined;
    } catch (err) {
      throw fsError(err, 'write', objectName(h), this.location);
    } finally {
      await unlink(temp).catch(() => {});
      await unlink(aside).catch(() => {});
    }
  }

  /** Writes `data` to a durable temp file beside where `h` lives; returns its path. */
  private async writeTemp(h: FileHandle, data: Buffer): Promise<string> {
    const temp = join(dirname(this.path(h)), TEMP_PREFIX + randomBytes(8).toString('hex'));
    let fh: NodeFileHandle | undefined;
    try {
      fh = await open(temp, 'wx', LOCAL_MODES.temp);
      await writeAll(fh, data);
      await fh.chmod(LOCAL_MODES.file);
      await fh.sync();
      await fh.close();
      return temp;
    } catch (err) {
      if (fh) await fh.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw fsError(err, 'write', objectName(h), this.location);
    }
  }

  async load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    const file = this.path(h);
    if (offset === undefined && length === undefined) {
      try {
        return await readFile(file);
      } catch (err) {
        if (isMissing(err)) throw notFound(h, this.location, err);
        throw fsError(err, 'read', objectName(h), this.location);
      }
    }
    const start = rangeStart('storage:local', h, offset, length);
    const read = (fh: NodeFileHandle) => this.readRange(fh, h, start, length);
    // Packs are read in many small ranges (a restore): their files are kept open.
    if (h.type === 'pack') return this.handles.use(file, read).catch((err) => this.readError(h, err));
    let fh: NodeFileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      throw this.readError(h, err);
    }
    try {
      return await read(fh).catch((err) => this.readError(h, err));
    } finally {
      await fh.close();
    }
  }

  private readError(h: FileHandle, err: unknown): never {
    if (err instanceof LifeboatError) throw err;
    if (isMissing(err)) throw notFound(h, this.location, err);
    throw fsError(err, 'read', objectName(h), this.location);
  }

  private async readRange(
    fh: NodeFileHandle,
    h: FileHandle,
    start: number,
    length?: number,
  ): Promise<Buffer> {
    // A range with a length needs no fstat: a file too short ends the reads early (an
    // empty range reads nothing, so its start is checked against the size).
    const size = length === undefined || length === 0 ? (await fh.stat()).size : undefined;
    const want = length ?? (size as number) - start;
    if (size !== undefined && (start + want > size || want < 0)) throw this.shortError(h, start, want, size);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await fh.read(buf, got, want - got, start + got);
      if (bytesRead === 0) throw this.shortError(h, start, want, start + got);
      got += bytesRead;
    }
    return buf;
  }

  private shortError(h: FileHandle, offset: number, length: number, size: number): LifeboatError {
    return tooShort('storage:local', h, this.location, offset, length, size);
  }

  async stat(h: FileHandle): Promise<FileInfo> {
    try {
      const s = await stat(this.path(h));
      return { name: h.type === 'config' ? 'config' : h.name, size: s.size };
    } catch (err) {
      if (isMissing(err)) throw notFound(h, this.location, err);
      throw fsError(err, 'read', objectName(h), this.location);
    }
  }

  async remove(h: FileHandle): Promise<void> {
    if (h.type === 'pack') await this.handles.forget(this.path(h));
    try {
      await unlink(this.path(h));
    } catch (err) {
      if (isMissing(err)) return;
      throw fsError(err, 'remove', objectName(h), this.location);
    }
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    if (type === 'config') {
      try {
        const s = await stat(join(this.location, 'config'));
        yield { name: 'config', size: s.size, modified: s.mtime };
      } catch (err) {
        if (!isMissing(err)) throw fsError(err, 'list', 'config', this.location);
      }
      return;
    }
    const top = join(this.location, TYPE_DIRS[type]);
    const dirs = type === 'pack' ? (await this.entries(top, type, true)).map((d) => join(top, d)) : [top];
    // Packs are spread over 256 folders: they are read a group at a time, and their files
    // stat'ed across the group, rather than one folder per round trip (a backup lists the
    // packs before it starts, to adopt those a failed backup left unindexed).
    for (let d = 0; d < dirs.length; d += DIR_CONCURRENCY) {
      const group = dirs.slice(d, d + DIR_CONCURRENCY);
      const listed = await Promise.all(group.map((dir) => this.entries(dir, type, false)));
      const files = listed.flatMap((names, k) => names.map((name) => ({ dir: group[k], name })));
      for (let i = 0; i < files.length; i += STAT_CONCURRENCY) {
        const batch = await Promise.all(
          files.slice(i, i + STAT_CONCURRENCY).map((f) => this.statIn(f.dir, f.name, type)),
        );
        for (const info of batch) if (info) yield info;
      }
    }
  }

  /** Names of files (or folders, for data/) in `dir`, without temp and hidden files. */
  private async entries(dir: string, type: FileType, folders: boolean): Promise<string[]> {
    try {
      const all = await readdir(dir, { withFileTypes: true });
      return all
        .filter((e) => !e.name.startsWith('.') && (folders ? e.isDirectory() : e.isFile()))
        .map((e) => e.name);
    } catch (err) {
      if (isMissing(err)) return [];
      throw fsError(err, 'list', `${type} objects`, this.location);
    }
  }

  private async statIn(dir: string, name: string, type: FileType): Promise<FileInfo | undefined> {
    try {
      const s = await stat(join(dir, name));
      return { name, size: s.size, modified: s.mtime };
    } catch (err) {
      if (isMissing(err)) return undefined; // removed while listing
      throw fsError(err, 'list', `${type} objects`, this.location);
    }
  }

  async removeUnfinished(): Promise<number> {
    let freed = 0;
    // WAL pushes and their locks go on under prune's lock (lock.ts): only old leftovers there.
    const live = new Set([join(this.location, TYPE_DIRS.wal), join(this.location, TYPE_DIRS.lock)]);
    const cutoff = Date.now() - UNFINISHED_AGE_MS;
    for await (const f of this.unfinished()) {
      if (live.has(f.dir) && f.mtimeMs > cutoff) continue;
      try {
        await unlink(join(f.dir, f.name));
        freed += f.size;
      } catch (err) {
        if (!isMissing(err)) throw fsError(err, 'remove', 'an unfinished write', this.location);
      }
    }
    return freed;
  }

  async *listUnfinished(): AsyncIterable<FileInfo> {
    const cutoff = Date.now() - UNFINISHED_AGE_MS;
    for await (const f of this.unfinished()) {
      if (f.mtimeMs <= cutoff) yield { name: relative(this.location, join(f.dir, f.name)), size: f.size };
    }
  }

  /** Temp files of saves, in every folder the backend writes to. */
  private async *unfinished(): AsyncGenerator<{ dir: string; name: string; size: number; mtimeMs: number }> {
    const dirs = Object.values(TYPE_DIRS).map((d) => join(this.location, d));
    const dataDir = join(this.location, TYPE_DIRS.pack);
    for (const sub of await this.entries(dataDir, 'pack', true)) dirs.push(join(dataDir, sub));
    dirs.push(this.location); // the config's temp files
    for (const dir of new Set(dirs)) {
      let names: string[];
      try {
        names = (await readdir(dir)).filter((n) => n.startsWith(TEMP_PREFIX));
      } catch (err) {
        if (isMissing(err)) continue;
        throw fsError(err, 'list', 'unfinished writes', this.location);
      }
      for (const name of names) {
        try {
          const s = await stat(join(dir, name));
          yield { dir, name, size: s.size, mtimeMs: s.mtimeMs };
        } catch (err) {
          if (!isMissing(err)) throw fsError(err, 'list', 'unfinished writes', this.location);
        }
      }
    }
  }

  async freeSpace(): Promise<number> {
    try {
      const s = await statfs(this.location);
      return s.bavail * s.bsize;
    } catch (err) {
      throw fsError(err, 'read', 'free space', this.location);
    }
  }

  async close(): Promise<void> {
    await this.handles.closeAll();
  }
}

/** A backend over the folder `root` (resolved against the working directory). */
export function createLocalBackend(root: string): Backend {
  return new LocalBackend(root);
}
