import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryBackend } from '../testing/memory-backend.js';
import { TokenBucket, withLimits } from './limit-backend.js';

function fakeTime() {
  let now = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => now,
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('limits: the token bucket holds the long-run rate and allows one second of burst', async () => {
  const t = fakeTime();
  const bucket = new TokenBucket(1000, t.now, t.sleep);
  await bucket.take(1000); // the initial second of burst
  assert.deepEqual(t.waits, []);
  await bucket.take(500);
  await bucket.take(1500);
  assert.deepEqual(t.waits, [500, 1500]);
  t.advance(10_000); // idle time refills at most one second's worth
  await bucket.take(1000);
  await bucket.take(1);
  assert.deepEqual(t.waits, [500, 1500, 1]);
});

test('limits: uploads and downloads are limited separately; unlimited is the bare backend', async () => {
  const t = fakeTime();
  const inner = createMemoryBackend();
  assert.equal(withLimits(inner, {}), inner);
  const b = withLimits(inner, {
    uploadBytesPerSecond: 1024,
    downloadBytesPerSecond: 2048,
    now: t.now,
    sleep: t.sleep,
  });
  const h = { type: 'pack' as const, name: 'aa00' };
  await b.save(h, Buffer.alloc(3072));
  assert.deepEqual(t.waits, [2000]);
  assert.equal((await b.load(h)).length, 3072);
  assert.deepEqual(t.waits, [2000, 500]);
  await b.load(h, 0, 2048);
  assert.deepEqual(t.waits, [2000, 500, 1000]);
});
