import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryBackend } from '../testing/memory-backend.js';
import type { Backend, FileInfo } from './backend.js';
import { withCounting } from './counting-backend.js';
import { withFaults } from './fault-backend.js';
import { ForwardingBackend, OPTIONAL_METHODS } from './forwarding-backend.js';
import { withLimits } from './limit-backend.js';
import { withRetries } from './retry-backend.js';

/** Every wrapper in storage/, as used in production or tests, with settings that make it wrap. */
const WRAPPERS: Record<string, (b: Backend) => Backend> = {
  retry: (b) => withRetries(b, { retries: 0, circuitBreakerAfter: 0 }),
  limits: (b) => withLimits(b, { uploadBytesPerSecond: 1e9, downloadBytesPerSecond: 1e9 }),
  faults: (b) => withFaults(b, {}),
  counting: (b) => withCounting(b),
};

/** A memory backend with every optional method, each recording that it was called. */
function withEveryOption(calls: string[]): Backend {
  const b = createMemoryBackend();
  return Object.assign(b, {
    capabilities: { ...b.capabilities, retention: true, freeSpace: true },
    retentionUntil: async () => {
      calls.push('retentionUntil');
      return new Date(0);
    },
    removeUnfinished: async () => {
      calls.push('removeUnfinished');
      return 7;
    },
    async *listUnfinished(): AsyncIterable<FileInfo> {
      calls.push('listUnfinished');
      yield { name: 'tmp', size: 1 };
    },
    freeSpace: async () => {
      calls.push('freeSpace');
      return 42;
    },
    createIfAbsent: async () => {
      calls.push('createIfAbsent');
      return 'v1';
    },
    loadVersioned: async () => {
      calls.push('loadVersioned');
      return { data: Buffer.alloc(0), version: 'v1' };
    },
    replaceIfVersion: async () => {
      calls.push('replaceIfVersion');
      return 'v2';
    },
  });
}

async function callOptional(b: Backend, method: (typeof OPTIONAL_METHODS)[number]): Promise<void> {
  if (method === 'listUnfinished') {
    for await (const _ of b.listUnfinished!()) void _;
  } else if (method === 'retentionUntil' || method === 'loadVersioned') {
    await b[method]!({ type: 'pack', name: 'aa' });
  } else if (method === 'createIfAbsent') {
    await b.createIfAbsent!({ type: 'lock', name: 'aa' }, Buffer.alloc(0));
  } else if (method === 'replaceIfVersion') {
    await b.replaceIfVersion!({ type: 'lock', name: 'aa' }, Buffer.alloc(0), 'v1');
  } else {
    await b[method]!();
  }
}

for (const [name, wrap] of Object.entries(WRAPPERS)) {
  test(`${name} wrapper: passes on every optional method and capability of the backend it wraps`, async () => {
    const calls: string[] = [];
    const inner = withEveryOption(calls);
    const b = wrap(inner);
    assert.ok(b instanceof ForwardingBackend, `${name} wrapper extends ForwardingBackend`);
    assert.equal(b.unwrap(), inner);
    assert.deepEqual(b.capabilities, inner.capabilities);
    assert.equal(b.location, inner.location);
    for (const m of OPTIONAL_METHODS) {
      assert.equal(typeof b[m], 'function', `${name} wrapper drops ${m}`);
      await callOptional(b, m);
    }
    assert.deepEqual(calls, [...OPTIONAL_METHODS]);
  });

  test(`${name} wrapper: has no optional method the backend it wraps lacks`, () => {
    const b = wrap(createMemoryBackend());
    for (const m of OPTIONAL_METHODS) assert.equal(b[m], undefined, `${name} wrapper invents ${m}`);
  });
}
