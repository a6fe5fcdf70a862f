/**
 * @module sources/postgres/postgres-archive-blocks
 * Which table's data a byte of a custom-format pg_dump archive belongs to, to name what a
 * damaged range of an archive held. An archive streamed from pg_dump records no data
 * offsets in its table of contents, so the header and the TOC are read (keeping each data
 * entry's name), then the data blocks are walked by their chunk lengths, up to the byte
 * asked for: only bytes before it are read. Layout: PostgreSQL's pg_backup_archiver.c
 * (ReadHead, ReadToc) and pg_backup_custom.c.
 */
import { ByteReader } from '../byte-reader.js';

const version = (major: number, minor: number) => (major * 256 + minor) * 256;
const BLK_DATA = 1;
const BLK_BLOBS = 3;

/** Stops the walk: the block holding the byte is found. */
class Found {
  constructor(readonly name: string) {}
}

/**
 * The TOC entry ("TABLE DATA public.orders", "BLOBS") whose data holds byte `at` of the
 * archive read from `content`; undefined when the byte is in the header or TOC, or the
 * archive is not one this reader knows.
 */
export async function archiveEntryAt(
  content: AsyncIterable<Uint8Array>,
  at: number,
): Promise<string | undefined> {
  const r = new ByteReader(content);
  try {
    const need = async (n: number, name?: string) => {
      if (r.offset + n > at) throw new Found(name ?? '');
      await r.fill(n);
    };
    await need(8);
    if (r.take(5).toString('latin1') !== 'PGDMP') return undefined;
    const major = r.u8();
    const minor = r.u8();
    const v = version(major, minor) + (major > 1 || minor > 0 ? r.u8() : 0);
    if (v < version(1, 10)) return undefined;
    await need(3);
    const intSize = r.u8();
    const offSize = r.u8();
    if (r.u8() !== 1) return undefined; // not the custom format
    const int = async (name?: string) => {
      await need(1 + intSize, name);
      const negative = r.u8() !== 0;
      let value = 0;
      const bytes = r.take(intSize);
      for (let i = intSize - 1; i >= 0; i--) value = value * 256 + bytes[i];
      return negative ? -value : value;
    };
    const str = async (): Promise<string | undefined> => {
      const n = await int();
      if (n < 0) return undefined;
      await need(n);
      return r.take(n).toString('utf8');
    };
    if (v >= version(1, 15)) {
      await need(1);
      r.u8();
    } else await int();
    for (let i = 0; i < 7; i++) await int(); // creation time
    for (let i = 0; i < 3; i++) await str(); // database, server and pg_dump versions

    const names = new Map<number, string>();
    const count = await int();
    for (let i = 0; i < count; i++) {
      const dumpId = await int();
      await int(); // hadDumper
      await str(); // tableoid
      await str(); // oid
      const tag = (await str()) ?? '';
      const desc = (await str()) ?? '';
      if (v >= version(1, 11)) await int(); // section
      for (let s = 0; s < 3; s++) await str(); // defn, dropStmt, copyStmt
      const namespace = await str();
      await str(); // tablespace
      if (v >= version(1, 14)) await str(); // table access method
      if (v >= version(1, 16)) await int(); // relkind
      await str(); // owner
      await str(); // with oids
      while ((await str()) !== undefined); // dependencies
      await need(1 + offSize);
      r.take(1 + offSize); // data offset (not set when streamed)
      names.set(dumpId, namespace ? `${desc} ${namespace}.${tag}` : `${desc} ${tag}`);
    }
    // Data blocks: a type, the entry's dump id, then length-prefixed chunks up to a 0.
    for (;;) {
      await need(1);
      const type = r.u8();
      const name = names.get(await int()) ?? 'an unknown entry';
      if (type !== BLK_DATA && type !== BLK_BLOBS) return undefined;
      const chunks = async () => {
        for (;;) {
          const n = await int(name);
          if (n === 0) return;
          if (r.offset + n > at) throw new Found(name);
          await r.skip(n);
        }
      };
      if (type === BLK_DATA) await chunks();
      else while ((await int(name)) !== 0) await chunks(); // each large object: its oid, then data
    }
  } catch (err) {
    if (err instanceof Found) return err.name || undefined;
    return undefined; // short or malformed: nothing can be told
  } finally {
    await r.close().catch(() => {});
  }
}
