import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  belongsTo,
  runsOf,
  runTotals,
  sourceOfUnit,
  type UnitSnapshot,
  unitLabel,
  unitName,
} from './source-units.js';

function entry(id: string, source: string, time: string, extra: Partial<UnitSnapshot> = {}) {
  return {
    id,
    snapshot: {
      source,
      time,
      meta: {},
      backup: { bytesRead: 10, bytesAdded: 5, durationMs: 1000 },
      ...extra,
    },
  };
}

const UNITS = ['shop-db/shop', 'shop-db/globals'];
const run = (id: string) => ({ id, units: UNITS });

describe('source units', () => {
  it('maps a unit to its configured source, and names it', () => {
    assert.equal(sourceOfUnit('shop-db/shop'), 'shop-db');
    assert.equal(sourceOfUnit('uploads'), 'uploads');
    assert.equal(unitName('shop-db/globals'), 'globals');
    assert.equal(unitName('uploads'), undefined);
    assert.ok(belongsTo('shop-db/shop', 'shop-db'));
    assert.ok(belongsTo('shop-db', 'shop-db'));
    assert.ok(!belongsTo('shop-db2/shop', 'shop-db'));
    assert.ok(!belongsTo('shop-db', 'shop-db/shop'));
  });

  it('labels units by what their snapshots hold', () => {
    assert.equal(unitLabel({ source: 'shop-db/shop', meta: { database: 'shop' } }), 'shop (database)');
    assert.equal(
      unitLabel({ source: 'shop-db/globals', meta: { part: 'globals' } }),
      'globals (roles and tablespaces)',
    );
    assert.equal(unitLabel({ source: 'uploads', meta: {} }), 'uploads');
  });

  it('groups the units of a run; a run missing a unit is not complete', () => {
    const entries = [
      entry('a1', 'shop-db/shop', '2026-01-01T00:00:00.000Z', { run: run('r1') }),
      entry('a2', 'shop-db/globals', '2026-01-01T00:00:05.000Z', { run: run('r1') }),
      entry('u1', 'uploads', '2026-01-01T00:30:00.000Z'),
      // The second run stopped after the database: the roles were not saved.
      entry('b1', 'shop-db/shop', '2026-01-01T01:00:00.000Z', { run: run('r2') }),
      // A unit saved before runs were recorded stands alone.
      entry('o1', 'shop-db/shop', '2025-12-31T00:00:00.000Z'),
    ];
    const runs = runsOf(entries);
    assert.deepEqual(
      runs.map((r) => [r.source, r.entries.map((e) => e.id), r.complete, r.time]),
      [
        ['shop-db', ['o1'], true, '2025-12-31T00:00:00.000Z'],
        ['shop-db', ['a1', 'a2'], true, '2026-01-01T00:00:00.000Z'],
        ['uploads', ['u1'], true, '2026-01-01T00:30:00.000Z'],
        ['shop-db', ['b1'], false, '2026-01-01T01:00:00.000Z'],
      ],
    );
    assert.deepEqual(runTotals(runs[1]), {
      bytesRead: 20,
      bytesAdded: 10,
      durationMs: 6000,
      finished: '2026-01-01T00:00:06.000Z',
    });
  });
});
