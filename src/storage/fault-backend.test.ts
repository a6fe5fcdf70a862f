import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBackendContract } from '../testing/backend-contract.js';
import { createMemoryBackend } from '../testing/memory-backend.js';
import { withFaults } from './fault-backend.js';

// With an empty plan the wrapper must be invisible.
runBackendContract('fault wrapper without faults', async () => ({
  backend: withFaults(createMemoryBackend(), {}),
  cleanup: async () => {},
}));

test('fault: saves after failSaveAfter fail, store nothing, and stop after heal()', async () => {
  const inner = createMemoryBackend();
  const b = withFaults(inner, { failSaveAfter: 2, failSaveOf: (h) => h.type === 'pack' });
  await b.save({ type: 'key', name: 'k1' }, Buffer.from('k'));
  await b.save({ type: 'pack', name: 'p1' }, Buffer.from('1'));
  await b.save({ type: 'pack', name: 'p2' }, Buffer.from('2'));
  await assert.rejects(b.save({ type: 'pack', name: 'p3' }, Buffer.from('3')), {
    code: 'storage_failed',
    retryable: true,
  });
  await assert.rejects(inner.stat({ type: 'pack', name: 'p3' }), { code: 'not_found' });
  await b.save({ type: 'index', name: 'i1' }, Buffer.from('i'));
  assert.equal(b.saves, 3);
  assert.equal(b.failedSaves, 1);
  b.heal();
  await b.save({ type: 'pack', name: 'p3' }, Buffer.from('3'));
  assert.deepEqual(await inner.load({ type: 'pack', name: 'p3' }), Buffer.from('3'));
});

test('fault: failing and corrupting loads', async () => {
  const b = withFaults(createMemoryBackend(), {
    failLoadOf: (h) => h.name === 'bad',
    corrupt: (h) => h.name === 'flipped',
  });
  await b.save({ type: 'pack', name: 'bad' }, Buffer.from('abc'));
  await b.save({ type: 'pack', name: 'flipped' }, Buffer.from('abc'));
  await assert.rejects(b.load({ type: 'pack', name: 'bad' }), { code: 'storage_failed', retryable: true });
  assert.deepEqual(await b.load({ type: 'pack', name: 'flipped' }), Buffer.from('acc'));
  b.heal();
  assert.deepEqual(await b.load({ type: 'pack', name: 'flipped' }), Buffer.from('abc'));
});
