/**
 * @module sources/redis/rdb-parser
 * A streaming parser of Redis RDB files (versions 1 to 12: Redis 2.x to 7.4): it walks the
 * opcodes and finds each key, its database, its expiry and the exact bytes of its value
 * without decoding the value (RESTORE takes the value bytes as they are), so memory stays
 * bounded whatever the size of a value. Values are only skipped by their structure; a type it
 * does not know stops it with an error naming the type byte and the key, never a silent skip.
 * The CRC-64 trailer is checked at the end when the file has one.
 * Hot paths (keys, one-string values) run synchronously on buffered bytes and await only when
 * the buffer runs short: an await per primitive cost more than the parsing itself.
 */
import { ByteReader, type ByteTap, TruncatedError } from '../byte-reader.js';
import { Crc64 } from './crc64.js';
import { lzfDecompress } from './lzf.js';

export const RDB_TYPE = {
  STRING: 0,
  LIST: 1,
  SET: 2,
  ZSET: 3,
  HASH: 4,
  ZSET_2: 5,
  MODULE_PRE_GA: 6,
  MODULE_2: 7,
  HASH_ZIPMAP: 9,
  LIST_ZIPLIST: 10,
  SET_INTSET: 11,
  ZSET_ZIPLIST: 12,
  HASH_ZIPLIST: 13,
  LIST_QUICKLIST: 14,
  STREAM_LISTPACKS: 15,
  HASH_LISTPACK: 16,
  ZSET_LISTPACK: 17,
  LIST_QUICKLIST_2: 18,
  STREAM_LISTPACKS_2: 19,
  SET_LISTPACK: 20,
  STREAM_LISTPACKS_3: 21,
  HASH_METADATA_PRE_GA: 22,
  HASH_LISTPACK_EX_PRE_GA: 23,
  HASH_METADATA: 24,
  HASH_LISTPACK_EX: 25,
} as const;

const OP = {
  SLOT_INFO: 244,
  FUNCTION2: 245,
  FUNCTION_PRE_GA: 246,
  MODULE_AUX: 247,
  IDLE: 248,
  FREQ: 249,
  AUX: 250,
  RESIZEDB: 251,
  EXPIRETIME_MS: 252,
  EXPIRETIME: 253,
  SELECTDB: 254,
  EOF: 255,
} as const;

/** Newest RDB version whose layout this parser knows (Redis 7.4). */
export const RDB_MAX_VERSION = 12;

/** Type names for messages. */
const TYPE_NAMES: Record<number, string> = {
  0: 'string',
  1: 'list',
  2: 'set',
  3: 'zset',
  4: 'hash',
  5: 'zset',
  6: 'module (pre-GA)',
  7: 'module',
  9: 'hash (zipmap)',
  10: 'list (ziplist)',
  11: 'set (intset)',
  12: 'zset (ziplist)',
  13: 'hash (ziplist)',
  14: 'list (quicklist)',
  15: 'stream',
  16: 'hash (listpack)',
  17: 'zset (listpack)',
  18: 'list (quicklist)',
  19: 'stream',
  20: 'set (listpack)',
  21: 'stream',
  22: 'hash (field TTLs)',
  23: 'hash (listpack, field TTLs)',
  24: 'hash (field TTLs)',
  25: 'hash (listpack, field TTLs)',
};

export function rdbTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `unknown type ${type}`;
}

/** A malformed or unsupported RDB stream; the message names what and where. */
export class RdbFormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'RdbFormatError';
  }
}

export interface RdbEntry {
  db: number;
  key: Buffer;
  /** The RDB type byte of the value. */
  type: number;
  /** Absolute expiry, ms since the epoch. */
  expireMs?: number;
  /** LRU idle time in seconds, when the file records it. */
  idleSeconds?: number;
  /** LFU frequency, when the file records it. */
  freq?: number;
  /** Offset of the value's first byte (after the key) in the stream, and its length. */
  valueOffset: number;
  valueLength: number;
  /**
   * The value bytes, when the visitor asked for them and they fit the capture limit; larger
   * values have `value` undefined and must be read again from the stream by offset.
   */
  value?: Buffer[];
  /** CRC-64 of the DUMP payload (type byte, value, RDB version), when the value was asked for. */
  payloadCrc?: Buffer;
  /** Module values: the module's name. */
  module?: string;
}

