/**
 * @module repo/chunker
 * Content-defined chunking with FastCDC and normalized chunking (Xia et al. 2016): a stream
 * is cut where a gear hash of the last 32 bytes matches a mask, so an insertion moves only
 * the boundaries near it and the rest of the stream deduplicates. The gear table comes from
 * a per-repository secret seed. Byte-level rules are in docs/format.md ("Chunker").
 */
import { createHmac } from 'node:crypto';
import { LifeboatError } from '../errors.js';

export interface ChunkerParams {
  /** No cut before this many bytes. */
  minSize: number;
  /** Target size; a power of two. The mean on random data is about 1.2 × avgSize. */
  avgSize: number;
  /** Forced cut at this many bytes. */
  maxSize: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = {
  minSize: 512 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 8 * 1024 * 1024,
};

/** Normalization level: the masks have log2(avgSize) ± this many bits. */
const NORMALIZATION = 2;
const GEAR_DOMAIN = Buffer.from('lifeboat gear v1', 'ascii');
/** Smallest buffer kept for a chunk in progress; grown by doubling up to maxSize. */
const INITIAL_BUFFER = 64 * 1024;

/**
 * The 256-entry gear table from a 32-byte secret seed: block j (0..31) is
 * HMAC-SHA-256(key = seed, message = "lifeboat gear v1" || byte j), read as eight
 * big-endian 32-bit words, giving entries 8j..8j+7.
 */
export function gearTable(seed: Buffer): Uint32Array {
  if (seed.length !== 32) {
    throw new LifeboatError('internal', `[chunker] gear seed must be 32 bytes, got ${seed.length}`);
  }
  const gear = new Uint32Array(256);
  for (let j = 0; j < 32; j++) {
    const block = createHmac('sha256', seed).update(GEAR_DOMAIN).update(Buffer.of(j)).digest();
    for (let k = 0; k < 8; k++) gear[j * 8 + k] = block.readUInt32BE(k * 4);
  }
  return gear;
}

/** A mask of the top `bits` bits of a 32-bit word, as a signed int32 (matches `hash | 0`). */
function topBits(bits: number): number {
  return (~0 << (32 - bits)) | 0;
}

/** Checks the parameters; they come from a repository config, so damage is reported as such. */
export function validateChunkerParams(p: ChunkerParams): void {
  const { minSize, avgSize, maxSize } = p;
  const ok =
    Number.isInteger(minSize) &&
    Number.isInteger(avgSize) &&
    Number.isInteger(maxSize) &&
    minSize >= 64 &&
    minSize <= avgSize &&
    avgSize <= maxSize &&
    maxSize <= 1024 * 1024 * 1024 &&
    avgSize >= 256 &&
    avgSize <= 2 ** 28 &&
    (avgSize & (avgSize - 1)) === 0;
  if (!ok) {
    throw new LifeboatError(
      'config_invalid',
      `[chunker] invalid chunker parameters min=${minSize} avg=${avgSize} max=${maxSize} (need 64 <= min <= avg <= max <= 1 GiB, avg a power of two between 256 B and 256 MiB)`,
    );
  }
}

/** Scanning constants of one Chunker, passed to the hot loop as plain numbers. */
interface ScanRules {
  gear: Int32Array;
  minSize: number;
  avgSize: number;
  maxSize: number;
  maskS: number;
  maskL: number;
}

/**
 * Hashes data[i..limit) and returns the index just after the first byte whose hash matches
 * `mask`, or -1 with the running hash left in state[0]. Unrolled by four: about 1.4× faster
 * in V8 than the plain loop, with the same result.
 */
function scanRegion(
  data: Uint8Array,
  i: number,
  limit: number,
  mask: number,
  gear: Int32Array,
  state: Int32Array,
): number {
  let hash = state[0];
  const unrolled = limit - 3;
  for (; i < unrolled; i += 4) {
    hash = ((hash << 1) + gear[data[i]]) | 0;
    if ((hash & mask) === 0) return cutAt(state, i + 1);
    hash = ((hash << 1) + gear[data[i + 1]]) | 0;
    if ((hash & mask) === 0) return cutAt(state, i + 2);
    hash = ((hash << 1) + gear[data[i + 2]]) | 0;
    if ((hash & mask) === 0) return cutAt(state, i + 3);
    hash = ((hash << 1) + gear[data[i + 3]]) | 0;
    if ((hash & mask) === 0) return cutAt(state, i + 4);
  }
  for (; i < limit; i++) {
    hash = ((hash << 1) + gear[data[i]]) | 0;
    if ((hash & mask) === 0) return cutAt(state, i + 1);
  }
  state[0] = hash;
  return -1;
}

/** A new chunk starts with a zero hash. */
function cutAt(state: Int32Array, index: number): number {
  state[0] = 0;
  return index;
}

/**
 * Continues a chunk that already holds `len` bytes over data[pos..end). Returns the index in
 * `data` just after the cut, or -1 when the data ends first (state[0] then carries the hash
 * into the next piece). Plain functions, not the generator, so V8 optimizes the hot loop.
 */
function findCut(
  data: Uint8Array,
  pos: number,
  end: number,
  len: number,
  state: Int32Array,
  r: ScanRules,
): number {
  // `base` is where the chunk began, in data's coordinates (negative when it began earlier).
  const base = pos - len;
  let i = base + r.minSize;
  if (i >= end) return -1; // still inside the unhashed prefix
  if (i < pos) i = pos;
  const normalEnd = Math.min(end, base + r.avgSize);
  if (i < normalEnd) {
    const cut = scanRegion(data, i, normalEnd, r.maskS, r.gear, state);
    if (cut >= 0) return cut;
    i = normalEnd;
  }
  const maxEnd = Math.min(end, base + r.maxSize);
  if (i < maxEnd) {
    const cut = scanRegion(data, i, maxEnd, r.maskL, r.gear, state);
    if (cut >= 0) return cut;
    i = maxEnd;
  }
  if (i === base + r.maxSize) return cutAt(state, i);
  return -1;
}

export class Chunker {
  private readonly rules: ScanRules;

