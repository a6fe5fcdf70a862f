/**
 * @module sources/postgres/postgres-archive-offsets
 * The data offsets a custom-format archive streamed from pg_dump lacks. pg_dump writing to a
 * pipe cannot go back to fill each TOC entry's offset, so `pg_restore -j` workers find their
 * table's data by skipping through every block before it, chunk by chunk (with -Z0 a chunk
 * per row), and cannot schedule the largest tables first. `ArchiveOffsets` watches the bytes
 * on their way to a file, notes where each data block starts and where each entry's offset
 * field is, and gives the patches that write them in place as pg_dump does for a file (the
 * field has a fixed size). Layout: PostgreSQL's pg_backup_archiver.c (ReadHead, ReadToc,
 * WriteOffset) and pg_backup_custom.c. For an uncompressed archive it also counts each
 * table's rows on the way (COPY text ends each row with the only raw newline it holds), so a
 * -Z0 backup needs no count(*) of its own.
 */
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const version = (major: number, minor: number) => (major * 256 + minor) * 256;
const BLK_DATA = 1;
const BLK_BLOBS = 3;
const OFFSET_NOT_SET = 1;
const OFFSET_SET = 2;
/** How pg_dump ends each table's COPY data. */
const TRAILER = Buffer.from('\\.\n\n\n', 'latin1');

/** The header and TOC are not all there yet. */
class Short extends Error {}

interface Toc {
  intSize: number;
  offSize: number;
  /** dumpId -> position of its offset field (flag byte), for entries whose offset is not set. */
  fields: Map<number, number>;
  /** Position of the first data block. */
  end: number;
  /** dumpId -> "schema.table" of TABLE DATA entries. */
  tables: Map<number, string>;
  /** The archive's compression (0: none; -1 when the archive names a method rather than a level). */
  level: number;
}

/** Reads the header and TOC from the start of an archive; undefined when it is not one we know. */
function parseToc(b: Buffer): Toc | undefined {
  let p = 0;
  const need = (n: number) => {
    if (p + n > b.length) throw new Short();
  };
  const u8 = () => {
    need(1);
    return b[p++];
  };
  need(8);
  if (b.toString('latin1', 0, 5) !== 'PGDMP') return undefined;
  p = 5;
  const major = u8();
  const minor = u8();
  const v = version(major, minor) + (major > 1 || minor > 0 ? u8() : 0);
  if (v < version(1, 10)) return undefined;
  const intSize = u8();
  const offSize = u8();
  if (u8() !== 1 || intSize > 6) return undefined; // the custom format; ints we can count in
  const int = () => {
    need(1 + intSize);
    const negative = b[p++] !== 0;
    let value = 0;
    for (let i = intSize - 1; i >= 0; i--) value = value * 256 + b[p + i];
    p += intSize;
    return negative ? -value : value;
  };
  const text = () => {
    const n = int();
    if (n < 0) return undefined;
    need(n);
    p += n;
    return b.toString('utf8', p - n, p);
  };
  const str = () => text() !== undefined;
  const level = v >= version(1, 15) ? (u8() === 0 ? 0 : -1) : int();
  for (let i = 0; i < 7; i++) int(); // creation time
  for (let i = 0; i < 3; i++) str(); // database, server and pg_dump versions
  const fields = new Map<number, number>();
  const tables = new Map<number, string>();
  const count = int();
  for (let i = 0; i < count; i++) {
    const dumpId = int();
    int(); // hadDumper
    str(); // tableoid
    str(); // oid
    const tag = text();
    const desc = text();
    if (v >= version(1, 11)) int(); // section
    for (let s = 0; s < 3; s++) str(); // defn, dropStmt, copyStmt
    const namespace = text();
    if (desc === 'TABLE DATA' && tag !== undefined) tables.set(dumpId, `${namespace}.${tag}`);
    str(); // tablespace
    if (v >= version(1, 14)) str(); // table access method
    if (v >= version(1, 16)) int(); // relkind
    str(); // owner
    str(); // with oids
    while (str()); // dependencies
    need(1 + offSize);
    if (b[p] === OFFSET_NOT_SET) fields.set(dumpId, p);
    p += 1 + offSize;
  }
  return { intSize, offSize, fields, end: p, tables, level };
}

