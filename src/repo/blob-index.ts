/**
 * @module repo/blob-index
 * The in-memory index: blob id -> pack, offset, length. Records live in one growable
 * buffer with an open-addressing hash table over it, so a million blobs cost ~80 MiB
 * less than a Map of hex strings would, and lookups allocate nothing.
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

  get size(): number {
    return this.count;
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

  get(id: Buffer): IndexEntry | undefined {
    const i = this.find(id);
    return i < 0 ? undefined : this.entryAt(i);
  }

  /** Adds every blob of a pack; blobs already indexed elsewhere keep their first location. */
  addPack(pack: string, entries: readonly PackEntry[]): void {
    let packNo = this.packNumbers.get(pack);
    if (packNo === undefined) {
      packNo = this.packIds.length;
      this.packIds.push(pack);
      this.packNumbers.set(pack, packNo);
    }
    for (const e of entries) this.add(packNo, e);
  }

  /** Every entry, grouped by nothing in particular. */
  *entries(): Generator<IndexEntry> {
    for (let i = 0; i < this.count; i++) yield this.entryAt(i);
  }

  private add(packNo: number, e: PackEntry): void {
    if (this.find(e.id) >= 0) return;
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
    if (this.count * 2 > this.table.length) this.rehash();
    else this.insertSlot(this.count - 1);
  }

  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2);
    for (let i = 0; i < this.count; i++) this.insertSlot(i);
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
