/**
 * @module sources/mongodb/mongo-archive
 * The mongodump archive format (what `mongodump --archive` writes and `mongorestore
 * --archive` reads), streamed both ways:
 *
 *   magic 0x8199e26d (little-endian) | header document | collection metadata documents |
 *   0xffffffff | per collection: namespace header {db, collection, EOF: false, CRC: 0},
 *   its documents, 0xffffffff, then an EOF header {db, collection, EOF: true, CRC} and
 *   0xffffffff.
 *
 * The EOF header's CRC is the CRC-64 (ECMA, as Go computes it) of the collection's document
 * bytes. Metadata is the collection's options, indexes and UUID as canonical Extended JSON,
 * as in mongodump's .metadata.json files. Documents pass through as raw BSON.
 */
import { BSON, Int32, Long } from 'bson';
import { ByteReader, TruncatedError } from '../byte-reader.js';
import { EcmaCrc64 } from './mongo-crc64.js';

export const ARCHIVE_MAGIC = 0x8199e26d;
const TERMINATOR = Buffer.from([0xff, 0xff, 0xff, 0xff]);
const MAX_BSON = 16 * 1024 * 1024 + 16 * 1024;

export interface ArchiveHeader {
  serverVersion: string;
  toolVersion: string;
  concurrentCollections?: number;
}

export interface ArchiveCollection {
  db: string;
  collection: string;
  /** Canonical Extended JSON: {options, indexes, uuid, collectionName, type}. */
  metadata: string;
  /** 'collection', 'view' (metadata only, no data) or 'timeseries'. */
  type: string;
}

export interface WrittenCollection {
  documents: number;
  bytes: number;
  crc: bigint;
}

/** Errors in an archive, named by what and where. */
export class ArchiveFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveFormatError';
  }
}

function magicBytes(): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(ARCHIVE_MAGIC);
  return b;
}

function bson(doc: Record<string, unknown>): Buffer {
  return Buffer.from(BSON.serialize(doc));
}

/**
 * The archive as a stream: the prelude listing `collections`, then each collection's
 * documents from `documents(c)` (views have none). `written` receives per collection counts.
 */
export async function* writeArchive(
  header: ArchiveHeader,
  collections: ArchiveCollection[],
  documents: (c: ArchiveCollection) => AsyncIterable<Uint8Array>,
  written: (c: ArchiveCollection, w: WrittenCollection) => void = () => {},
): AsyncIterable<Buffer> {
  yield Buffer.concat([
    magicBytes(),
    bson({
      concurrent_collections: new Int32(header.concurrentCollections ?? 1),
      version: '0.1',
      server_version: header.serverVersion,
      tool_version: header.toolVersion,
    }),
    ...collections.map((c) =>
      bson({ db: c.db, collection: c.collection, metadata: c.metadata, size: new Int32(0), type: c.type }),
    ),
    TERMINATOR,
  ]);
  for (const c of collections) {
    if (c.type === 'view') continue;
    yield namespaceHeader(c, false, 0n);
    const crc = new EcmaCrc64();
    let count = 0;
    let bytes = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const doc of documents(c)) {
      const d = Buffer.isBuffer(doc) ? doc : Buffer.from(doc.buffer, doc.byteOffset, doc.byteLength);
      checkDocument(d, `${c.db}.${c.collection}`);
      crc.update(d);
      count++;
      bytes += d.length;
      pending.push(d);
      pendingBytes += d.length;
      if (pendingBytes >= 1024 * 1024) {
        yield Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
      }
    }
    if (pending.length > 0) yield Buffer.concat(pending);
    const value = crc.value();
    yield Buffer.concat([TERMINATOR, namespaceHeader(c, true, value), TERMINATOR]);
    written(c, { documents: count, bytes, crc: value });
  }
}

function namespaceHeader(c: ArchiveCollection, eof: boolean, crc: bigint): Buffer {
  return bson({ db: c.db, collection: c.collection, EOF: eof, CRC: Long.fromBigInt(crc) });
}

function checkDocument(d: Buffer, ns: string): void {
  if (d.length < 5 || d.readInt32LE(0) !== d.length || d[d.length - 1] !== 0) {
    throw new ArchiveFormatError(`a document of ${ns} is not a well-formed BSON document`);
  }
}

export interface ArchivePrelude {
  header: {
    serverVersion: string;
    toolVersion: string;
    formatVersion: string;
    concurrentCollections: number;
  };
  collections: ArchiveCollection[];
}

