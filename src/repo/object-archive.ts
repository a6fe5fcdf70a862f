/**
 * @module repo/object-archive
 * Named objects beside the content-addressed packs: one object each, addressed by a
 * namespace (a source name, hidden behind a keyed tag) and the name its producer gives it,
 * stored as `wal/<tag>-<name>`. PostgreSQL's archived WAL is the one producer today: it asks
 * for files by name, thousands of times a day, so name addressing makes put and get one
 * object operation each, with no snapshot listing and no index (docs/format.md, "WAL
 * objects"). The archive does not know what the names mean; their producer does.
 *
 * Object bytes: u32 LE length of the sealed header, the sealed header (JSON: source, name,
 * size, archive time, each frame's raw length and flags), then per frame a u32 LE length
 * and the sealed frame (the file's next FRAME_SIZE bytes, zstd-compressed when that is
 * smaller). Every part is sealed like a blob, its AAD naming the object and the part, so
 * parts cannot be swapped between objects or reordered: the tags check every byte, and no
 * content hash is computed (it cost a third of a push's CPU; version 1 headers carried one,
 * and it is still checked where present). The same name put twice is stored once: that
 * is the archive's deduplication.
 */
import { createHash, createHmac } from 'node:crypto';
import { open as openFile } from 'node:fs/promises';
import { isLifeboatError, LifeboatError } from '../errors.js';
import type { Backend, FileInfo } from '../storage/backend.js';
import { compress, decompress } from './compress.js';
import type { KeyRing } from './crypto.js';
import { storageId } from './crypto.js';
import { blobAad, FLAG_ZSTD, sealBlob } from './pack.js';

/** Raw bytes per frame: bounds what one seal holds, and lets a pool seal frames in parallel. */
export const FRAME_SIZE = 4 * 1024 * 1024;
/**
 * Archived objects are written once and read rarely: favour put speed. On pgbench WAL, zstd
 * -1 runs at 1.1-1.2x the speed of level 1 for a 14% larger archive (design-notes.md).
 */
export const ARCHIVE_ZSTD_LEVEL = -1;
/** Largest object accepted (1 GiB: a frame count the header keeps small). */
export const MAX_OBJECT_SIZE = 1024 * 1024 * 1024;

const TAG_LENGTH = 16;

export interface ObjectHeader {
  /** 2; version 1 headers also carry `sha256`. */
  version: 1 | 2;
  source: string;
  name: string;
  size: number;
  /** Version 1 only: SHA-256 over the SHA-256 of each frame's raw bytes (format.md). */
  sha256?: string;
  /** When it was archived (ISO). */
  archived: string;
  /** Per frame: raw length and flags (FLAG_ZSTD). */
  frames: { length: number; flags: number }[];
}

/** One archived object as the backend lists it. */
export interface ArchivedObject {
  /** The name its producer gave it (e.g. a WAL file name). */
  name: string;
  /** The storage object name. */
  object: string;
  /** Stored size. */
  size: number;
}

/** Seals frames in worker threads (a seal pool; Repository.openers() is one). */
export interface FrameSealer {
  readonly size: number;
  seal(type: 'data', id: Buffer, data: Uint8Array): Promise<{ flags: number; sealed: Uint8Array }>;
}

/** Opens whole objects in worker threads (Repository.openers()). */
export interface ObjectOpener {
  readonly size: number;
  openObject(object: string, data: Buffer): Promise<Buffer>;
}

/** The keyed tag that groups a source's objects without naming the source. */
export function sourceTag(keys: KeyRing, source: string): string {
  return createHmac('sha256', keys.mac)
    .update(`lifeboat wal source\0${source}`)
    .digest('hex')
    .slice(0, TAG_LENGTH);
}

/** The storage name of `source`'s object `name`. */
export function archivedObjectName(keys: KeyRing, source: string, name: string): string {
  return `${sourceTag(keys, source)}-${name}`;
}

function partId(object: string, part: number): Buffer {
  return createHash('sha256').update(`lifeboat wal v1\0${object}\0${part}`).digest();
}

