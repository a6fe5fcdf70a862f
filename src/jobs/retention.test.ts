import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Snapshot, SnapshotEntry } from '../repo/snapshot.js';
import { applyPolicy, FUTURE_TOLERANCE_MS } from './retention.js';
import { pickSnapshot } from './snapshot-select.js';

const NOW = new Date('2026-03-01T00:00:00Z');

function snaps(times: string[], tags: string[][] = [], more: Partial<SnapshotEntry> = {}): SnapshotEntry[] {
  return times.map((time, i) => ({
    id: `${more.writeOnly ? 'a' : 'f'}${String(i).padStart(63, '0')}`,
    snapshot: { time, tags: tags[i] ?? [], source: 's' } as unknown as Snapshot,
    ...more,
  }));
}

const kept = (entries: SnapshotEntry[], policy: Parameters<typeof applyPolicy>[1], now = NOW) =>
  applyPolicy(entries, policy, now)
    .filter((d) => d.keep)
    .map((d) => d.entry.snapshot.time.slice(0, 16));

/** Times `days` apart, newest `from`, oldest first. */
function daily(from: string, n: number, hours = 24): string[] {
  const end = new Date(from).getTime();
  return Array.from({ length: n }, (_, i) => new Date(end - (n - 1 - i) * hours * 3_600_000).toISOString());
}

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

test('keep-within keeps every snapshot younger than the duration, counted back from the newest', () => {
  const s = snaps(daily('2026-02-28T12:00:00Z', 60));
  const k = kept(s, { within: '30d' });
  assert.equal(k.length, 31); // 2026-01-29T12:00 .. 2026-02-28T12:00, both ends inside
  assert.equal(k.at(-1), '2026-01-29T12:00');
  // Backups that stopped 40 days ago: their last 30 days stay (restic's keep-within).
  const stopped = snaps(daily('2026-01-20T00:00:00Z', 60));
  assert.equal(kept(stopped, { within: '30d' }).length, 31);
  // With other rules, the union.
  assert.equal(kept(s, { within: '2d', monthly: 3 }).length, 3 + 2);
});

test('a snapshot ahead of the storage clock is kept, counted by no rule, and named', () => {
  const genuine = snaps(['2026-02-27T00:00:00Z', '2026-02-28T00:00:00Z']);
  const future = snaps(['2099-01-01T00:00:00Z'], [], { writeOnly: true });
  const decisions = applyPolicy([...genuine, ...future], { last: 1 }, NOW);
  assert.deepEqual(
    decisions.map((d) => [d.entry.snapshot.time.slice(0, 10), d.keep]),
    [
      ['2099-01-01', true],
      ['2026-02-28', true],
      ['2026-02-27', false],
    ],
  );
  assert.match(
    decisions[0].reasons[0],
    /^claims 2099-01-01T00:00:00Z, 26604 days ahead of the storage clock: not counted$/,
  );
  assert.ok((decisions[0].ahead ?? 0) > 0);
  // keep-within is counted back from the newest believable snapshot, not from 2099.
  assert.deepEqual(kept([...genuine, ...future], { within: '1d' }), [
    '2099-01-01T00:00',
    '2026-02-28T00:00',
    '2026-02-27T00:00',
  ]);
});

test('the storage time of the file, not the reader clock, says what the future is', () => {
  const time = '2026-03-05T00:00:00Z'; // four days past NOW
  const [early] = snaps([time], [], { stored: new Date('2026-03-05T00:05:00Z') });
  const [late] = snaps([time], [], { stored: new Date('2026-02-20T00:00:00Z') });
  assert.equal(applyPolicy([early], { last: 1 }, NOW)[0].ahead, undefined);
  assert.equal(applyPolicy([late], { last: 1 }, NOW)[0].ahead, 13 * 86_400_000);
  // Within the tolerance (clocks differ a little) a snapshot counts.
  const [skewed] = snaps([new Date(NOW.getTime() + FUTURE_TOLERANCE_MS - 1000).toISOString()]);
  assert.deepEqual(applyPolicy([skewed], { last: 1 }, NOW)[0].reasons, ['last 1/1']);
});

test('write-only snapshots never push a full-key snapshot out', () => {
  const full = snaps(['2026-02-01T00:00:00Z', '2026-02-10T00:00:00Z', '2026-02-20T00:00:00Z']);
  const wo = snaps(daily('2026-02-28T23:00:00Z', 50, 1), [], { writeOnly: true });
  const decisions = applyPolicy([...full, ...wo], { last: 2, daily: 2 }, NOW);
  const keptFull = decisions
    .filter((d) => d.keep && !d.entry.writeOnly)
    .map((d) => d.entry.snapshot.time.slice(0, 10));
  assert.deepEqual(keptFull, ['2026-02-20', '2026-02-10']);
  // Write-only ones are judged among all: the two newest, and the newest of two days.
  const keptWo = decisions
    .filter((d) => d.keep && d.entry.writeOnly)
    .map((d) => d.entry.snapshot.time.slice(0, 13));
  assert.deepEqual(keptWo, ['2026-02-28T23', '2026-02-28T22', '2026-02-27T23']);
});

test('keep-within keeps everything younger than the duration however many write-only snapshots come', () => {
  const genuine = snaps(daily('2026-02-28T00:00:00Z', 40));
  const flood = snaps(
    Array.from({ length: 500 }, () => '2026-02-28T23:00:00Z'),
    [],
    { writeOnly: true },
  );
  const forged = snaps(['2099-12-31T00:00:00Z'], [], { writeOnly: true });
  const decisions = applyPolicy([...genuine, ...flood, ...forged], { within: '30d', last: 1 }, NOW);
  const keptGenuine = decisions.filter((d) => d.keep && d.entry.id.startsWith('f'));
  assert.equal(keptGenuine.length, 31);
  assert.ok(keptGenuine.every((d) => d.reasons.includes('within 30d')));
});

test('latest passes over a snapshot from the future, and says so when nothing else is left', () => {
  const genuine = snaps(['2026-02-27T00:00:00Z']);
  const forged = snaps(['2099-01-01T00:00:00Z'], [], { writeOnly: true });
  assert.equal(pickSnapshot([...genuine, ...forged], 'latest', undefined, 'here', [], NOW), genuine[0]);
  assert.equal(
    pickSnapshot([...genuine, ...forged], forged[0].id.slice(0, 8), undefined, 'here', [], NOW),
    forged[0],
  );
  assert.throws(
    () => pickSnapshot(forged, 'latest', undefined, 'here', [], NOW),
    /no snapshot in here to take as latest: 1 claims a time ahead of the storage clock \(a0000000\); name one by id/,
  );
});