export interface ArchiveReadVisitor {
  prelude?(p: ArchivePrelude): void | Promise<void>;
  /** One raw BSON document of `ns` ("db.collection"). */
  document?(ns: string, doc: Buffer): void | Promise<void>;
  /** The end of a collection, with its document count (CRC already checked). */
  end?(ns: string, documents: number): void | Promise<void>;
}

/**
 * Reads an archive stream: the prelude, then every document; checks each collection's CRC at
 * its EOF header and that every collection of the prelude (but views) was closed.
 */
export async function readArchive(
  source: AsyncIterable<Uint8Array>,
  visitor: ArchiveReadVisitor,
): Promise<ArchivePrelude> {
  const r = new ByteReader(source);
  try {
    await r.fill(4);
    if (r.take(4).readUInt32LE(0) !== ARCHIVE_MAGIC) {
      throw new ArchiveFormatError('not a mongodump archive (the magic number is missing)');
    }
    const head = await nextDocument(r);
    if (!head) throw new ArchiveFormatError('the archive has no header');
    const h = BSON.deserialize(head);
    const prelude: ArchivePrelude = {
      header: {
        serverVersion: String(h.server_version ?? ''),
        toolVersion: String(h.tool_version ?? ''),
        formatVersion: String(h.version ?? ''),
        concurrentCollections: Number(h.concurrent_collections ?? 1),
      },
      collections: [],
    };
    for (;;) {
      const doc = await nextDocument(r);
      if (!doc) break;
      const m = BSON.deserialize(doc);
      prelude.collections.push({
        db: String(m.db),
        collection: String(m.collection),
        metadata: String(m.metadata ?? ''),
        type: String(m.type || 'collection'),
      });
    }
    await visitor.prelude?.(prelude);

    const open = new Map<string, { crc: EcmaCrc64; count: number }>();
    const closed = new Set<string>();
    while (!(await r.atEnd())) {
      const hdr = await nextDocument(r);
      if (!hdr) throw new ArchiveFormatError('two terminators in a row (a block without a header)');
      const n = BSON.deserialize(hdr, { useBigInt64: true });
      const ns = `${n.db}.${n.collection}`;
      if (!n.collection) throw new ArchiveFormatError('a namespace header without a collection');
      if (closed.has(ns)) throw new ArchiveFormatError(`data for ${ns} after its end`);
      let state = open.get(ns);
      if (!state) {
        state = { crc: new EcmaCrc64(), count: 0 };
        open.set(ns, state);
      }
      if (n.EOF === true) {
        const want = typeof n.CRC === 'bigint' ? n.CRC : BigInt(n.CRC ?? 0);
        const got = state.crc.value();
        if (got !== want) throw new ArchiveFormatError(`the CRC of ${ns} does not match (${got} != ${want})`);
        open.delete(ns);
        closed.add(ns);
        await visitor.end?.(ns, state.count);
        if (await nextDocument(r)) throw new ArchiveFormatError(`documents follow the end of ${ns}`);
        continue;
      }
      for (;;) {
        const doc = await nextDocument(r);
        if (!doc) break;
        state.crc.update(doc);
        state.count++;
        await visitor.document?.(ns, doc);
      }
    }
    const unfinished = [...open.keys()];
    const unseen = prelude.collections
      .filter((c) => c.type === 'collection' && !closed.has(`${c.db}.${c.collection}`))
      .map((c) => `${c.db}.${c.collection}`);
    if (unfinished.length > 0 || unseen.length > 0) {
      throw new ArchiveFormatError(
        `the archive ends before all collections were complete (${[...unfinished, ...unseen].join(', ')})`,
      );
    }
    return prelude;
  } catch (err) {
    if (err instanceof TruncatedError)
      throw new ArchiveFormatError(`the archive ends early, at byte ${err.offset}`);
    throw err;
  }
}

/** The next BSON document, or undefined at a terminator. */
async function nextDocument(r: ByteReader): Promise<Buffer | undefined> {
  if (!r.has(4)) await r.fill(4);
  const size = r.take(4).readInt32LE(0);
  if (size === -1) return undefined;
  if (size < 5 || size > MAX_BSON) {
    throw new ArchiveFormatError(`${size} at byte ${r.offset - 4} is neither a BSON length nor a terminator`);
  }
  if (!r.has(size - 4)) await r.fill(size - 4);
  const rest = r.take(size - 4);
  if (rest[rest.length - 1] !== 0)
    throw new ArchiveFormatError(`a BSON document at byte ${r.offset - size} does not end with a zero byte`);
  const doc = Buffer.allocUnsafe(size);
  doc.writeInt32LE(size, 0);
  rest.copy(doc, 4);
  return doc;
}
