/**
 * @module repo/blob-index
 * The in-memory index: blob id -> pack, offset, length. Records live in one growable
 * buffer with an open-addressing hash table over it, so a million blobs cost ~80 MiB
 * less than a Map of hex strings would, and lookups allocate nothing.
 *
 * An id stored more than once (two backups racing, or a write-only host storing a false
 * copy under a known id) keeps every location: the first in the hash table, the others
 * as records beside it listed in a small side table, which is empty in the usual case.
 *
 * Packs a prune marked for deletion (index-file.ts, `markedAt`) are kept apart: their blobs
 * are found by locations() (a snapshot that raced the prune still reads them) but not by
 * has(), so new backups write such blobs again rather than lean on a pack about to go.
 */
import type { BlobType, PackEntry } from './pack.js';
import { BLOB_TYPE_CODE, BLOB_TYPES } from './pack.js';

// Record: id[32] pack u32 offset u32 length u32 rawLength u32 type u8 flags u8
const REC = 50;

export interface IndexEntry extends PackEntry {
  pack: string;
}

export class BlobIndex {
  private records = Buffer.alloc(REC * 1024);
  private count = 0;
  private table = new Int32Array(2048);
  private packIds: string[] = [];
  private packNumbers = new Map<string, number>();
  /** Record of an id's first location -> records of its other locations. */
  private alternates = new Map<number, number[]>();
  /** Marked packs: name -> mark time and entries. */
  private marked = new Map<string, { markedAt: number; entries: PackEntry[] }>();
  /** Blob id (hex) -> its locations in marked packs. */
  private markedBlobs = new Map<string, IndexEntry[]>();

  /** Distinct blob ids. */
  get size(): number {
    let extra = 0;
    for (const more of this.alternates.values()) extra += more.length;
    return this.count - extra;
  }

  get packs(): readonly string[] {
    return this.packIds;
  }

  hasPack(pack: string): boolean {
    return this.packNumbers.has(pack);
  }

  has(id: Buffer): boolean {
    return this.find(id) >= 0;
  }

  /** The first location loaded; BlobReader.loadBlob chooses among several. */
  get(id: Buffer): IndexEntry | undefined {
    const i = this.find(id);
    return i < 0 ? undefined : this.entryAt(i);
  }

  /** Every location of `id`, the first loaded first, then those in marked packs. */
  locations(id: Buffer): IndexEntry[] {
    const i = this.find(id);
    const live = i < 0 ? [] : [i, ...(this.alternates.get(i) ?? [])].map((r) => this.entryAt(r));
    const marked = this.markedBlobs.size === 0 ? undefined : this.markedBlobs.get(id.toString('hex'));
    return marked ? [...live, ...marked] : live;
  }

  /** Whether `id` is stored only in packs marked for deletion. */
  onlyMarked(id: Buffer): boolean {
    return this.find(id) < 0 && this.markedBlobs.has(id.toString('hex'));
  }

  /** Records a pack marked for deletion (the earliest mark wins when several files name it). */
  addMarked(pack: string, entries: readonly PackEntry[], markedAt: number): void {
    const known = this.marked.get(pack);
    if (known) {
      known.markedAt = Math.min(known.markedAt, markedAt);
      return;
    }
    this.marked.set(pack, { markedAt, entries: [...entries] });
    for (const e of entries) {
      const key = e.id.toString('hex');
      const list = this.markedBlobs.get(key) ?? [];
      list.push({ ...e, pack });
      this.markedBlobs.set(key, list);
    }
  }

  /** The packs marked for deletion, with their mark time and entries. */
  markedPacks(): ReadonlyMap<string, { markedAt: number; entries: readonly PackEntry[] }> {
    return this.marked;
  }

  isMarked(pack: string): boolean {
    return this.marked.has(pack);
  }

  /** Whether `id` is stored in more than one place. */
  hasCopies(id: Buffer): boolean {
    const i = this.find(id);
    return i >= 0 && this.alternates.has(i);
  }

  /** The locations of each id stored more than once. */
  *copies(): Generator<IndexEntry[]> {
    for (const [first, more] of this.alternates) yield [first, ...more].map((r) => this.entryAt(r));
  }

  /** Adds every blob of a pack; an id already indexed elsewhere gains a location. */
  addPack(pack: string, entries: readonly PackEntry[]): void {
    let packNo = this.packNumbers.get(pack);
    if (packNo === undefined) {
      packNo = this.packIds.length;
      this.packIds.push(pack);
      this.packNumbers.set(pack, packNo);
    }
    for (const e of entries) this.add(packNo, e);
  }

  /** Every location of every blob, grouped by nothing in particular. */
  *entries(): Generator<IndexEntry> {
    for (let i = 0; i < this.count; i++) yield this.entryAt(i);
  }

  private add(packNo: number, e: PackEntry): void {
    const first = this.find(e.id);
    if (first >= 0) {
      // Several index files may name one pack: the same location is not another copy.
      const known = [first, ...(this.alternates.get(first) ?? [])];
      if (known.some((r) => this.samePlace(r, packNo, e.offset))) return;
    }
    if ((this.count + 1) * REC > this.records.length) {
      const bigger = Buffer.alloc(this.records.length * 2);
      this.records.copy(bigger);
      this.records = bigger;
    }
    const o = this.count * REC;
    e.id.copy(this.records, o);
    this.records.writeUInt32LE(packNo, o + 32);
    this.records.writeUInt32LE(e.offset, o + 36);
    this.records.writeUInt32LE(e.length, o + 40);
    this.records.writeUInt32LE(e.rawLength, o + 44);
    this.records[o + 48] = BLOB_TYPE_CODE[e.type];
    this.records[o + 49] = e.flags;
    this.count++;
    if (first >= 0) {
      const more = this.alternates.get(first) ?? [];
      more.push(this.count - 1);
      this.alternates.set(first, more);
    } else if (this.count * 2 > this.table.length) this.rehash();
    else this.insertSlot(this.count - 1);
  }

  private samePlace(r: number, packNo: number, offset: number): boolean {
    const o = r * REC;
    return this.records.readUInt32LE(o + 32) === packNo && this.records.readUInt32LE(o + 36) === offset;
  }

  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2);
    const isCopy = new Set<number>();
    for (const more of this.alternates.values()) for (const r of more) isCopy.add(r);
    for (let i = 0; i < this.count; i++) if (!isCopy.has(i)) this.insertSlot(i);
  }

  private insertSlot(i: number): void {
    const mask = this.table.length - 1;
    let s = this.records.readUInt32LE(i * REC) & mask;
    while (this.table[s] !== 0) s = (s + 1) & mask;
    this.table[s] = i + 1;
  }

  private find(id: Buffer): number {
    const mask = this.table.length - 1;
    let s = id.readUInt32LE(0) & mask;
    for (;;) {
      const v = this.table[s];
      if (v === 0) return -1;
      const o = (v - 1) * REC;
      if (this.records.compare(id, 0, 32, o, o + 32) === 0) return v - 1;
      s = (s + 1) & mask;
    }
  }

  private entryAt(i: number): IndexEntry {
    const o = i * REC;
    const r = this.records;
    return {
      id: Buffer.from(r.subarray(o, o + 32)),
      pack: this.packIds[r.readUInt32LE(o + 32)],
      offset: r.readUInt32LE(o + 36),
      length: r.readUInt32LE(o + 40),
      rawLength: r.readUInt32LE(o + 44),
      type: BLOB_TYPES[r[o + 48]] as BlobType,
      flags: r[o + 49],
    };
  }
}
