import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Snapshot, SnapshotEntry } from '../../repo/snapshot.js';
import { confQuote, isWalName, pgTime, recoveryWindow } from './postgres-physical-wal.js';

function entry(
  id: string,
  kind: Snapshot['kind'],
  time: string,
  meta: Record<string, unknown> = {},
): SnapshotEntry {
  return {
    id,
    snapshot: {
      version: 1,
      time,
      source: 'db',
      engine: 'postgres',
      kind,
      host: 'h',
      username: 'u',
      tags: [],
      programVersion: '0',
      root: 'r',
      stats: {},
      meta,
      sourceConfig: {},
    },
  };
}

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

test('the recoverable window runs from the first base backup end to the newest WAL', () => {
  const w = recoveryWindow(
    [
      entry('a', 'physical', '2026-01-01T00:00:00Z', { endTime: '2026-01-01T00:01:00Z' }),
      entry('b', 'wal', '2026-01-01T00:02:00Z'),
      entry('c', 'physical', '2026-01-02T00:00:00Z', { endTime: '2026-01-02T00:01:00Z' }),
      entry('d', 'wal', '2026-01-02T00:05:00Z'),
      entry('e', 'logical', '2026-01-03T00:00:00Z'),
    ],
    'db',
  );
  assert.equal(w.from, '2026-01-01T00:01:00Z');
  assert.equal(w.to, '2026-01-02T00:05:00Z');
  assert.deepEqual(
    w.bases.map((b) => b.id),
    ['a', 'c'],
  );
  assert.equal(w.wal, 2);
});

test('times and strings are written the way postgresql.conf reads them', () => {
  assert.equal(pgTime('2026-11-24T10:51:00.463Z'), '2026-11-24 10:51:00.463+00');
  assert.equal(confQuote("/a b/it's"), "'/a b/it''s'");
});
