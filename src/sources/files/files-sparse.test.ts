import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SPARSE_BLOCK, SparseWriter } from './files-sparse.js';

/** Feeds `data` in pieces of `piece` bytes; returns the writes made and the rebuilt bytes. */
async function feed(data: Buffer, piece: number) {
  const writes: Array<[number, number]> = [];
  const out = Buffer.alloc(data.length);
  const writer = new SparseWriter(async (buffer, offset, length, position) => {
    writes.push([position, length]);
    buffer.copy(out, position, offset, offset + length);
  });
  for (let at = 0; at < data.length; at += piece) await writer.push(data.subarray(at, at + piece));
  await writer.end();
  return { writes, out, size: writer.size };
}

test('zero blocks are skipped, others written in runs, whatever the piece size', async () => {
  const data = Buffer.alloc(SPARSE_BLOCK * 10 + 100);
  data.fill(1, 0, SPARSE_BLOCK * 2); // blocks 0-1
  data[SPARSE_BLOCK * 5 + 7] = 9; // block 5
  data.fill(2, SPARSE_BLOCK * 10); // the partial tail
  for (const piece of [1000, SPARSE_BLOCK, 7 * 1024 + 3, data.length]) {
    const { writes, out, size } = await feed(data, piece);
    assert.equal(size, data.length);
    assert.ok(out.equals(data), `bytes rebuilt with pieces of ${piece}`);
    const written = writes.reduce((sum, [, length]) => sum + length, 0);
    assert.equal(written, SPARSE_BLOCK * 3 + 100, `only non-zero blocks written with pieces of ${piece}`);
  }
});

test('an all-zero stream writes nothing', async () => {
  const { writes, size } = await feed(Buffer.alloc(SPARSE_BLOCK * 3 + 5), 4000);
  assert.deepEqual(writes, []);
  assert.equal(size, SPARSE_BLOCK * 3 + 5);
});
