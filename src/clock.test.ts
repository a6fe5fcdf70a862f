import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock, TestClock } from './clock.js';

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

test('an abandoned sleep wakes at once and no longer counts as sleeping, on both clocks', async () => {
  const clock = new TestClock();
  const wait = new AbortController();
  const sleeper = clock.sleep(100, wait.signal);
  wait.abort();
  await sleeper;
  let slept = false;
  void clock.sleeping().then(() => {
    slept = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(slept, false, 'the abandoned sleeper is gone');
  const system = new AbortController();
  const t0 = Date.now();
  const long = systemClock.sleep(60_000, system.signal);
  system.abort();
  await long;
  assert.ok(Date.now() - t0 < 1000);
});