  constructor(
    readonly params: ChunkerParams,
    gear: Uint32Array,
  ) {
    validateChunkerParams(params);
    if (gear.length !== 256)
      throw new LifeboatError('internal', '[chunker] gear table must have 256 entries');
    const bits = Math.log2(params.avgSize);
    this.rules = {
      // Same bits read as int32, so the loop stays in 32-bit integer arithmetic.
      gear: new Int32Array(gear.buffer, gear.byteOffset, 256),
      minSize: params.minSize,
      avgSize: params.avgSize,
      maxSize: params.maxSize,
      maskS: topBits(bits + NORMALIZATION),
      maskL: topBits(bits - NORMALIZATION),
    };
  }

  /** A stream cut piece by piece, for callers that hand over the input as it comes. */
  stream(alloc?: (length: number) => Buffer): ChunkStream {
    return new ChunkStream(this.rules, alloc);
  }

  /**
   * Yields the chunks of the concatenated input, each a fresh Buffer the caller may keep.
   * Memory: one chunk in progress (at most maxSize) plus the input piece being read.
   * Independent calls may run concurrently on one Chunker.
   */
  async *chunk(input: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
    const stream = this.stream();
    for await (const piece of input) yield* stream.push(piece);
    const last = stream.end();
    if (last) yield last;
  }
}

/**
 * The chunks of one stream, fed one piece at a time: push() returns the chunks that end in
 * the piece (fresh Buffers the caller may keep; the piece itself is not kept), end() the last.
 */
export class ChunkStream {
  private readonly state = new Int32Array(1);
  /** The start of the chunk in progress, copied out of earlier pieces. */
  private held = Buffer.allocUnsafe(0);
  private fill = 0;

  /** `alloc` gives the memory of each chunk handed out (a fresh buffer by default). */
  constructor(
    private readonly rules: ScanRules,
    private readonly alloc: (length: number) => Buffer = Buffer.allocUnsafeSlow,
  ) {}

  push(piece: Uint8Array): Buffer[] {
    const rules = this.rules;
    const out: Buffer[] = [];
    const end = piece.length;
    let pos = 0;
    while (pos < end) {
      const cut = findCut(piece, pos, end, this.fill, this.state, rules);
      if (cut < 0) {
        const need = this.fill + end - pos;
        if (need > this.held.length) {
          const grown = Buffer.allocUnsafe(
            Math.min(rules.maxSize, Math.max(need, this.held.length * 2, INITIAL_BUFFER)),
          );
          this.held.copy(grown, 0, 0, this.fill);
          this.held = grown;
        }
        this.held.set(piece.subarray(pos, end), this.fill);
        this.fill = need;
        break;
      }
      const chunk = this.alloc(this.fill + cut - pos);
      this.held.copy(chunk, 0, 0, this.fill);
      chunk.set(piece.subarray(pos, cut), this.fill);
      this.fill = 0;
      pos = cut;
      out.push(chunk);
    }
    return out;
  }

  /** The last chunk (what is left), if any. */
  end(): Buffer | undefined {
    if (this.fill === 0) return undefined;
    const chunk = this.alloc(this.fill);
    this.held.copy(chunk, 0, 0, this.fill);
    this.fill = 0;
    return chunk;
  }
}
