/**
 * @module sources/redis/lzf
 * LZF decompression, for the compressed strings of an RDB file whose content lifeboat needs
 * (key names, AUX fields, function code). Values are never decompressed: RESTORE takes them
 * as they are.
 */

/** Decompresses `input` into exactly `length` bytes; throws on malformed input. */
export function lzfDecompress(input: Uint8Array, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    const ctrl = input[ip++];
    if (ctrl < 32) {
      const run = ctrl + 1;
      if (op + run > length || ip + run > input.length) throw new Error('lzf: literal run out of bounds');
      out.set(input.subarray(ip, ip + run), op);
      ip += run;
      op += run;
      continue;
    }
    let len = ctrl >> 5;
    if (len === 7) {
      if (ip >= input.length) throw new Error('lzf: truncated back reference');
      len += input[ip++];
    }
    if (ip >= input.length) throw new Error('lzf: truncated back reference');
    const ref = op - ((ctrl & 0x1f) << 8) - 1 - input[ip++];
    len += 2;
    if (ref < 0 || op + len > length) throw new Error('lzf: back reference out of bounds');
    // Byte by byte: the source may overlap what is being written (runs).
    for (let k = 0; k < len; k++) out[op++] = out[ref + k];
  }
  if (op !== length) throw new Error(`lzf: produced ${op} bytes, expected ${length}`);
  return out;
}
