import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LifeboatConfig } from '../config/config-schema.js';
import type { Snapshot, SnapshotEntry, SnapshotPoint } from '../repo/snapshot.js';
import { appFromConfig, findPoint, inLanes, pointsOf } from './app-point.js';

function entry(
  id: string,
  source: string,
  point: SnapshotPoint | undefined,
  more: Partial<Snapshot> = {},
): SnapshotEntry {
  return {
    id,
    snapshot: {
      source,
      time: point?.time ?? '2026-01-01T00:00:00.000Z',
      kind: 'logical',
      engine: 'x',
      meta: {},
      tags: [],
      backup: { bytesRead: 100, bytesAdded: 10, durationMs: 1000 },
      point,
      ...more,
    } as Snapshot,
  };
}

const p1: SnapshotPoint = {
  id: 'aaaa1111',
  app: 'verpa',
  time: '2026-01-01T10:00:00.000Z',
  sources: ['db', 'files'],
};
const p2: SnapshotPoint = {
  id: 'bbbb2222',
  app: 'verpa',
  time: '2026-01-02T10:00:00.000Z',
  sources: ['db', 'files'],
};
const other: SnapshotPoint = {
  id: 'cccc3333',
  app: 'shop',
  time: '2026-01-01T11:00:00.000Z',
  sources: ['cart'],
};

const entries = [
  entry('s1', 'db', p1),
  entry('s2', 'files', p1),
  // Point 2 saved its database but not its files.
  entry('s3', 'db', p2),
  entry('s4', 'cart', other),
  entry('s5', 'files', undefined),
];

test('points group snapshots by point, oldest first, with sizes and completeness', () => {
  const points = pointsOf(entries);
  assert.deepEqual(
    points.map((p) => [
      p.id,
      p.app,
      p.complete,
      p.bytesRead,
      p.sources.map((s) => `${s.source}:${s.complete}`),
    ]),
    [
      ['aaaa1111', 'verpa', true, 200, ['db:true', 'files:true']],
      ['cccc3333', 'shop', true, 100, ['cart:true']],
      ['bbbb2222', 'verpa', false, 100, ['db:true', 'files:false']],
    ],
  );
});

test('points filter by app, by time and by completeness', () => {
  assert.deepEqual(
    pointsOf(entries, { app: 'verpa' }).map((p) => p.id),
    ['aaaa1111', 'bbbb2222'],
  );
  assert.deepEqual(
    pointsOf(entries, { before: new Date('2026-01-02T00:00:00Z') }).map((p) => p.id),
    ['aaaa1111', 'cccc3333'],
  );
  assert.deepEqual(
    pointsOf(entries, { app: 'verpa', complete: true }).map((p) => p.id),
    ['aaaa1111'],
  );
});

test('a source saved as units is whole only with every unit of its run', () => {
  const run = { id: 'r1', units: ['db/a', 'db/b'] };
  const half = pointsOf([entry('u1', 'db/a', p1, { run }), entry('f', 'files', p1)]);
  assert.equal(half[0].complete, false);
  const whole = pointsOf([
    entry('u1', 'db/a', p1, { run }),
    entry('u2', 'db/b', p1, { run }),
    entry('f', 'files', p1),
  ]);
  assert.equal(whole[0].complete, true);
  assert.equal(whole[0].sources[0].snapshots.length, 2);
});

test('a point is found by a unique prefix', () => {
  const points = pointsOf(entries);
  assert.equal(findPoint(points, 'bbbb').id, 'bbbb2222');
  assert.throws(() => findPoint(points, 'dddd'), /no recovery point dddd/);
  const twins = pointsOf([entry('x', 'db', { ...p1, id: 'ab1' }), entry('y', 'db', { ...p1, id: 'ab2' })]);
  assert.throws(() => findPoint(twins, 'ab'), /ambiguous/);
});

test('inLanes runs at most `limit` at once, one context per lane, results in order', async () => {
  let running = 0;
  let most = 0;
  const opened: number[] = [];
  const out = await inLanes(
    [5, 1, 4, 2, 3],
    2,
    async (i) => {
      opened.push(i);
      return `lane${i}`;
    },
    async (n, lane) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, n * 5));
      running--;
      return `${n}@${lane.slice(0, 4)}`;
    },
  );
  assert.deepEqual(out, ['5@lane', '1@lane', '4@lane', '2@lane', '3@lane']);
  assert.equal(most, 2);
  assert.deepEqual(opened.sort(), [0, 1]);
});

test('an app resolves its sources; unknown apps and sources are named', () => {
  const config = {
    sources: { db: { type: 'postgres', url: 'postgres://h/db' } },
    apps: { verpa: { sources: ['db', 'cache'] }, ok: { sources: ['db'], parallel: 3 } },
  } as unknown as LifeboatConfig;
  assert.throws(() => appFromConfig(config, 'nope'), /no app "nope" in the config \(known: verpa, ok/);
  assert.throws(() => appFromConfig(config, 'verpa'), /names source cache, not in sources:/);
  const app = appFromConfig(config, 'ok');
  assert.equal(app.parallel, 3);
  assert.deepEqual(
    app.sources.map((s) => s.name),
    ['db'],
  );
});
