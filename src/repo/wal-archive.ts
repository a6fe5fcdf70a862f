/**
 * @module repo/wal-archive
 * Archived PostgreSQL WAL files, one object each, addressed by name: `wal/<tag>-<walName>`,
 * where tag is a keyed hash of the source name. PostgreSQL asks for WAL by name, thousands
 * of times a day, so name addressing makes push and fetch one object operation each, with
 * no snapshot listing and no index (docs/format.md, "WAL objects").
 *
 * Object bytes: u32 LE length of the sealed header, the sealed header (JSON: source, name,
 * size, archive time, each frame's raw length and flags), then per frame a u32 LE length
 * and the sealed frame (the file's next FRAME_SIZE bytes, zstd-compressed when that is
 * smaller). Every part is sealed like a blob, its AAD naming the object and the part, so
 * parts cannot be swapped between objects or reordered: the tags check every byte, and no
 * content hash is computed (it cost a third of a push's CPU; version 1 headers carried one,
 * and it is still checked where present). The same name pushed twice is stored once: that
 * is the archive's deduplication.
 */
import { createHash, createHmac } from 'node:crypto';
import { open as openFile } from 'node:fs/promises';
import { LifeboatError } from '../errors.js';
import type { Backend, FileInfo } from '../storage/backend.js';
import { compress, decompress } from './compress.js';
import type { KeyRing } from './crypto.js';
import { EPOCH_SIZE, storageId } from './crypto.js';
import { blobAad, FLAG_ZSTD, sealBlob } from './pack.js';
import type { SealPool } from './seal-pool.js';

/** Raw bytes per frame: bounds what one seal holds, and lets a pool seal frames in parallel. */
export const FRAME_SIZE = 4 * 1024 * 1024;
/**
 * WAL is written once and read rarely: favour push speed. On pgbench WAL, zstd -1 runs at
 * 1.1-1.2x the speed of level 1 for a 14% larger archive (design-notes.md).
 */
export const WAL_ZSTD_LEVEL = -1;
/** Largest WAL file accepted; PostgreSQL's default segment is 16 MiB (initdb --wal-segsize). */
export const MAX_WAL_SIZE = 1024 * 1024 * 1024;

const WAL_NAME = /^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$|^[0-9A-F]{8}\.history$/;
const TAG_LENGTH = 16;

export function isWalName(name: string): boolean {
  return WAL_NAME.test(name);
}

export interface WalHeader {
  /** 2; version 1 headers also carry `sha256`. */
  version: 1 | 2;
  source: string;
  name: string;
  size: number;
  /** Version 1 only: SHA-256 over the SHA-256 of each frame's raw bytes (format.md). */
  sha256?: string;
  /** When it was archived (ISO): the recoverable window ends at the newest one. */
  archived: string;
  /** Per frame: raw length and flags (FLAG_ZSTD). */
  frames: { length: number; flags: number }[];
}

/** One archived WAL file as the backend lists it. */
export interface WalObject {
  /** The WAL file name (e.g. 000000010000000000000003). */
  name: string;
  /** The storage object name. */
  object: string;
  /** Stored size. */
  size: number;
}

/** The keyed tag that groups a source's WAL objects without naming the source. */
export function sourceTag(keys: KeyRing, source: string): string {
  return createHmac('sha256', keys.mac)
    .update(`lifeboat wal source\0${source}`)
    .digest('hex')
    .slice(0, TAG_LENGTH);
}

