import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestClock } from './clock.js';

test('a test clock wakes its sleepers only when moved past their time, and says when one sleeps', async () => {
  const clock = new TestClock('2026-01-01T00:00:00Z');
  let woke = 0;
  const sleeping = clock.sleeping();
  const sleeper = clock.sleep(100).then(() => woke++);
  await sleeping;
  clock.tick(99);
  await Promise.resolve();
  assert.equal(woke, 0);
  clock.tick(1);
  await sleeper;
  assert.equal(woke, 1);
  assert.equal(clock.now().toISOString(), '2026-01-01T00:00:00.100Z');
});
