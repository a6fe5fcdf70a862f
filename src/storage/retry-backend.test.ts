import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LifeboatError } from '../errors.js';
import { createMemoryBackend } from '../testing/memory-backend.js';
import { type Backend, type FileHandle, stillRead } from './backend.js';
import { withRetries } from './retry-backend.js';
import { storageError } from './transient-errors.js';

const H: FileHandle = { type: 'pack', name: 'aabbccdd00112233' };

/** A memory backend whose next `failures` calls fail with `make()`. */
function flaky(failures: number, make: () => Error = () => transient()): Backend & { calls: number } {
  const inner = createMemoryBackend('memory:flaky');
  let left = failures;
  const wrap = <T>(fn: () => Promise<T>) => {
    out.calls++;
    if (left-- > 0) return Promise.reject(make());
    return fn();
  };
  const out = {
    calls: 0,
    location: inner.location,
    capabilities: inner.capabilities,
    create: () => wrap(() => inner.create()),
    save: (h: FileHandle, d: Buffer) => wrap(() => inner.save(h, d)),
    load: (h: FileHandle, o?: number, l?: number) => wrap(() => inner.load(h, o, l)),
    stat: (h: FileHandle) => wrap(() => inner.stat(h)),
    remove: (h: FileHandle) => wrap(() => inner.remove(h)),
    list: (t: Parameters<Backend['list']>[0]) => inner.list(t),
    close: () => inner.close(),
  };
  return out;
}

function transient(retryAfterMs?: number): LifeboatError {
  return storageError('storage_failed', '[storage:test] HTTP 503', { retryable: true, retryAfterMs });
}

function recorder() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

test('retry: transient failures are retried with exponential backoff and full jitter', async () => {
  const inner = flaky(3);
  const { delays, sleep } = recorder();
  const b = withRetries(inner, { sleep, random: () => 1, baseDelayMs: 100, maxDelayMs: 350 });
  await b.save(H, Buffer.from('x'));
  assert.equal(inner.calls, 4);
  assert.deepEqual(delays, [100, 200, 350]);
  const half = recorder();
  await withRetries(flaky(2), { sleep: half.sleep, random: () => 0.5, baseDelayMs: 100 }).save(
    H,
    Buffer.from('x'),
  );
  assert.deepEqual(half.delays, [50, 100]);
});

test('retry: Retry-After from the server wins over a shorter backoff', async () => {
  const inner = flaky(1, () => transient(7000));
  const { delays, sleep } = recorder();
  await withRetries(inner, { sleep, random: () => 0.1 }).save(H, Buffer.from('x'));
  assert.deepEqual(delays, [7000]);
});

test('retry: answers are not retried (not_found, permission, retained)', async () => {
  for (const code of ['not_found', 'storage_failed', 'retained'] as const) {
    const inner = flaky(1, () => new LifeboatError(code, `[storage:test] ${code}`));
    const { delays, sleep } = recorder();
    await assert.rejects(withRetries(inner, { sleep }).stat(H), { code, message: `[storage:test] ${code}` });
    assert.equal(inner.calls, 1);
    assert.deepEqual(delays, []);
  }
});

test('retry: giving up names the store, the operation, the attempts and the last error', async () => {
  const inner = flaky(100);
  const { sleep } = recorder();
  await assert.rejects(
    withRetries(inner, { sleep, retries: 2, circuitBreakerAfter: 0 }).load(H),
    (err: Error) => {
      assert.equal((err as { code?: string }).code, 'storage_failed');
      assert.match(
        err.message,
        /^\[storage\] giving up on memory:flaky: read pack aabbccdd failed 3 times in [\d.]+s; last error: \[storage:test\] HTTP 503$/,
      );
      return true;
    },
  );
  assert.equal(inner.calls, 3);
});

test('retry: the circuit breaker opens after a run of failures and then fails fast', async () => {
  const inner = flaky(1000);
  const { sleep } = recorder();
  const b = withRetries(inner, { sleep, retries: 3, circuitBreakerAfter: 5, halfOpenAfterMs: 60_000 });
  await assert.rejects(b.save(H, Buffer.from('x')), /giving up/); // 4 failures
  await assert.rejects(b.save(H, Buffer.from('x')), (err: Error) => {
    assert.match(
      err.message,
      /^\[storage\] memory:flaky is unavailable: 5 requests in a row failed, so the circuit breaker stopped sending requests/,
    );
    assert.match(err.message, /last error: \[storage:test\] HTTP 503$/);
    return true;
  });
  assert.equal(inner.calls, 5);
  assert.ok(b.circuitOpen);
  // Fails fast without touching the store.
  await assert.rejects(b.stat(H), /unavailable/);
  assert.equal(inner.calls, 5);
});

test('retry: a request that hangs times out and is retried', async () => {
  const inner = createMemoryBackend('memory:slow');
  let first = true;
  const hanging: Backend = {
    location: inner.location,
    capabilities: inner.capabilities,
    create: () => inner.create(),
    stat: (h) => inner.stat(h),
    remove: (h) => inner.remove(h),
    close: () => inner.close(),
    save: (h, d) => {
      if (first) {
        first = false;
        return new Promise(() => {});
      }
      return inner.save(h, d);
    },
    load: (h, o, l) => inner.load(h, o, l),
    list: (t) => inner.list(t),
  };
  const { delays, sleep } = recorder();
  const b = withRetries(hanging, { sleep, timeoutMs: 50, random: () => 0 });
  const late = Buffer.from('late');
  await b.save(H, late);
  assert.deepEqual(await b.load(H), Buffer.from('late'));
  assert.equal(delays.length, 1);
  // The abandoned first attempt may still read the buffer: its caller must not reuse it.
  assert.equal(stillRead.has(late), true);
});

test('retry: a buffer saved at the first attempt is free to reuse; one retried or given up on is not', async () => {
  const first = Buffer.from('first');
  await withRetries(flaky(0)).save(H, first);
  assert.equal(stillRead.has(first), false);
  const retried = Buffer.from('retried');
  await withRetries(flaky(1), { sleep: async () => {} }).save(H, retried);
  assert.equal(stillRead.has(retried), true);
  const lost = Buffer.from('lost');
  await assert.rejects(withRetries(flaky(9), { sleep: async () => {}, retries: 2 }).save(H, lost));
  assert.equal(stillRead.has(lost), true);
});

test('retry: listings are retried whole, never yielding duplicates', async () => {
  const inner = createMemoryBackend('memory:list');
  for (const name of ['aa01', 'bb02', 'cc03']) await inner.save({ type: 'index', name }, Buffer.from(name));
  let attempts = 0;
  const broken: Backend = {
    location: inner.location,
    capabilities: inner.capabilities,
    create: () => inner.create(),
    save: (h, d) => inner.save(h, d),
    load: (h, o, l) => inner.load(h, o, l),
    stat: (h) => inner.stat(h),
    remove: (h) => inner.remove(h),
    close: () => inner.close(),
    async *list(t) {
      attempts++;
      let i = 0;
      for await (const f of inner.list(t)) {
        if (attempts === 1 && i++ === 2) throw transient();
        yield f;
      }
    },
  };
  const { sleep } = recorder();
  const names: string[] = [];
  for await (const f of withRetries(broken, { sleep }).list('index')) names.push(f.name);
  assert.deepEqual(names.sort(), ['aa01', 'bb02', 'cc03']);
  assert.equal(attempts, 2);
});
