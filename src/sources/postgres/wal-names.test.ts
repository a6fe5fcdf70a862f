import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWalName, walGaps } from './wal-names.js';

test('WAL file names PostgreSQL archives are accepted, others refused', () => {
  for (const ok of [
    '000000010000000000000003',
    '00000002.history',
    '000000010000000000000003.00000028.backup',
    '000000010000000000000003.partial',
  ])
    assert.ok(isWalName(ok), ok);
  for (const bad of ['lifeboat.yaml', '../000000010000000000000003', '00000001000000000000000g', 'x.history'])
    assert.ok(!isWalName(bad), bad);
});

test('a timeline switch is not a gap', () => {
  const files = [
    '000000010000000000000003',
    '000000010000000000000004.partial',
    '00000002.history',
    '000000020000000000000004',
    '000000020000000000000005',
  ].map((name) => ({ name, object: name, size: 1 }));
  assert.deepEqual(walGaps(files, '000000010000000000000003'), []);
  assert.deepEqual(
    walGaps(
      files.filter((f) => !f.name.startsWith('0000000200')),
      '000000010000000000000003',
    ),
    [],
  );
  assert.deepEqual(walGaps(files.slice(0, 1).concat(files.slice(4)), '000000010000000000000003'), [
    { first: '000000010000000000000004', count: 1 },
  ]);
});
