import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Snapshot, SnapshotEntry } from '../repo/snapshot.js';
import { applyPolicy } from './retention.js';

function snaps(times: string[], tags: string[][] = []): SnapshotEntry[] {
  return times.map((time, i) => ({
    id: String(i).padStart(64, '0'),
    snapshot: { time, tags: tags[i] ?? [], source: 's' } as unknown as Snapshot,
  }));
}

const kept = (entries: SnapshotEntry[], policy: Parameters<typeof applyPolicy>[1]) =>
  applyPolicy(entries, policy)
    .filter((d) => d.keep)
    .map((d) => d.entry.snapshot.time.slice(0, 16));

test('keep-last keeps the newest n', () => {
  const s = snaps(['2026-01-01T00:00Z', '2026-01-02T00:00Z', '2026-01-03T00:00Z']);
  assert.deepEqual(kept(s, { last: 2 }), ['2026-01-03T00:00', '2026-01-02T00:00']);
});

test('keep-daily keeps the newest of each of the last n days that have snapshots', () => {
  const s = snaps([
    '2026-01-01T01:00Z',
    '2026-01-01T23:00Z',
    '2026-01-02T05:00Z',
    '2026-01-02T06:00Z',
    '2026-01-05T00:00Z',
  ]);
  assert.deepEqual(kept(s, { daily: 2 }), ['2026-01-05T00:00', '2026-01-02T06:00']);
  assert.deepEqual(kept(s, { daily: 5 }), ['2026-01-05T00:00', '2026-01-02T06:00', '2026-01-01T23:00']);
});

test('weekly, monthly and yearly buckets; policies combine', () => {
  const s = snaps(['2025-12-31T10:00Z', '2026-01-01T10:00Z', '2026-01-05T10:00Z', '2026-02-01T10:00Z']);
  // 2025-12-31 and 2026-01-01 share ISO week 2026-W01.
  assert.deepEqual(kept(s, { weekly: 3 }), ['2026-02-01T10:00', '2026-01-05T10:00', '2026-01-01T10:00']);
  assert.deepEqual(kept(s, { monthly: 2 }), ['2026-02-01T10:00', '2026-01-05T10:00']);
  assert.deepEqual(kept(s, { yearly: 2 }), ['2026-02-01T10:00', '2025-12-31T10:00']);
  assert.deepEqual(kept(s, { last: 1, yearly: 2 }), ['2026-02-01T10:00', '2025-12-31T10:00']);
});

test('keep-tag keeps tagged snapshots whatever their age', () => {
  const s = snaps(['2026-01-01T00:00Z', '2026-01-02T00:00Z', '2026-01-03T00:00Z'], [['release'], [], []]);
  assert.deepEqual(kept(s, { last: 1, tags: ['release'] }), ['2026-01-03T00:00', '2026-01-01T00:00']);
});