type State = 'type' | 'id' | 'len' | 'skip' | 'oid' | 'stop';

export class ArchiveOffsets {
  private head: Buffer[] = [];
  private headLength = 0;
  private nextTry = 64 * 1024;
  private toc: Toc | undefined;
  private failed = false;
  /** Absolute position of the next byte the data walk reads. */
  private pos = 0;
  private state: State = 'type';
  private blockType = 0;
  private blockStart = 0;
  private toSkip = 0;
  private pending: number[] = [];
  private readonly starts = new Map<number, number>();
  private blockId = 0;
  private readonly newlines = new Map<number, number>();
  /** Where the last whole chunk of the current data block ended (its trailer is checked there). */
  private lastBuf: Buffer | undefined;
  private lastEnd = 0;
  /** A table's data did not end as COPY data does: its rows cannot be told. */
  private uncounted = false;

  /** Sees the next piece of the archive (in order). */
  push(chunk: Uint8Array): void {
    if (this.failed) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (!this.toc) {
      this.head.push(buf);
      this.headLength += buf.length;
      if (this.headLength >= this.nextTry) this.tryToc();
      return;
    }
    this.walk(buf, 0);
  }

  /** Call after the last piece: the header or TOC may still be waiting. */
  end(): void {
    if (!this.toc && !this.failed) this.tryToc(true);
  }

  /** [position, bytes] writes that fill in the offsets found; none when the archive was not understood. */
  patches(): [number, Buffer][] {
    if (!this.toc || this.failed) return [];
    const { offSize, fields } = this.toc;
    const out: [number, Buffer][] = [];
    for (const [dumpId, field] of fields) {
      const start = this.starts.get(dumpId);
      if (start === undefined) continue;
      const bytes = Buffer.alloc(1 + offSize);
      bytes[0] = OFFSET_SET;
      let o = start;
      for (let i = 1; i <= offSize; i++) {
        bytes[i] = o % 256;
        o = Math.floor(o / 256);
      }
      out.push([field, bytes]);
    }
    return out;
  }

  /**
   * Rows of each table ("schema.table") counted in an uncompressed archive read to its end;
   * undefined when the archive is compressed or was not understood.
   */
  rows(): Record<string, number> | undefined {
    if (!this.toc || this.failed || this.uncounted || this.toc.level !== 0 || this.state !== 'type') {
      return undefined;
    }
    const out: Record<string, number> = {};
    for (const [dumpId, table] of this.toc.tables) out[table] = this.newlines.get(dumpId) ?? 0;
    return out;
  }

  /** Table data chunks lying whole in `b` from `i`: rows counted, skipped; returns where they stop. */
  private wholeChunks(b: Buffer, i: number, intSize: number): number {
    let rows = 0;
    let at = i;
    for (;;) {
      const data = at + 1 + intSize;
      if (data > b.length || b[at] !== 0) break;
      let n = 0;
      for (let k = intSize - 1; k >= 0; k--) n = n * 256 + b[at + 1 + k];
      const end = data + n;
      if (n === 0 || end > b.length) break;
      for (let nl = b.indexOf(10, data); nl !== -1 && nl < end; nl = b.indexOf(10, nl + 1)) rows++;
      this.lastBuf = b;
      this.lastEnd = end;
      at = end;
    }
    if (rows > 0) this.newlines.set(this.blockId, (this.newlines.get(this.blockId) ?? 0) + rows);
    return at;
  }

  /** A table's COPY data ends with "\\.", then two empty lines: three newlines that are no rows. */
  private endData(): void {
    const n = this.newlines.get(this.blockId) ?? 0;
    const last = this.lastBuf;
    if (
      last &&
      this.lastEnd >= TRAILER.length &&
      last.subarray(this.lastEnd - TRAILER.length, this.lastEnd).equals(TRAILER)
    ) {
      this.newlines.set(this.blockId, n - 3);
    } else if (this.toc?.tables.has(this.blockId)) this.uncounted = true;
    this.lastBuf = undefined;
  }

