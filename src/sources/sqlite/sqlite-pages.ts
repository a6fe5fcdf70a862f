/**
 * @module sources/sqlite/sqlite-pages
 * Which tables held the damaged bytes of a database file: a restore that met damaged chunks
 * writes them as zeros, then walks every b-tree of the copy from its root page (the file
 * format: https://www.sqlite.org/fileformat2.html) and names the tree that points at each
 * damaged page. A damaged page is never parsed, only attributed by its intact parent; pages
 * below it (and free pages) stay unattributed.
 */
import { open } from 'node:fs/promises';
import { openExisting } from './sqlite-database.js';

/** A b-tree and what to call it: a table, or an index with its table. */
interface Tree {
  root: number;
  label: string;
}

export interface PageOwners {
  /** The tables (indexes named with their table) that own damaged pages, sorted. */
  owners: string[];
  /** Damaged pages no intact tree points at: free pages, or below a damaged interior page. */
  unattributed: number;
}

/**
 * The owners of the pages that `ranges` (byte ranges, end exclusive) touch in the SQLite
 * file `path`; undefined when the file cannot tell (its header or schema is damaged).
 */
export async function ownersOfRanges(
  path: string,
  ranges: readonly { start: number; end: number }[],
): Promise<PageOwners | undefined> {
  const fh = await open(path, 'r');
  try {
    const header = Buffer.alloc(100);
    await fh.read(header, 0, 100, 0);
    if (header.toString('latin1', 0, 15) !== 'SQLite format 3') return undefined;
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return undefined;
    const usable = pageSize - header[20];
    const pageCount = Math.ceil((await fh.stat()).size / pageSize);
    const damaged = new Set<number>();
    for (const r of ranges) {
      for (let p = Math.floor(r.start / pageSize) + 1; p <= Math.floor((r.end - 1) / pageSize) + 1; p++)
        damaged.add(p);
    }
    // Page 1 holds the header and the schema's root: without it nothing can be told.
    if (damaged.has(1)) return { owners: ['sqlite_schema'], unattributed: damaged.size - 1 };
    const trees = await schemaTrees(path);
    if (!trees) return undefined;
    const owner = new Map<number, string>();
    const seen = new Uint8Array(Math.ceil((pageCount + 1) / 8));
    const page = Buffer.alloc(pageSize);
    for (const tree of [{ root: 1, label: 'sqlite_schema' }, ...trees]) {
      const stack: { page: number; overflow: boolean }[] = [{ page: tree.root, overflow: false }];
      while (stack.length > 0) {
        const next = stack.pop() as { page: number; overflow: boolean };
        const n = next.page;
        if (n < 1 || n > pageCount || seen[n >> 3] & (1 << (n & 7))) continue;
        seen[n >> 3] |= 1 << (n & 7);
        if (damaged.has(n)) {
          owner.set(n, tree.label);
          continue;
        }
        await fh.read(page, 0, pageSize, (n - 1) * pageSize);
        if (next.overflow) {
          const following = page.readUInt32BE(0);
          if (following !== 0) stack.push({ page: following, overflow: true });
          continue;
        }
        for (const child of children(page, n === 1 ? 100 : 0, usable)) stack.push(child);
      }
    }
    const owners = [...new Set(owner.values())].sort();
    return { owners, unattributed: damaged.size - owner.size };
  } finally {
    await fh.close();
  }
}

/** Every table and index b-tree, from the schema (undefined when the schema does not read). */
async function schemaTrees(path: string): Promise<Tree[] | undefined> {
  try {
    const db = await openExisting(path, { readonly: true });
    try {
      const rows = db
        .prepare('SELECT type, name, tbl_name, rootpage FROM sqlite_schema WHERE rootpage > 0')
        .all() as { type: string; name: string; tbl_name: string; rootpage: number }[];
      return rows.map((r) => ({
        root: r.rootpage,
        label: r.type === 'index' ? `${r.tbl_name} (index ${r.name})` : r.name,
      }));
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

/** The pages a b-tree page points at: child pages, and the first overflow page of each cell. */
function children(page: Buffer, at: number, usable: number): { page: number; overflow: boolean }[] {
  const type = page[at];
  const interior = type === 0x02 || type === 0x05;
  if (!interior && type !== 0x0a && type !== 0x0d) return []; // not a b-tree page: stop here
  const out: { page: number; overflow: boolean }[] = [];
  const cells = page.readUInt16BE(at + 3);
  const pointers = at + (interior ? 12 : 8);
  if (interior) out.push({ page: page.readUInt32BE(at + 8), overflow: false });
  for (let i = 0; i < cells; i++) {
    let pos = page.readUInt16BE(pointers + 2 * i);
    if (pos + 4 > page.length) break;
    if (interior) {
      out.push({ page: page.readUInt32BE(pos), overflow: false });
      pos += 4;
      if (type === 0x05) continue; // a table's interior cell holds only a key
    }
    const [payload, n] = varint(page, pos);
    pos += n;
    if (type === 0x0d) pos += varint(page, pos)[1]; // the rowid
    const local = localPayload(payload, usable, type === 0x0d);
    if (local < payload && pos + local + 4 <= page.length) {
      out.push({ page: page.readUInt32BE(pos + local), overflow: true });
    }
  }
  return out;
}

/** Bytes of a cell's payload stored on its page (the rest goes to overflow pages). */
function localPayload(payload: number, usable: number, tableLeaf: boolean): number {
  const max = tableLeaf ? usable - 35 : Math.floor(((usable - 12) * 64) / 255) - 23;
  if (payload <= max) return payload;
  const min = Math.floor(((usable - 12) * 32) / 255) - 23;
  const k = min + ((payload - min) % (usable - 4));
  return k <= max ? k : min;
}

/** SQLite's big-endian varint: its value and length (1 to 9 bytes). */
function varint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    const b = buf[at + i] ?? 0;
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) return [value, i + 1];
  }
  return [value * 256 + (buf[at + 8] ?? 0), 9];
}