export interface RdbVisitor {
  /** Whether to capture this key's value (and compute its DUMP checksum). */
  wantValue?(db: number, key: Buffer, type: number): boolean;
  entry?(entry: RdbEntry): void | Promise<void>;
  /** Each key's expiry, without the key (cheaper than `entry` when only expiries count). */
  expiry?(db: number, expireMs: number): void;
  /** A function library (Redis 7 functions): its code. */
  functionCode?(code: Buffer): void | Promise<void>;
}

export interface RdbSummary {
  version: number;
  /** Keys per database number. */
  keys: Record<string, number>;
  /** Keys with an expiry. */
  expires: number;
  functions: number;
  /** Keys holding module values, which RESTORE needs the module for. */
  moduleKeys: number;
  aux: Record<string, string>;
  /** 'verified' when the CRC-64 trailer matched; 'disabled' when the file has none (zero or version < 5). */
  checksum: 'verified' | 'disabled';
  /** Bytes of the file. */
  bytes: number;
}

export interface RdbParseOptions {
  /** Values up to this size are handed to the visitor in memory; default 8 MiB. */
  captureLimit?: number;
}

class FileCrcTap implements ByteTap {
  readonly crc = new Crc64();
  bytes(data: Buffer, start: number, end: number): void {
    this.crc.update(data, start, end);
  }
}

class ValueTap implements ByteTap {
  parts: Buffer[] | undefined = [];
  size = 0;
  constructor(
    readonly crc: Crc64,
    private readonly limit: number,
  ) {}
  bytes(data: Buffer, start: number, end: number): void {
    this.crc.update(data, start, end);
    this.size += end - start;
    if (!this.parts) return;
    if (this.size > this.limit) this.parts = undefined;
    else this.parts.push(data.subarray(start, end));
  }
}

/** Parses a whole RDB stream, calling the visitor for each key; resolves with the summary. */
export async function parseRdb(
  source: AsyncIterable<Uint8Array> | ByteReader,
  visitor: RdbVisitor = {},
  options: RdbParseOptions = {},
): Promise<RdbSummary> {
  const r = source instanceof ByteReader ? source : new ByteReader(source);
  const parser = new Parser(r, visitor, options.captureLimit ?? 8 * 1024 * 1024);
  try {
    return await parser.run();
  } catch (err) {
    if (err instanceof TruncatedError) {
      throw new RdbFormatError(
        `the RDB stream ends early, at byte ${err.offset} (truncated file or transfer)`,
        err.offset,
      );
    }
    throw err;
  }
}

class Parser {
  private version = 0;
  private db = 0;
  private readonly fileCrc = new FileCrcTap();
  private readonly summary: RdbSummary = {
    version: 0,
    keys: {},
    expires: 0,
    functions: 0,
    moduleKeys: 0,
    aux: {},
    checksum: 'disabled',
    bytes: 0,
  };
  /** The current key, for messages. */
  private key: Buffer | undefined;
  private dbKey = '0';
  /** The last string header read: 0 raw, 1 integer, 2 LZF; its stored size, length, value. */
  private hKind = 0;
  private hSize = 0;
  private hLength = 0;
  private hInt = 0;

  constructor(
    private readonly r: ByteReader,
    private readonly visitor: RdbVisitor,
    private readonly captureLimit: number,
  ) {}

