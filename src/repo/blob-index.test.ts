import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { BlobIndex } from './blob-index.js';
import type { PackEntry } from './pack.js';

const id = (n: number) => createHash('sha256').update(String(n)).digest();

test('blob index finds every entry across rehashes and keeps the first location', () => {
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
