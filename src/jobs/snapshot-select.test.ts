import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import type { Snapshot, SnapshotEntry } from '../repo/snapshot.js';
import { pickSnapshotAt } from './snapshot-select.js';

const NOW = new Date('2026-03-01T00:00:00Z');

function entry(n: number, time: string, source: string, kind = 'logical'): SnapshotEntry {
  return {
    id: `${n}`.padStart(64, 'c'),
    snapshot: { time, source, kind, tags: [], engine: 'mongodb' } as unknown as Snapshot,
  };
}

test('restore --at TIME of a logical source takes its newest snapshot at or before TIME', () => {
  const entries = [
    entry(1, '2026-01-01T10:00:00Z', 'mongo'),
    entry(2, '2026-01-01T11:00:00Z', 'other'),
    entry(3, '2026-01-01T12:00:00Z', 'mongo'),
    entry(4, '2026-01-01T12:30:00Z', 'mongo', 'drill'),
    entry(5, '2026-01-01T14:00:00Z', 'mongo'),
  ];
  const at = (time: string) => pickSnapshotAt(entries, 'mongo', Date.parse(time), '/repo', [], NOW).id.at(-1);
  assert.equal(at('2026-01-01T13:59:59Z'), '3', 'the drill report and the other source are passed over');
  assert.equal(at('2026-01-01T12:00:00Z'), '3', 'at the very time counts');
  assert.equal(at('2026-01-01T11:59:59Z'), '1');
  assert.equal(at('2026-02-01T00:00:00Z'), '5');
  assert.throws(
    () => at('2026-01-01T09:00:00Z'),
    (err) =>
      isLifeboatError(err) &&
      err.code === 'not_found' &&
      /no snapshot of source "mongo" at or before 2026-01-01T09:00:00\.000Z in \/repo \(the oldest is from 2026-01-01T10:00:00Z\)/.test(
        err.message,
      ),
  );
});