  async run(): Promise<RdbSummary> {
    const r = this.r;
    r.addTap(this.fileCrc);
    await r.fill(9);
    const magic = r.take(9).toString('latin1');
    if (!/^REDIS\d{4}$/.test(magic)) {
      throw new RdbFormatError('not an RDB file (it does not start with "REDIS" and a version)', 0);
    }
    this.version = Number(magic.slice(5));
    this.summary.version = this.version;
    if (this.version < 1 || this.version > RDB_MAX_VERSION) {
      throw new RdbFormatError(
        `RDB version ${this.version} is not supported (lifeboat reads versions 1 to ${RDB_MAX_VERSION}: Redis up to 7.4)`,
        5,
      );
    }
    let expireMs: number | undefined;
    let idle: number | undefined;
    let freq: number | undefined;
    for (;;) {
      if (!r.has(1)) await r.fill(1);
      const op = r.u8();
      switch (op) {
        case OP.EOF:
          await this.finish();
          return this.summary;
        case OP.SELECTDB:
          this.db = await this.len();
          this.dbKey = String(this.db);
          continue;
        case OP.RESIZEDB:
          await this.len();
          await this.len();
          continue;
        case OP.SLOT_INFO:
          await this.len();
          await this.len();
          await this.len();
          continue;
        case OP.EXPIRETIME_MS: {
          if (!r.has(8)) await r.fill(8);
          const b = r.take(8);
          expireMs = b.readUInt32LE(4) * 2 ** 32 + b.readUInt32LE(0);
          if (b.readInt32LE(4) < 0) expireMs = -1;
          continue;
        }
        case OP.EXPIRETIME:
          if (!r.has(4)) await r.fill(4);
          expireMs = r.take(4).readUInt32LE(0) * 1000;
          continue;
        case OP.IDLE:
          idle = await this.len();
          continue;
        case OP.FREQ:
          if (!r.has(1)) await r.fill(1);
          freq = r.u8();
          continue;
        case OP.AUX: {
          const k = (await this.string()).toString('latin1');
          const v = await this.string();
          this.summary.aux[k] = v.toString('utf8');
          continue;
        }
        case OP.MODULE_AUX:
          await this.skipModuleAux();
          continue;
        case OP.FUNCTION2: {
          const code = await this.string();
          this.summary.functions++;
          await this.visitor.functionCode?.(code);
          continue;
        }
        case OP.FUNCTION_PRE_GA:
          throw this.error(
            'the RDB holds functions in the format of Redis 7.0 release candidates (opcode 246), which lifeboat does not read',
          );
        default: {
          const pending = this.keyValue(op, expireMs, idle, freq);
          if (pending) await pending;
          expireMs = undefined;
          idle = undefined;
          freq = undefined;
        }
      }
    }
  }

  /** One key and its value; undefined when done synchronously (see countKey). */
  private keyValue(
    type: number,
    expireMs: number | undefined,
    idle: number | undefined,
    freq: number | undefined,
  ): Promise<void> | undefined {
    const visitor = this.visitor;
    if (visitor.entry || visitor.wantValue || !Object.hasOwn(TYPE_NAMES, type)) {
      return this.readKeyValue(type, expireMs, idle, freq);
    }
    // Counting alone (a backup) needs no key: it is skipped, not copied, and without a
    // promise while the key and its value are buffered (most keys, in 64 KiB pieces).
    const skipped = this.skipString();
    if (skipped) return skipped.then(() => this.countValue(type, expireMs));
    return this.countValue(type, expireMs);
  }

  private countValue(type: number, expireMs: number | undefined): Promise<void> | undefined {
    const skipped = this.skipValue(type);
    if (skipped) return skipped.then((module) => this.counted(module, expireMs));
    this.counted(undefined, expireMs);
    return undefined;
  }

  private counted(module: string | undefined, expireMs: number | undefined): void {
    if (module !== undefined) this.summary.moduleKeys++;
    const dbKey = this.dbKey;
    this.summary.keys[dbKey] = (this.summary.keys[dbKey] ?? 0) + 1;
    if (expireMs !== undefined) {
      this.summary.expires++;
      this.visitor.expiry?.(this.db, expireMs);
    }
    this.key = undefined;
  }