/** AAD of the header (part 0) and of frame i (part i + 1). */
function partAad(object: string, part: number, flags: number): Buffer {
  return blobAad('data', flags, partId(object, part));
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/**
 * Reads the file at `path` frame by frame and builds its object. Frames are sealed by
 * `sealer` when given (in parallel), else here. Returns the object's bytes and its header.
 */
export async function buildObject(
  keys: KeyRing,
  source: string,
  name: string,
  path: string,
  archived: Date,
  sealer?: FrameSealer,
): Promise<{ data: Buffer; header: ObjectHeader }> {
  const object = archivedObjectName(keys, source, name);
  const fh = await openFile(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > MAX_OBJECT_SIZE) {
      throw new LifeboatError(
        'usage',
        `[repo] ${name} is ${size} bytes: larger than an archived object may be`,
      );
    }
    const pending: Promise<{ flags: number; sealed: Uint8Array; length: number }>[] = [];
    for (let offset = 0, part = 1; offset < size || part === 1; part++) {
      const length = Math.min(FRAME_SIZE, size - offset);
      const buf = Buffer.allocUnsafeSlow(length);
      const { bytesRead } = length > 0 ? await fh.read(buf, 0, length, offset) : { bytesRead: 0 };
      if (bytesRead !== length) {
        throw new LifeboatError('source_unreadable', `[repo] ${path} changed size while being read`);
      }
      offset += length;
      pending.push(
        sealer
          ? sealer
              .seal('data', partId(object, part), buf)
              .then((d) => ({ flags: d.flags, sealed: d.sealed, length }))
          : Promise.resolve({ ...sealFrame(keys, object, part, buf), length }),
      );
      if (length === 0) break;
    }
    const frames = await Promise.all(pending);
    const header: ObjectHeader = {
      version: 2,
      source,
      name,
      size,
      archived: archived.toISOString(),
      frames: frames.map((f) => ({ length: f.length, flags: f.flags })),
    };
    return {
      data: assemble(
        keys,
        object,
        header,
        frames.map((f) => f.sealed),
      ),
      header,
    };
  } finally {
    await fh.close();
  }
}

/** One frame, zstd-compressed when that is smaller, sealed here (pool workers do the same). */
function sealFrame(
  keys: KeyRing,
  object: string,
  part: number,
  raw: Buffer,
): { flags: number; sealed: Buffer } {
  const packed = compress(raw, ARCHIVE_ZSTD_LEVEL);
  const flags = packed ? FLAG_ZSTD : 0;
  return { flags, sealed: sealBlob(keys.sealSpec, 'data', flags, partId(object, part), packed ?? raw) };
}

/** The object's bytes: the sealed header, then the sealed frames, each behind its u32 length. */
export function assemble(
  keys: KeyRing,
  object: string,
  header: ObjectHeader,
  frames: readonly Uint8Array[],
): Buffer {
  const sealedHeader = keys.seal(Buffer.from(JSON.stringify(header)), partAad(object, 0, 0));
  const parts: Uint8Array[] = [u32(sealedHeader.length), sealedHeader];
  for (const f of frames) parts.push(u32(f.length), f);
  return Buffer.concat(parts);
}

/** A version 1 header's content digest: SHA-256 over the frames' SHA-256 digests. */
function digestOfFrames(digests: readonly string[]): string {
  const h = createHash('sha256');
  for (const d of digests) h.update(Buffer.from(d, 'hex'));
  return h.digest('hex');
}

function damaged(object: string, why: string): LifeboatError {
  return new LifeboatError('integrity', `[repo] wal ${object} is damaged: ${why} (run \`lifeboat check\`)`);
}

/** Reads and opens an object's header (two ranged reads). */
export async function readObjectHeader(
  backend: Backend,
  keys: KeyRing,
  object: string,
): Promise<ObjectHeader> {
  const len = (await backend.load({ type: 'wal', name: object }, 0, 4)).readUInt32LE(0);
  if (len > 1024 * 1024) throw damaged(object, 'header length out of range');
  return openHeader(keys, object, await backend.load({ type: 'wal', name: object }, 4, len));
}

function openHeader(keys: KeyRing, object: string, sealed: Buffer): ObjectHeader {
  const header = JSON.parse(
    keys.open(sealed, partAad(object, 0, 0), `wal ${object}`).toString('utf8'),
  ) as ObjectHeader;
  if ((header.version !== 1 && header.version !== 2) || `${object.split('-')[0]}-${header.name}` !== object) {
    throw damaged(object, 'its header names another file');
  }
  return header;
}

/**
 * Opens a whole object, checking every frame, the length and (version 1) the SHA-256;
 * yields the file's bytes frame by frame (each at most FRAME_SIZE).
 */
export function* openObject(keys: KeyRing, object: string, data: Buffer): Generator<Buffer, ObjectHeader> {
  const at = { pos: 0 };
  const next = (): Buffer => {
    if (at.pos + 4 > data.length) throw damaged(object, 'truncated');
    const len = data.readUInt32LE(at.pos);
    if (at.pos + 4 + len > data.length) throw damaged(object, 'truncated');
    const part = data.subarray(at.pos + 4, at.pos + 4 + len);
    at.pos += 4 + len;
    return part;
  };
  const header = openHeader(keys, object, next());
  const digests: string[] = [];
  let total = 0;
  for (const [i, frame] of header.frames.entries()) {
    const what = `wal ${object} frame ${i}`;
    const body = keys.open(next(), partAad(object, i + 1, frame.flags), what);
    const plain = frame.flags & FLAG_ZSTD ? decompress(body, frame.length, what) : body;
    if (plain.length !== frame.length) throw damaged(object, `frame ${i} has the wrong length`);
    if (header.sha256 !== undefined) digests.push(storageId(plain));
    total += plain.length;
    yield plain;
  }
  if (at.pos !== data.length) throw damaged(object, 'trailing bytes');
  if (total !== header.size) throw damaged(object, 'its frames do not add up to its size');
  if (header.sha256 !== undefined && digestOfFrames(digests) !== header.sha256) {
    throw damaged(object, 'content does not match its recorded SHA-256');
  }
  return header;
}

