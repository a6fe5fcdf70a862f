/**
 * @module repo/compress
 * zstd compression of blobs; a blob is stored raw when compression does not make it smaller.
 */
import { Compressor, Decompressor } from 'zstd-napi';
import { LifeboatError } from '../errors.js';

export const DEFAULT_ZSTD_LEVEL = 3;

const compressors = new Map<number, Compressor>();
let decompressor: Decompressor | undefined;

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

export function decompress(data: Uint8Array, rawLength: number, what: string): Buffer {
  decompressor ??= new Decompressor();
  let out: Buffer;
  try {
    out = decompressor.decompress(data);
  } catch (err) {
    throw new LifeboatError('integrity', `[repo] ${what} is damaged: cannot decompress`, { cause: err });
  }
  if (out.length !== rawLength) {
    throw new LifeboatError('integrity', `[repo] ${what} is damaged: decompressed to the wrong length`);
  }
  return out;
}