  /** A key read whole, its value captured or skipped, and the entry given to the visitor. */
  private async readKeyValue(
    type: number,
    expireMs: number | undefined,
    idle: number | undefined,
    freq: number | undefined,
  ): Promise<void> {
    const r = this.r;
    const visitor = this.visitor;
    const maybeKey = this.string();
    this.key = maybeKey instanceof Buffer ? maybeKey : await maybeKey;
    const key = this.key;
    if (!Object.hasOwn(TYPE_NAMES, type)) {
      throw this.error(
        `unknown RDB value type ${type} for ${this.keyName()} in db ${this.db} (written by a newer Redis, or a corrupt file)`,
      );
    }
    const want = (key && visitor.wantValue?.(this.db, key, type)) ?? false;
    let tap: ValueTap | undefined;
    if (want) {
      tap = new ValueTap(new Crc64().update(Uint8Array.of(type)), this.captureLimit);
      r.addTap(tap);
    }
    const valueOffset = r.offset;
    let module: string | undefined;
    try {
      const skipped = this.skipValue(type);
      if (skipped) module = await skipped;
    } finally {
      if (tap) r.removeTap(tap);
    }
    if (module !== undefined) this.summary.moduleKeys++;
    const dbKey = this.dbKey;
    this.summary.keys[dbKey] = (this.summary.keys[dbKey] ?? 0) + 1;
    if (expireMs !== undefined) {
      this.summary.expires++;
      visitor.expiry?.(this.db, expireMs);
    }
    if (!visitor.entry || !key) {
      this.key = undefined;
      return;
    }
    const entry: RdbEntry = {
      db: this.db,
      key,
      type,
      valueOffset,
      valueLength: r.offset - valueOffset,
    };
    if (expireMs !== undefined) entry.expireMs = expireMs;
    if (idle !== undefined) entry.idleSeconds = idle;
    if (freq !== undefined) entry.freq = freq;
    if (module !== undefined) entry.module = module;
    if (tap) {
      entry.value = tap.parts;
      const ver = Buffer.alloc(2);
      ver.writeUInt16LE(this.version);
      entry.payloadCrc = tap.crc.update(ver).digestLE();
    }
    const done = visitor.entry(entry);
    if (done) await done;
    this.key = undefined;
  }

  /**
   * Skips one value by its structure; resolves with the module name for module values.
   * Undefined when it was done synchronously (a one-string value already buffered).
   */
  private skipValue(type: number): Promise<string | undefined> | undefined {
    switch (type) {
      case RDB_TYPE.STRING:
      case RDB_TYPE.HASH_ZIPMAP:
      case RDB_TYPE.LIST_ZIPLIST:
      case RDB_TYPE.SET_INTSET:
      case RDB_TYPE.ZSET_ZIPLIST:
      case RDB_TYPE.HASH_ZIPLIST:
      case RDB_TYPE.HASH_LISTPACK:
      case RDB_TYPE.ZSET_LISTPACK:
      case RDB_TYPE.SET_LISTPACK:
      case RDB_TYPE.HASH_LISTPACK_EX_PRE_GA: {
        const p = this.skipString();
        return p ? p.then(() => undefined) : undefined;
      }
      default:
        return this.skipComposite(type);
    }
  }

  private async skipComposite(type: number): Promise<string | undefined> {
    const T = RDB_TYPE;
    switch (type) {
      case T.HASH_LISTPACK_EX:
        await this.skipBytes(8);
        await this.skipString();
        return;
      case T.LIST:
      case T.SET:
      case T.LIST_QUICKLIST:
        for (let n = await this.len(); n > 0; n--) {
          const p = this.skipString();
          if (p) await p;
        }
        return;
      case T.LIST_QUICKLIST_2:
        for (let n = await this.len(); n > 0; n--) {
          const container = await this.len();
          if (container !== 1 && container !== 2) {
            throw this.error(`quicklist node container ${container} is neither plain (1) nor packed (2)`);
          }
          const p = this.skipString();
          if (p) await p;
        }
        return;
      case T.HASH:
        for (let n = await this.len(); n > 0; n--) {
          await this.skipString();
          await this.skipString();
        }
        return;
      case T.ZSET:
        for (let n = await this.len(); n > 0; n--) {
          await this.skipString();
          if (!this.r.has(1)) await this.r.fill(1);
          const len = this.r.u8();
          if (len < 253) await this.skipBytes(len); // 253..255: NaN, +inf, -inf
        }
        return;
      case T.ZSET_2:
        for (let n = await this.len(); n > 0; n--) {
          await this.skipString();
          await this.skipBytes(8);
        }
        return;
      case T.HASH_METADATA_PRE_GA:
      case T.HASH_METADATA:
        if (type === T.HASH_METADATA) await this.skipBytes(8);
        for (let n = await this.len(); n > 0; n--) {
          await this.len(); // field TTL
          await this.skipString();
          await this.skipString();
        }
        return;
      case T.STREAM_LISTPACKS:
      case T.STREAM_LISTPACKS_2:
      case T.STREAM_LISTPACKS_3:
        await this.skipStream(type);
        return;
      case T.MODULE_2:
        return this.skipModuleValue();
      case T.MODULE_PRE_GA:
        throw this.error(
          `${this.keyName()} in db ${this.db} holds a module value in the pre-4.0 format (type 6), which cannot be read without its module`,
        );
      default:
        throw this.error(`unknown RDB value type ${type} for ${this.keyName()} in db ${this.db}`);
    }
  }

