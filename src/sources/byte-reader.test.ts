import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ByteReader, TruncatedError } from './byte-reader.js';

async function* pieces(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length];
    yield data.subarray(at, at + n);
    at += n;
  }
}

/**
 * Reads `data` as records (a 2-byte length, then that many bytes, every third one skipped
 * in pieces): what comes out, the offsets and what a tap saw must not depend on how the
 * stream was cut.
 */
async function readAll(data: Buffer, sizes: number[]) {
  const r = new ByteReader(pieces(data, sizes));
  const tapped = createHash('sha256');
  r.addTap({ bytes: (b, s, e) => tapped.update(b.subarray(s, e)) });
  const out = createHash('sha256');
  const offsets: number[] = [];
  for (let i = 0; !(await r.atEnd()); i++) {
    offsets.push(r.offset);
    if (!r.has(2)) await r.fill(2);
    const len = r.take(2).readUInt16LE(0);
    if (i % 3 === 2) await r.skip(len, (piece) => void out.update(piece));
    else {
      if (!r.has(len)) await r.fill(len);
      out.update(r.take(len));
    }
  }
  r.flushTaps();
  return { out: out.digest('hex'), tapped: tapped.digest('hex'), offsets, end: r.offset };
}

test('records read the same however the stream is cut, every byte tapped once in order', async () => {
  const parts: Buffer[] = [];
  for (let i = 0; i < 400; i++) {
    const len = [0, 1, 5, 100, 3000, 5000, 20_000][i % 7];
    const head = Buffer.alloc(2);
    head.writeUInt16LE(len);
    parts.push(head, randomBytes(len));
  }
  const data = Buffer.concat(parts);
  const whole = createHash('sha256').update(data).digest('hex');
  const first = await readAll(data, [data.length]);
  assert.equal(first.tapped, whole);
  assert.equal(first.end, data.length);
  for (const sizes of [[1], [7], [4095, 4097], [3, 65536], [65536], [10_000, 1, 2]]) {
    const got = await readAll(data, sizes);
    assert.deepEqual(got, first, `pieces of ${sizes.join(', ')}`);
  }
});

test('a stream ending inside a record is reported where it ends', async () => {
  const data = Buffer.from([10, 0, 1, 2, 3]); // a 10-byte record with 3 bytes
  const r = new ByteReader(pieces(data, [1, 2]));
  await r.fill(2);
  r.take(2);
  await assert.rejects(r.fill(10), (err) => err instanceof TruncatedError && err.offset === 5);
});
