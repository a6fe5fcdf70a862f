/**
 * @module repo/compress
 * zstd compression of blobs; a blob is stored raw when compression does not make it smaller.
 */
import { createRequire } from 'node:module';
import { Compressor, Decompressor } from 'zstd-napi';
import { LifeboatError } from '../errors.js';

// The binding's DCtx decompresses into a buffer the caller gives (the package's Decompressor
// always allocates its result).
const binding = createRequire(import.meta.url)(
  'zstd-napi/binding.js',
) as typeof import('zstd-napi/binding.js');

export const DEFAULT_ZSTD_LEVEL = 3;

const compressors = new Map<number, Compressor>();
let decompressor: Decompressor | undefined;
let dctx: InstanceType<typeof binding.DCtx> | undefined;

function compressorFor(level: number): Compressor {
  let c = compressors.get(level);
  if (!c) {
    c = new Compressor();
    c.setParameters({ compressionLevel: level });
    compressors.set(level, c);
  }
  return c;
}

/** Compressed bytes, or undefined when compressing would not save space. */
export function compress(data: Uint8Array, level = DEFAULT_ZSTD_LEVEL): Buffer | undefined {
  if (data.length < 64) return undefined;
  const out = compressorFor(level).compress(data);
  return out.length < data.length ? out : undefined;
}

/** Largest scratch buffer kept for compressScratch (enough for most chunks: 1 MiB average). */
const SCRATCH_KEEP = 4 * 1024 * 1024;
let scratch: Buffer | undefined;

/**
 * compress() into a buffer reused by the next call: the result is a view valid until then,
 * for a caller that seals it (a copy) right away. Compressing a blob otherwise allocates a
 * buffer of its bound (and a trimmed copy), external memory the garbage collector chases.
 */
export function compressScratch(data: Uint8Array, level = DEFAULT_ZSTD_LEVEL): Buffer | undefined {
  if (data.length < 64) return undefined;
  const bound = binding.compressBound(data.length);
  let into = scratch;
  if (!into || into.length < bound) {
    into = Buffer.allocUnsafeSlow(bound);
    if (bound <= SCRATCH_KEEP) scratch = into;
  }
  const n = cctxFor(level).compress2(into, data);
  return n < data.length ? into.subarray(0, n) : undefined;
}

const cctxs = new Map<number, InstanceType<typeof binding.CCtx>>();

function cctxFor(level: number): InstanceType<typeof binding.CCtx> {
  let c = cctxs.get(level);
  if (!c) {
    c = new binding.CCtx();
    c.setParameter(binding.CParameter.compressionLevel, level);
    cctxs.set(level, c);
  }
  return c;
}

/** Decompresses `data`, into `into` (exactly `rawLength` bytes) when given. */
export function decompress(data: Uint8Array, rawLength: number, what: string, into?: Buffer): Buffer {
  let out: Buffer;
  try {
    if (into) {
      dctx ??= new binding.DCtx();
      // Fails when the content does not fit: damage, like a wrong length.
      out = into.subarray(0, dctx.decompress(into, data));
    } else {
      decompressor ??= new Decompressor();
      out = decompressor.decompress(data);
    }
  } catch (err) {
    throw new LifeboatError('integrity', `[repo] ${what} is damaged: cannot decompress`, { cause: err });
  }
  if (out.length !== rawLength) {
    throw new LifeboatError('integrity', `[repo] ${what} is damaged: decompressed to the wrong length`);
  }
  return out;
}