  private async skipStream(type: number): Promise<void> {
    for (let n = await this.len(); n > 0; n--) {
      await this.skipString(); // master entry id (16 bytes)
      await this.skipString(); // listpack
    }
    await this.len(); // length
    await this.len(); // last id ms
    await this.len(); // last id seq
    if (type >= RDB_TYPE.STREAM_LISTPACKS_2) {
      for (let k = 0; k < 5; k++) await this.len(); // first id, max deleted id, entries added
    }
    for (let groups = await this.len(); groups > 0; groups--) {
      await this.skipString(); // name
      await this.len(); // last id ms
      await this.len(); // last id seq
      if (type >= RDB_TYPE.STREAM_LISTPACKS_2) await this.len(); // entries read
      for (let pel = await this.len(); pel > 0; pel--) {
        await this.skipBytes(16 + 8); // id, delivery time
        await this.len(); // delivery count
      }
      for (let consumers = await this.len(); consumers > 0; consumers--) {
        await this.skipString(); // name
        await this.skipBytes(type >= RDB_TYPE.STREAM_LISTPACKS_3 ? 16 : 8); // seen (and active) time
        for (let pel = await this.len(); pel > 0; pel--) await this.skipBytes(16);
      }
    }
  }

  /** Module values (type 7) describe themselves: an id, then typed fields up to an EOF mark. */
  private async skipModuleValue(): Promise<string> {
    const id = await this.lenBig();
    await this.skipModuleFields();
    return moduleName(id);
  }

  private async skipModuleAux(): Promise<void> {
    await this.lenBig(); // module id
    const whenOpcode = await this.len();
    if (whenOpcode !== 2) throw this.error(`module aux data with a malformed "when" field (${whenOpcode})`);
    await this.len(); // when
    await this.skipModuleFields();
  }

  private async skipModuleFields(): Promise<void> {
    for (;;) {
      const op = await this.len();
      switch (op) {
        case 0:
          return;
        case 1:
        case 2:
          await this.len();
          break;
        case 3:
          await this.skipBytes(4);
          break;
        case 4:
          await this.skipBytes(8);
          break;
        case 5:
          await this.skipString();
          break;
        default:
          throw this.error(`module value with an unknown field opcode ${op}`);
      }
    }
  }

  private async finish(): Promise<void> {
    const r = this.r;
    r.flushTaps();
    const expected = this.fileCrc.crc.digestLE();
    r.removeTap(this.fileCrc);
    if (this.version >= 5) {
      await r.fill(8);
      const stored = r.take(8);
      if (!stored.equals(Buffer.alloc(8))) {
        if (!stored.equals(expected)) {
          throw this.error(
            `the RDB checksum does not match (stored ${stored.toString('hex')}, computed ${expected.toString('hex')}): the file is corrupt`,
          );
        }
        this.summary.checksum = 'verified';
      }
    }
    this.summary.bytes = r.offset;
    if (!(await r.atEnd())) {
      throw this.error(`unexpected bytes after the end of the RDB file (at byte ${r.offset})`);
    }
  }

  // --- primitives -------------------------------------------------------------------------

  /** A length (not a string encoding). */
  private async len(): Promise<number> {
    if (!this.r.has(9)) await this.r.fillSoft(9);
    return this.lenSync();
  }

  /** A length from buffered bytes (9 buffered, or the stream ends: then TruncatedError). */
  private lenSync(): number {
    const r = this.r;
    const first = r.u8();
    const kind = first >> 6;
    if (kind === 0) return first & 0x3f;
    if (kind === 1) return ((first & 0x3f) << 8) | r.u8();
    if (first === 0x80) return r.take(4).readUInt32BE(0);
    if (first === 0x81) {
      const b = r.take(8);
      const v = b.readUInt32BE(0) * 2 ** 32 + b.readUInt32BE(4);
      if (v > Number.MAX_SAFE_INTEGER) throw this.error('a length beyond 2^53 (corrupt file?)');
      return v;
    }
    throw this.error(`a length was expected, found the string encoding byte 0x${first.toString(16)}`);
  }

