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