export function walObjectName(keys: KeyRing, source: string, name: string): string {
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
 * Reads the WAL file at `path` frame by frame and builds its object. Frames are sealed in
 * `pool` when given (in parallel), else here. Returns the object's bytes and its header.
 */
export async function buildWalObject(
  keys: KeyRing,
  source: string,
  name: string,
  path: string,
  archived: Date,
  pool?: SealPool,
): Promise<{ data: Buffer; header: WalHeader }> {
  const object = walObjectName(keys, source, name);
  const fh = await openFile(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > MAX_WAL_SIZE) {
      throw new LifeboatError(
        'usage',
        `[wal-push] ${name} is ${size} bytes: larger than any WAL file can be`,
      );
    }
    const pending: Promise<{ flags: number; sealed: Uint8Array; length: number }>[] = [];
    for (let offset = 0, part = 1; offset < size || part === 1; part++) {
      const length = Math.min(FRAME_SIZE, size - offset);
      const buf = Buffer.allocUnsafeSlow(length);
      const { bytesRead } = length > 0 ? await fh.read(buf, 0, length, offset) : { bytesRead: 0 };
      if (bytesRead !== length) {
        throw new LifeboatError('source_unreadable', `[wal-push] ${path} changed size while being read`);
      }
      offset += length;
      pending.push(
        pool
          ? pool
              .seal('data', partId(object, part), buf)
              .then((d) => ({ flags: d.flags, sealed: d.sealed, length }))
          : Promise.resolve({ ...sealFrame(keys, object, part, buf), length }),
      );
      if (length === 0) break;
    }
    const frames = await Promise.all(pending);
    const header: WalHeader = {
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
  const packed = compress(raw, WAL_ZSTD_LEVEL);
  const flags = packed ? FLAG_ZSTD : 0;
  return { flags, sealed: sealBlob(keys.sealSpec, 'data', flags, partId(object, part), packed ?? raw) };
}

/** The object's bytes: the sealed header, then the sealed frames, each behind its u32 length. */
export function assemble(
  keys: KeyRing,
  object: string,
  header: WalHeader,
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
export async function readWalHeader(backend: Backend, keys: KeyRing, object: string): Promise<WalHeader> {
  const len = (await backend.load({ type: 'wal', name: object }, 0, 4)).readUInt32LE(0);
  if (len > 1024 * 1024) throw damaged(object, 'header length out of range');
  return openHeader(keys, object, await backend.load({ type: 'wal', name: object }, 4, len));
}

function openHeader(keys: KeyRing, object: string, sealed: Buffer): WalHeader {
  const header = JSON.parse(
    keys.open(sealed, partAad(object, 0, 0), `wal ${object}`).toString('utf8'),
  ) as WalHeader;
  if ((header.version !== 1 && header.version !== 2) || `${object.split('-')[0]}-${header.name}` !== object) {
    throw damaged(object, 'its header names another file');
  }
  return header;
}

/**
 * Opens a whole object, checking every frame, the length and (version 1) the SHA-256;
 * yields the WAL file's bytes frame by frame (each at most FRAME_SIZE).
 */
export function* openWalObject(keys: KeyRing, object: string, data: Buffer): Generator<Buffer, WalHeader> {
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
export function verifyWalObject(keys: KeyRing, object: string, data: Buffer): WalHeader {
  const it = openWalObject(keys, object, data);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/** The epoch the object is sealed with (its header's). */
export async function walEpoch(backend: Backend, object: string): Promise<number> {
  return (await backend.load({ type: 'wal', name: object }, 4, EPOCH_SIZE)).readUInt32LE(0);
}

/** The WAL objects of `source` (every source's when undefined is passed with all=true). */
export async function listWal(backend: Backend, keys: KeyRing, source: string): Promise<WalObject[]> {
  const prefix = `${sourceTag(keys, source)}-`;
  const out: WalObject[] = [];
  for await (const f of backend.list('wal')) {
    if (f.name.startsWith(prefix)) out.push(toWalObject(f, prefix.length));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Every WAL object, grouped by source tag (for check and prune, which see every source). */
export async function listAllWal(backend: Backend): Promise<Map<string, WalObject[]>> {
  const out = new Map<string, WalObject[]>();
  for await (const f of backend.list('wal')) {
    const tag = f.name.slice(0, TAG_LENGTH);
    const list = out.get(tag) ?? [];
    list.push(toWalObject(f, TAG_LENGTH + 1));
    out.set(tag, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  return out;
}

function toWalObject(f: FileInfo, skip: number): WalObject {
  return { name: f.name.slice(skip), object: f.name, size: f.size };
}

/** Timeline of a WAL file name. */
export function timelineOf(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}

/** Position of a segment (log * 2^32/segsize + seg), ignoring the timeline; undefined for .history. */
export function segmentNumber(name: string, segmentsPerLog = 256): number | undefined {
  if (!/^[0-9A-F]{24}/.test(name)) return undefined;
  return Number.parseInt(name.slice(8, 16), 16) * segmentsPerLog + Number.parseInt(name.slice(16, 24), 16);
}

/** The segment name at `position` on `timeline`. */
export function segmentName(timeline: number, position: number, segmentsPerLog = 256): string {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(position / segmentsPerLog))}${hex(position % segmentsPerLog)}`;
}

/**
 * The same WAL file sealed anew: with the current key (key rotation) or with another
 * repository's keys under its own name there (copy).
 */
export function resealWalObject(
  keys: KeyRing,
  object: string,
  data: Buffer,
  to: { keys: KeyRing; object: string } = { keys, object },
): Buffer {
  const it = openWalObject(keys, object, data);
  const frames: Buffer[] = [];
  let header: WalHeader;
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