  /** A 64-bit length as a bigint (module ids). */
  private async lenBig(): Promise<bigint> {
    const r = this.r;
    if (!r.has(9)) await r.fillSoft(9);
    if (r.peek() === 0x81) {
      r.u8();
      return r.take(8).readBigUInt64BE(0);
    }
    return BigInt(await this.len());
  }

  /** Buffered bytes that always hold a whole string header. */
  private static readonly HEADER = 19;

  /** Reads a string header from buffered bytes into hKind, hSize, hLength, hInt. */
  private headerSync(): void {
    const r = this.r;
    const first = r.peek();
    if (first >> 6 !== 3) {
      this.hKind = 0;
      this.hSize = this.lenSync();
      return;
    }
    r.u8();
    this.hKind = 1;
    this.hSize = 0;
    switch (first & 0x3f) {
      case 0:
        this.hInt = r.take(1).readInt8(0);
        return;
      case 1:
        this.hInt = r.take(2).readInt16LE(0);
        return;
      case 2:
        this.hInt = r.take(4).readInt32LE(0);
        return;
      case 3:
        this.hKind = 2;
        this.hSize = this.lenSync();
        this.hLength = this.lenSync();
        return;
      default:
        throw this.error(`unknown string encoding 0x${first.toString(16)}`);
    }
  }

  private async header(): Promise<void> {
    if (!this.r.has(Parser.HEADER)) await this.r.fillSoft(Parser.HEADER);
    this.headerSync();
  }

  /** A whole string (keys, AUX fields, function code), decompressed; sync when buffered. */
  private string(): Buffer | Promise<Buffer> {
    const r = this.r;
    if (!r.has(Parser.HEADER)) return this.stringAsync();
    this.headerSync();
    if (this.hKind === 1) return Buffer.from(String(this.hInt), 'latin1');
    if (!r.has(this.hSize)) return this.stringBody(this.hKind, this.hSize, this.hLength);
    return this.decoded(this.hKind, Buffer.from(r.take(this.hSize)), this.hLength);
  }

  private async stringAsync(): Promise<Buffer> {
    await this.header();
    if (this.hKind === 1) return Buffer.from(String(this.hInt), 'latin1');
    return this.stringBody(this.hKind, this.hSize, this.hLength);
  }

  private async stringBody(kind: number, size: number, length: number): Promise<Buffer> {
    await this.r.fill(size);
    return this.decoded(kind, Buffer.from(this.r.take(size)), length);
  }

  private decoded(kind: number, stored: Buffer, length: number): Buffer {
    if (kind === 0) return stored;
    try {
      return lzfDecompress(stored, length);
    } catch (err) {
      throw this.error(`a compressed string does not decompress: ${(err as Error).message}`);
    }
  }

  /** Skips a string; undefined when done synchronously. */
  private skipString(): Promise<void> | undefined {
    const r = this.r;
    if (!r.has(Parser.HEADER)) return this.skipStringAsync();
    this.headerSync();
    if (this.hKind === 1) return;
    if (r.has(this.hSize)) {
      r.drop(this.hSize);
      return;
    }
    return r.skip(this.hSize);
  }

  private async skipStringAsync(): Promise<void> {
    await this.header();
    if (this.hKind !== 1) await this.skipBytes(this.hSize);
  }

  private async skipBytes(n: number): Promise<void> {
    const r = this.r;
    if (r.has(n)) r.drop(n);
    else await r.skip(n);
  }

  /** The current key for messages: "key "name"", or "a key" when it was skipped unread. */
  private keyName(): string {
    return this.key ? `key ${describeKey(this.key)}` : 'a key';
  }

  private error(message: string): RdbFormatError {
    return new RdbFormatError(message, this.r.offset);
  }
}

const MODULE_CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A module type id holds a 9-character name (6 bits each) and a 10-bit encoding version. */
export function moduleName(id: bigint): string {
  let name = '';
  for (let i = 0; i < 9; i++) name += MODULE_CHARSET[Number((id >> BigInt(64 - 6 * (i + 1))) & 63n)];
  return name;
}

/** A key for messages: quoted, with bytes outside printable ASCII escaped, shortened. */
export function describeKey(key: Uint8Array): string {
  let out = '';
  for (const b of key.subarray(0, 80)) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `"${out}${key.length > 80 ? '...' : ''}"`;
}
