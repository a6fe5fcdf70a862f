import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { LifeboatError } from '../errors.js';
import { PackWindows } from './pack-windows.js';

/** Two packs in memory, and the reads and stats the windows make of them. */
function store() {
  const packs = new Map([
    ['a', randomBytes(10_000)],
    ['b', randomBytes(3_000)],
  ]);
  const reads: [string, number, number][] = [];
  let stats = 0;
  const load = async (pack: string, offset: number, length: number) => {
    reads.push([pack, offset, length]);
    const data = packs.get(pack);
    if (!data) throw new LifeboatError('not_found', `[storage] pack ${pack} not found`);
    if (offset + length > data.length)
      throw new LifeboatError('integrity', `[storage] pack ${pack} too short`);
    return Buffer.from(data.subarray(offset, offset + length));
  };
  const size = async (pack: string) => {
    stats++;
    const data = packs.get(pack);
    if (!data) throw new LifeboatError('not_found', `[storage] pack ${pack} not found`);
    return data.length;
  };
  return { packs, reads, load, size, stats: () => stats };
}

test('pack windows: neighbouring small reads share one storage read, bytes exact', async () => {
  const s = store();
  const w = new PackWindows(s.load, s.size, 4096, 2);
  const a = s.packs.get('a') as Buffer;
  // Eight small blobs one after the other, read at once (as parallel file restores do).
  const got = await Promise.all(Array.from({ length: 8 }, (_, i) => w.read('a', 100 + i * 400, 400)));
  for (const [i, g] of got.entries()) assert.deepEqual(g, a.subarray(100 + i * 400, 500 + i * 400));
  assert.deepEqual(s.reads, [['a', 100, 4096]]);
  // Past the window: a new one, ending at the pack's end; large reads go as they are.
  assert.deepEqual(await w.read('a', 9_000, 500), a.subarray(9_000, 9_500));
  assert.deepEqual(s.reads[1], ['a', 9_000, 1_000]);
  assert.deepEqual(await w.read('a', 0, 3_000), a.subarray(0, 3_000));
  assert.deepEqual(s.reads[2], ['a', 0, 3_000]);
  assert.equal(s.stats(), 1);
  // Only `keep` windows are held: the first is read again once two others came after it.
  assert.deepEqual(await w.read('b', 0, 10), (s.packs.get('b') as Buffer).subarray(0, 10));
  assert.deepEqual(await w.read('a', 100, 10), a.subarray(100, 110));
  assert.equal(s.reads.length, 5);
});

test('pack windows: a pack gone or too short fails as the range itself would', async () => {
  const s = store();
  const w = new PackWindows(s.load, s.size, 4096, 2);
  await assert.rejects(w.read('gone', 0, 10), { code: 'not_found', message: /pack gone not found/ });
  // Its size known, its window let go, then cut: the window fails, the range alone answers.
  await w.read('b', 0, 10);
  await w.read('a', 0, 10);
  await w.read('a', 5_000, 10);
  s.packs.set('b', Buffer.from((s.packs.get('b') as Buffer).subarray(0, 1_000)));
  await assert.rejects(w.read('b', 2_000, 10), { code: 'integrity' });
  assert.deepEqual(s.reads.slice(-2), [
    ['b', 2_000, 1_000],
    ['b', 2_000, 10],
  ]);
  assert.deepEqual(await w.read('b', 500, 10), (s.packs.get('b') as Buffer).subarray(500, 510));
});
