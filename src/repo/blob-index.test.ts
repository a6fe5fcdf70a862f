import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { BlobIndex } from './blob-index.js';
import type { PackEntry } from './pack.js';

const id = (n: number) => createHash('sha256').update(String(n)).digest();

test('blob index finds every entry across rehashes, the first location first', () => {
  const index = new BlobIndex();
  const entries: PackEntry[] = [];
  for (let i = 0; i < 20_000; i++) {
    entries.push({
      type: i % 2 ? 'tree' : 'data',
      flags: i % 3 === 0 ? 1 : 0,
      id: id(i),
      offset: i * 10,
      length: 100 + i,
      rawLength: 200 + i,
    });
  }
  index.addPack('a'.repeat(64), entries.slice(0, 10_000));
  index.addPack('b'.repeat(64), entries.slice(5_000));
  assert.equal(index.size, 20_000);
  for (let i = 0; i < 20_000; i += 7) {
    const e = index.get(id(i));
    assert.ok(e, `entry ${i}`);
    assert.equal(e.pack, i < 10_000 ? 'a'.repeat(64) : 'b'.repeat(64));
    assert.equal(e.offset, i * 10);
    assert.equal(e.length, 100 + i);
    assert.equal(e.rawLength, 200 + i);
    assert.equal(e.type, i % 2 ? 'tree' : 'data');
    assert.equal(e.flags, i % 3 === 0 ? 1 : 0);
  }
  assert.equal(index.has(id(-1)), false);
  assert.deepEqual([...index.packs], ['a'.repeat(64), 'b'.repeat(64)]);
});

test('blob index keeps every location of an id stored twice, once per place', () => {
  const index = new BlobIndex();
  const entry = (i: number, offset: number): PackEntry => ({
    type: 'data',
    flags: 0,
    id: id(i),
    offset,
    length: 10,
    rawLength: 10,
  });
  const many = Array.from({ length: 5_000 }, (_, i) => entry(i, i * 10));
  index.addPack('a'.repeat(64), many);
  // Another index naming the same pack adds no copy; another pack does.
  index.addPack('a'.repeat(64), many.slice(0, 100));
  index.addPack('b'.repeat(64), [entry(7, 0), entry(9, 40)]);
  index.addPack('c'.repeat(64), [
    entry(7, 80),
    ...Array.from({ length: 5_000 }, (_, i) => entry(10_000 + i, i)),
  ]);
  assert.equal(index.size, 10_000);
  assert.deepEqual(
    index.locations(id(7)).map((e) => [e.pack[0], e.offset]),
    [
      ['a', 70],
      ['b', 0],
      ['c', 80],
    ],
  );
  assert.equal(index.get(id(7))?.pack, 'a'.repeat(64));
  assert.equal(index.hasCopies(id(9)), true);
  assert.equal(index.hasCopies(id(8)), false);
  assert.deepEqual(
    [...index.copies()].map((c) => c.length),
    [3, 2],
  );
  assert.equal([...index.entries()].length, 10_003);
  for (let i = 10_000; i < 15_000; i += 11) assert.equal(index.get(id(i))?.pack, 'c'.repeat(64));
});

test('blob index: a marked pack is read but not deduplicated against; a live copy comes first', () => {
  const index = new BlobIndex();
  const entry = (n: number): PackEntry => ({
    type: 'data',
    flags: 0,
    id: id(n),
    offset: n * 10,
    length: 10,
    rawLength: 10,
  });
  index.addMarked('m'.repeat(64), [entry(1), entry(2)], 1000);
  index.addMarked('m'.repeat(64), [entry(1), entry(2)], 500); // another file's earlier mark
  assert.equal(index.has(id(1)), false, 'new backups store it again');
  assert.equal(index.onlyMarked(id(1)), true);
  assert.deepEqual(
    index.locations(id(1)).map((e) => e.pack),
    ['m'.repeat(64)],
  );
  assert.equal(index.markedPacks().get('m'.repeat(64))?.markedAt, 500);
  assert.equal(index.hasPack('m'.repeat(64)), false);
  assert.equal(index.isMarked('m'.repeat(64)), true);
  index.addPack('l'.repeat(64), [entry(1)]);
  assert.equal(index.has(id(1)), true);
  assert.equal(index.onlyMarked(id(1)), false);
  assert.deepEqual(
    index.locations(id(1)).map((e) => e.pack),
    ['l'.repeat(64), 'm'.repeat(64)],
  );
});