/** Opens and checks a whole object; returns its header (the bytes are discarded). */
export function verifyObject(keys: KeyRing, object: string, data: Buffer): ObjectHeader {
  const it = openObject(keys, object, data);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/** The objects of `source`, by name. */
export async function listObjects(
  backend: Backend,
  keys: KeyRing,
  source: string,
): Promise<ArchivedObject[]> {
  const prefix = `${sourceTag(keys, source)}-`;
  const out: ArchivedObject[] = [];
  for await (const f of backend.list('wal')) {
    if (f.name.startsWith(prefix)) out.push(toArchivedObject(f, prefix.length));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Every object, grouped by source tag (for check and prune, which see every source). */
export async function listAllObjects(backend: Backend): Promise<Map<string, ArchivedObject[]>> {
  const out = new Map<string, ArchivedObject[]>();
  for await (const f of backend.list('wal')) {
    const tag = f.name.slice(0, TAG_LENGTH);
    const list = out.get(tag) ?? [];
    list.push(toArchivedObject(f, TAG_LENGTH + 1));
    out.set(tag, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  return out;
}

function toArchivedObject(f: FileInfo, skip: number): ArchivedObject {
  return { name: f.name.slice(skip), object: f.name, size: f.size };
}

/**
 * The same object sealed anew: with the current key (key rotation) or with another
 * repository's keys under its own name there (copy).
 */
export function resealObject(
  keys: KeyRing,
  object: string,
  data: Buffer,
  to: { keys: KeyRing; object: string } = { keys, object },
): Buffer {
  const it = openObject(keys, object, data);
  const frames: Buffer[] = [];
  let header: ObjectHeader;
  for (;;) {
    const r = it.next();
    if (r.done) {
      header = r.value;
      break;
    }
    frames.push(r.value);
  }
  const sealed = frames.map((raw, i) => {
    const f = sealFrame(to.keys, to.object, i + 1, raw);
    header.frames[i].flags = f.flags;
    return f.sealed;
  });
  return assemble(to.keys, to.object, header, sealed);
}

/**
 * One source's objects, put and got by name: what producers use (jobs/wal-push,
 * jobs/wal-fetch). `backend` and `keys` are the repository's.
 */
export class ObjectArchive {
  constructor(
    private readonly backend: Backend,
    private readonly keys: KeyRing,
    readonly source: string,
  ) {}

  /** The storage name of `name`. */
  objectName(name: string): string {
    return archivedObjectName(this.keys, this.source, name);
  }

  async has(name: string): Promise<boolean> {
    try {
      await this.backend.stat({ type: 'wal', name: this.objectName(name) });
      return true;
    } catch (err) {
      if (isLifeboatError(err) && err.code === 'not_found') return false;
      throw err;
    }
  }

  /** Stores the file at `path` as `name` (replacing nothing: callers check `has` first). */
  async put(name: string, path: string, archived: Date, sealer?: FrameSealer): Promise<ObjectHeader> {
    const built = await buildObject(this.keys, this.source, name, path, archived, sealer);
    await this.backend.save({ type: 'wal', name: this.objectName(name) }, built.data);
    return built.header;
  }

  /**
   * The file stored as `name`, checked, frame by frame (opened by `opener` in a worker when
   * given); undefined when there is none.
   */
  async get(name: string, opener?: ObjectOpener): Promise<Iterable<Buffer> | undefined> {
    const object = this.objectName(name);
    let data: Buffer;
    try {
      data = await this.backend.load({ type: 'wal', name: object });
    } catch (err) {
      if (isLifeboatError(err) && err.code === 'not_found') return undefined;
      throw err;
    }
    return opener ? [await opener.openObject(object, data)] : openObject(this.keys, object, data);
  }

  /** True when the object `name` holds exactly the bytes of the file at `path`. */
  async matchesFile(name: string, path: string): Promise<boolean> {
    const object = this.objectName(name);
    const data = await this.backend.load({ type: 'wal', name: object });
    const fh = await openFile(path, 'r');
    try {
      let offset = 0;
      for (const frame of openObject(this.keys, object, data)) {
        const mine = Buffer.allocUnsafe(frame.length);
        const { bytesRead } = await fh.read(mine, 0, frame.length, offset);
        if (bytesRead !== frame.length || !mine.equals(frame)) return false;
        offset += frame.length;
      }
      return (await fh.stat()).size === offset;
    } finally {
      await fh.close();
    }
  }

  /** The header of `object` (a storage name, as `list` gives it). */
  header(object: string): Promise<ObjectHeader> {
    return readObjectHeader(this.backend, this.keys, object);
  }

  list(): Promise<ArchivedObject[]> {
    return listObjects(this.backend, this.keys, this.source);
  }

  async remove(name: string): Promise<void> {
    await this.backend.remove({ type: 'wal', name: this.objectName(name) });
  }
}
