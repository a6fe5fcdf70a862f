import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AlertFacts,
  DEFAULT_THRESHOLDS,
  evaluateAlerts,
  type FinishedRun,
  formatAge,
  medianOf,
  type SourceFacts,
} from './alert-rules.js';

const NOW = new Date('2026-03-01T12:00:00Z');

function run(
  i: number,
  durationS: number,
  bytes: number,
  status: FinishedRun['status'] = 'succeeded',
): FinishedRun {
  return {
    id: `job${i}`,
    status,
    startedAt: new Date(NOW.getTime() - i * 3_600_000),
    durationMs: durationS * 1000,
    bytesRead: bytes,
    error: status === 'failed' ? 'disk on fire' : null,
  };
}

function facts(source: Partial<SourceFacts>, extra: Partial<AlertFacts> = {}): AlertFacts {
  return {
    now: NOW,
    sources: [{ name: 'db', watchedSince: new Date('2026-01-01T00:00:00Z'), recent: [], ...source }],
    thresholds: DEFAULT_THRESHOLDS,
    ...extra,
  };
}

const kinds = (f: AlertFacts) => evaluateAlerts(f).map((c) => c.key);

describe('alert rules', () => {
  it('a failed newest backup holds until a later one succeeds', () => {
    assert.deepEqual(kinds(facts({ recent: [run(0, 60, 100, 'failed'), run(1, 60, 100)] })), ['failure:db']);
    assert.deepEqual(kinds(facts({ recent: [run(0, 60, 100), run(1, 60, 100, 'failed')] })), []);
    const [c] = evaluateAlerts(facts({ recent: [run(0, 60, 100, 'failed')] }));
    assert.equal(c.summary, 'backup of db failed: disk on fire');
  });

  it('an RPO breach is measured from the last good backup, or from when watching began', () => {
    const hour = 3_600_000;
    assert.deepEqual(
      kinds(facts({ maxAgeMs: 26 * hour, lastSuccess: new Date(NOW.getTime() - 25 * hour) })),
      [],
    );
    const [c] = evaluateAlerts(
      facts({ maxAgeMs: 26 * hour, lastSuccess: new Date(NOW.getTime() - 27 * hour) }),
    );
    assert.equal(c.key, 'rpo_breach:db');
    assert.equal(c.summary, 'last good backup of db is 27h old, over its max_age of 26h');
    assert.deepEqual(kinds(facts({ maxAgeMs: 26 * hour, watchedSince: new Date(NOW.getTime() - hour) })), []);
    assert.deepEqual(kinds(facts({ maxAgeMs: hour, watchedSince: new Date(NOW.getTime() - 2 * hour) })), [
      'rpo_breach:db',
    ]);
  });

  it('a backup over k times the median duration is an anomaly (and short ones never are)', () => {
    const history = [run(1, 100, 1000), run(2, 120, 1000), run(3, 110, 1000), run(4, 90, 1000)];
    assert.deepEqual(kinds(facts({ recent: [run(0, 300, 1000), ...history] })), []);
    const slow = evaluateAlerts(facts({ recent: [run(0, 400, 1000), ...history] }));
    assert.deepEqual(
      slow.map((c) => c.key),
      ['duration_anomaly:db'],
    );
    assert.match(slow[0].summary, /took 6m 40s, over 3x the median of 1m 45s of the last 4/);
    // 40 s against a 2 s median is 20x, but under a minute: not news.
    const quick = [run(1, 2, 1000), run(2, 2, 1000), run(3, 2, 1000)];
    assert.deepEqual(kinds(facts({ recent: [run(0, 40, 1000), ...quick] })), []);
    // Fewer than three earlier runs: no baseline yet.
    assert.deepEqual(
      kinds(facts({ recent: [run(0, 4000, 1000), run(1, 100, 1000), run(2, 100, 1000)] })),
      [],
    );
  });

  it('a size outside ±x% of the median is an anomaly, both ways', () => {
    const history = [run(1, 60, 1000), run(2, 60, 1100), run(3, 60, 900)];
    assert.deepEqual(kinds(facts({ recent: [run(0, 60, 1400), ...history] })), []);
    const grown = evaluateAlerts(facts({ recent: [run(0, 60, 1600), ...history] }));
    assert.deepEqual(
      grown.map((c) => c.key),
      ['size_anomaly:db'],
    );
    assert.match(grown[0].summary, /read 1.56 KiB, \+60% against the median of 1000 B \(limit ±50%\)/);
    const shrunk = evaluateAlerts(facts({ recent: [run(0, 60, 100), ...history] }));
    assert.equal(shrunk[0].details.change_percent, -90);
    const strict = { ...DEFAULT_THRESHOLDS, sizeChangePercent: 10 };
    assert.deepEqual(kinds(facts({ recent: [run(0, 60, 1200), ...history] }, { thresholds: strict })), [
      'size_anomaly:db',
    ]);
  });

  it('a source saved as units compares runs that saved the same units, never a unit with a run', () => {
    const both = ['shop-db/globals', 'shop-db/shop'];
    const unit = (r: FinishedRun, units: string[]) => ({ ...r, units });
    // Whole runs (a 10 MB database plus a 573-byte roles dump) among runs that saved the roles alone.
    const history = [
      unit(run(1, 60, 10_000_573), both),
      unit(run(2, 60, 573), ['shop-db/globals']),
      unit(run(3, 60, 10_100_573), both),
      unit(run(4, 60, 573), ['shop-db/globals']),
      unit(run(5, 60, 9_900_573), both),
      unit(run(6, 60, 573), ['shop-db/globals']),
    ];
    assert.deepEqual(kinds(facts({ recent: [unit(run(0, 60, 10_050_573), both), ...history] })), []);
    assert.deepEqual(kinds(facts({ recent: [unit(run(0, 60, 573), ['shop-db/globals']), ...history] })), []);
    // The database shrinking to a tenth is still news.
    const shrunk = evaluateAlerts(facts({ recent: [unit(run(0, 60, 1_000_573), both), ...history] }));
    assert.deepEqual(
      shrunk.map((c) => c.key),
      ['size_anomaly:db'],
    );
    assert.equal(shrunk[0].details.median_bytes, 10_000_573);
    // Without the units filter the same history would have called the whole run an anomaly.
    const blind = history.map(({ units: _u, ...r }) => r);
    assert.deepEqual(kinds(facts({ recent: [run(0, 60, 10_050_573), ...blind] })), ['size_anomaly:db']);
  });

  it('low free space and a failed check hold for the repository', () => {
    const f = facts(
      {},
      {
        freeSpace: { bytes: 200 * 1024 ** 2, location: '/backups' },
        lastCheck: run(0, 60, 0, 'failed'),
      },
    );
    const out = evaluateAlerts(f);
    assert.deepEqual(
      out.map((c) => c.key),
      ['low_space:repository', 'check_failure:repository'],
    );
    assert.equal(out[0].severity, 'critical');
    assert.equal(out[0].summary, 'repository /backups has 200.0 MiB free, under the 1.00 GiB minimum');
  });

  it('a failed newest drill holds until a later drill passes', () => {
    assert.deepEqual(kinds(facts({ lastDrill: run(0, 5, 0, 'failed') })), ['drill_failure:db']);
    assert.deepEqual(kinds(facts({ lastDrill: run(0, 5, 0) })), []);
    const [c] = evaluateAlerts(facts({ lastDrill: run(0, 5, 0, 'failed') }));
    assert.equal(c.summary, 'restore drill of db failed: disk on fire');
  });

  it('helpers', () => {
    assert.equal(medianOf([3, 1, 2]), 2);
    assert.equal(medianOf([4, 1, 2, 3]), 2.5);
    assert.equal(formatAge(45_000), '45s');
    assert.equal(formatAge(26 * 3_600_000), '26h');
    assert.equal(formatAge(3 * 86_400_000 + 3_600_000), '3d 1h');
  });
});