  private tryToc(last = false): void {
    const all = Buffer.concat(this.head, this.headLength);
    try {
      const toc = parseToc(all);
      if (!toc) {
        this.failed = true;
        return;
      }
      this.toc = toc;
      this.head = [];
      this.pos = toc.end;
      this.walk(all, toc.end);
    } catch (err) {
      if (!(err instanceof Short) || last) this.failed = true;
      this.head = [all];
      this.nextTry = this.headLength * 2;
    }
  }

  /** Follows the data blocks: a type, the dump id, then length-prefixed chunks up to a 0. */
  private walk(b: Buffer, from: number): void {
    const intSize = (this.toc as Toc).intSize;
    let i = from;
    while (i < b.length && this.state !== 'stop') {
      if (this.state === 'skip') {
        const n = Math.min(this.toSkip, b.length - i);
        if (this.blockType === BLK_DATA) {
          let rows = 0;
          for (let at = b.indexOf(10, i); at !== -1 && at < i + n; at = b.indexOf(10, at + 1)) rows++;
          if (rows > 0) this.newlines.set(this.blockId, (this.newlines.get(this.blockId) ?? 0) + rows);
        }
        i += n;
        this.pos += n;
        this.toSkip -= n;
        if (this.toSkip === 0) {
          this.state = 'len';
          this.lastBuf = b;
          this.lastEnd = i;
        }
        continue;
      }
      if (this.state === 'len' && this.blockType === BLK_DATA && this.pending.length === 0) {
        const from = i;
        i = this.wholeChunks(b, i, intSize);
        this.pos += i - from;
        if (i >= b.length) break;
      }
      if (this.state === 'type') {
        this.blockStart = this.pos;
        this.blockType = b[i++];
        this.pos++;
        if (this.blockType !== BLK_DATA && this.blockType !== BLK_BLOBS) this.state = 'stop';
        else this.state = 'id';
        continue;
      }
      // An int: a sign byte, then intSize bytes, least significant first.
      this.pending.push(b[i++]);
      this.pos++;
      if (this.pending.length < 1 + intSize) continue;
      let value = 0;
      for (let k = intSize; k >= 1; k--) value = value * 256 + this.pending[k];
      if (this.pending[0] !== 0) value = -value;
      this.pending = [];
      if (this.state === 'id') {
        this.blockId = value;
        if (!this.starts.has(value)) this.starts.set(value, this.blockStart);
        this.state = this.blockType === BLK_DATA ? 'len' : 'oid';
      } else if (this.state === 'oid') {
        this.state = value === 0 ? 'type' : 'len'; // each large object: its oid, then its chunks
      } else if (value > 0) {
        this.toSkip = value;
        this.state = 'skip';
      } else if (value === 0) {
        if (this.blockType === BLK_DATA) this.endData();
        this.state = this.blockType === BLK_DATA ? 'type' : 'oid';
      } else this.state = 'stop';
    }
  }
}

/**
 * Writes an archive to a new private file (0600) and fills in its data offsets, so that
 * `pg_restore -j` seeks straight to each table's data. Returns how many offsets were filled.
 */
export async function writeSeekableArchive(
  archive: AsyncIterable<Uint8Array>,
  path: string,
): Promise<number> {
  const offsets = new ArchiveOffsets();
  async function* watched() {
    for await (const chunk of archive) {
      offsets.push(chunk);
      yield chunk;
    }
    offsets.end();
  }
  await pipeline(Readable.from(watched()), createWriteStream(path, { mode: 0o600, flags: 'wx' }));
  const patches = offsets.patches();
  if (patches.length === 0) return 0;
  const fh = await open(path, 'r+');
  try {
    for (const [at, bytes] of patches) await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
  return patches.length;
}
