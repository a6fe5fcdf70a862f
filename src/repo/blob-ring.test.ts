import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlobRing } from './blob-ring.js';

describe('BlobRing', () => {
  it('hands out regions in order and takes them back in any order', () => {
    const ring = new BlobRing(100);
    const a = ring.take(40) as Buffer;
    const b = ring.take(40) as Buffer;
    assert.equal(a.byteOffset, 0);
    assert.equal(b.byteOffset, 40);
    assert.ok(a.buffer instanceof SharedArrayBuffer && ring.holds(a));
    assert.equal(ring.take(40), undefined, 'only 20 bytes left at the end, none at the start');
    ring.release(b); // out of order: the oldest (a) still bounds the ring
    assert.equal(ring.take(40), undefined);
    ring.release(a);
    assert.equal(ring.held, 0);
    const c = ring.take(60) as Buffer;
    assert.equal(c.byteOffset, 0, 'an empty ring starts again at 0');
  });

  it('wraps around to the start when the end has no room', () => {
    const ring = new BlobRing(100);
    const a = ring.take(30) as Buffer;
    const b = ring.take(50) as Buffer;
    ring.release(a);
    const c = ring.take(25) as Buffer;
    assert.equal(c.byteOffset, 0, '20 bytes at the end are too few: from the start');
    assert.equal(ring.take(10), undefined, 'between c and b: 5 bytes');
    const d = ring.take(5) as Buffer;
    assert.equal(d.byteOffset, 25);
    ring.release(b);
    // b was the oldest: c and d are now, and the end is free again.
    const e = ring.take(70) as Buffer;
    assert.equal(e.byteOffset, 30);
    assert.equal(ring.held, 25 + 5 + 70);
    for (const x of [c, d, e]) ring.release(x);
    assert.equal(ring.held, 0);
  });

  it('ignores what it did not lend, a second release, and sizes it cannot hold', () => {
    const ring = new BlobRing(64);
    const a = ring.take(32) as Buffer;
    ring.release(Buffer.alloc(32));
    ring.release(a.subarray(8)); // does not start a region
    assert.equal(ring.held, 32);
    ring.release(a.subarray(0, 4)); // starts a: gives it back
    ring.release(a);
    assert.equal(ring.held, 0);
    assert.equal(ring.take(65), undefined);
    assert.equal(ring.take(0), undefined);
  });
});
