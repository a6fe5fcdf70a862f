/**
 * @module test/server/scheduler
 * Schedules driven by a TestClock (no real minutes pass): backups at their cron times (with a
 * time zone), overlap recorded as skipped, retention after each backup, prune and
 * `check --read-data-subset` on their own schedules, restore drills on theirs; with
 * `repository.prune_grace`, the scheduled prune marks unused packs and a later one deletes them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/clock.js';
import { parseConfig } from '../../src/config/config.js';
import { parseSchedule, schedulesOf } from '../../src/jobs/queue/schedule.js';
import { eventually, type Harness, startHarness } from './harness.js';

const CONFIG = `
sources:
  docs:
    type: files
    path: $DIR/docs
    schedule: "*/15 * * * *"
    retention: { last: 2 }
  slow:
    type: files
    path: $DIR/docs
    schedule: "* * * * *"
    hooks: { before_backup: "sleep 1" }
  paris:
    type: files
    path: $DIR/docs
    schedule: { cron: "0 3 * * *", timezone: Europe/Paris }
server:
  prune_schedule: "0 4 * * 0"
  check_schedule: "30 4 * * *"
  check_subset: 100%
`;

describe('schedules', () => {
  it('read cron expressions in their time zone', () => {
    const paris = parseSchedule({ cron: '0 3 * * *', timezone: 'Europe/Paris' }, 'f');
    assert.equal(paris.next(new Date('2026-01-10T12:00:00Z'))?.toISOString(), '2026-01-11T02:00:00.000Z');
    assert.equal(paris.next(new Date('2026-07-10T12:00:00Z'))?.toISOString(), '2026-07-11T01:00:00.000Z');
    assert.equal(
      parseSchedule('0 3 * * *', 'f').next(new Date('2026-01-10T12:00:00Z'))?.toISOString(),
      '2026-01-11T03:00:00.000Z',
    );
    assert.throws(
      () => parseSchedule('0 3 * *', 'sources.a.schedule'),
      /sources\.a\.schedule: invalid cron expression "0 3 \* \*"/,
    );
    assert.throws(
      () => parseSchedule({ cron: '0 3 * * *', timezone: 'Mars/Olympus' }, 'sources.a.schedule'),
      /unknown time zone "Mars\/Olympus"/,
    );
  });

  it('parsed once per expression and zone: the same answers again, errors naming each field', () => {
    const at = new Date('2026-01-10T12:00:00Z');
    for (let i = 0; i < 3; i++) {
      // Kept by zone too: the same expression in UTC and in Paris answers differently.
      assert.equal(parseSchedule('0 3 * * *', `f${i}`).next(at)?.toISOString(), '2026-01-11T03:00:00.000Z');
      assert.equal(
        parseSchedule({ cron: '0 3 * * *', timezone: 'Europe/Paris' }, `f${i}`).next(at)?.toISOString(),
        '2026-01-11T02:00:00.000Z',
      );
      // A bad expression is never kept: each use names its own field.
      assert.throws(
        () => parseSchedule('0 3 * *', `sources.s${i}.schedule`),
        new RegExp(`sources\\.s${i}\\.schedule`),
      );
    }
  });
});

describe('server scheduler', () => {
  let h: Harness;
  const clock = new TestClock('2026-01-05T00:00:30Z'); // a Monday
  before(async () => {
    h = await startHarness({ config: CONFIG, clock, files: { 'docs/a.txt': 'alpha\n' } });
  });
  after(async () => {
    await h?.close();
  });

  const jobs = async (query: string) => (await h.call('GET', `/api/jobs?${query}`)).body.jobs;

  it('shows the next run of each schedule, in UTC', async () => {
    const sources = (await h.call('GET', '/api/sources')).body.sources;
    const next = Object.fromEntries(
      sources.map((s: { name: string; next_run: string }) => [s.name, s.next_run]),
    );
    assert.deepEqual(next, {
      docs: '2026-01-05T00:15:00.000Z',
      slow: '2026-01-05T00:01:00.000Z',
      paris: '2026-01-05T02:00:00.000Z',
    });
  });

  it('fires nothing before it is due, then each due task once', () => {
    assert.deepEqual(h.server.tick(), []);
    clock.set('2026-01-05T00:01:00Z');
    assert.deepEqual(h.server.tick(), ['backup:slow', 'maintenance']);
    assert.deepEqual(h.server.tick(), []);
  });

  it('skips a run that would overlap a running job of the same source, and records it', async () => {
    const [running] = await jobs('source=slow');
    assert.equal(running.trigger, 'schedule');
    assert.equal(running.requested_by, 'scheduler');
    clock.set('2026-01-05T00:02:00Z');
    assert.ok(h.server.tick().includes('backup:slow'));
    const [skipped] = await jobs('source=slow&status=skipped');
    assert.ok(skipped, 'a skipped job is recorded');
    assert.match(
      skipped.error,
      new RegExp(`skipped: job ${running.id} \\(backup\\) of source slow is still (queued|running)`),
    );
    assert.equal((await h.waitJob(running.id)).status, 'succeeded');
  });

  it('backs up at the scheduled times and applies retention after each success', async () => {
    const times = ['2026-01-05T00:15:00Z', '2026-01-05T00:30:00Z', '2026-01-05T00:45:00Z'];
    for (const t of times) {
      clock.set(t);
      assert.ok(h.server.tick().includes('backup:docs'));
      const [job] = await jobs('source=docs&kind=backup');
      assert.equal((await h.waitJob(job.id)).status, 'succeeded');
      await h.server.runner.idle();
    }
    const snaps = (await h.call('GET', '/api/snapshots?source=docs')).body.snapshots;
    assert.deepEqual(
      snaps.map((s: { time: string }) => s.time),
      ['2026-01-05T00:45:00.000Z', '2026-01-05T00:30:00.000Z'],
      'retention (last: 2) removed the oldest',
    );
    const forgets = await jobs('source=docs&kind=forget');
    assert.equal(forgets.length, 3);
    assert.ok(
      forgets.every(
        (j: { trigger: string; status: string }) => j.trigger === 'retention' && j.status === 'succeeded',
      ),
    );
    assert.equal(forgets[0].result.removed.length, 1);
  });

  it('runs a schedule with a time zone at its local time', async () => {
    clock.set('2026-01-05T02:00:00Z'); // 03:00 in Paris
    const fired = h.server.tick();
    assert.ok(fired.includes('backup:paris'), fired.join(','));
    const [job] = await jobs('source=paris');
    assert.equal((await h.waitJob(job.id)).status, 'succeeded');
    await h.server.runner.idle();
  });

  it('runs check --read-data-subset and prune on their own schedules', async () => {
    clock.set('2026-01-05T04:30:00Z');
    assert.ok(h.server.tick().includes('check'));
    const [check] = await eventually(async () => {
      const list = await jobs('kind=check');
      return list.length > 0 && list;
    }, 'a check job');
    const done = await h.waitJob(check.id);
    assert.equal(done.status, 'succeeded', done.error);
    assert.equal(done.params.read_data_percent, 100);
    assert.ok(done.result.packsRead > 0, 'packs were read');
    assert.equal(done.result.errors.length, 0);

    clock.set('2026-01-11T04:00:00Z'); // Sunday
    const fired = h.server.tick();
    assert.ok(fired.includes('prune'), fired.join(','));
    const [prune] = await eventually(async () => {
      const list = await jobs('kind=prune');
      return list.length > 0 && list;
    }, 'a prune job');
    const pruned = await h.waitJob(prune.id);
    assert.equal(pruned.status, 'succeeded', pruned.error);
    assert.equal(pruned.trigger, 'schedule');
    await h.server.runner.idle();
  });
});

const DRILL_CONFIG = `
sources:
  docs:
    type: files
    path: $DIR/docs
    schedule: "15 0 * * *"
    drill: { schedule: "0 1 * * *" }
  broken:
    type: files
    path: $DIR/docs
    schedule: "15 0 * * *"
    drill:
      schedule: { cron: "0 2 * * *", timezone: Europe/Paris }
      checks: [{ name: "marker present", command: 'test -f "$LIFEBOAT_DRILL_TARGET/marker"' }]
`;

describe('scheduled drills', () => {
  let h: Harness;
  const clock = new TestClock('2026-01-05T00:00:30Z');
  before(async () => {
    h = await startHarness({ config: DRILL_CONFIG, clock, files: { 'docs/a.txt': 'alpha\n' } });
  });
  after(async () => {
    await h?.close();
  });
  const jobs = async (query: string) => (await h.call('GET', `/api/jobs?${query}`)).body.jobs;
  /** The tasks a tick fires, but the minutely maintenance. */
  const due = () =>
    h.server
      .tick()
      .filter((t) => t !== 'maintenance')
      .sort();

  it('reject a bad drill schedule at start, naming the field', () => {
    const config = parseConfig(
      'sources:\n  a: { type: files, path: /tmp, drill: { schedule: "0 3 * *" } }\n',
      '/tmp/lifeboat.yaml',
      {},
    );
    assert.throws(
      () => schedulesOf(config),
      /sources\.a\.drill\.schedule: invalid cron expression "0 3 \* \*"/,
    );
  });

  it('run as drill jobs at their times; a failed one fails its job and raises drill_failure', async () => {
    clock.set('2026-01-05T00:15:00Z');
    assert.deepEqual(due(), ['backup:broken', 'backup:docs']);
    for (const j of await jobs('kind=backup')) assert.equal((await h.waitJob(j.id)).status, 'succeeded');
    await h.server.runner.idle();

    clock.set('2026-01-05T01:00:00Z'); // docs: 01:00 UTC; broken: 02:00 in Paris
    assert.deepEqual(due(), ['drill:broken', 'drill:docs']);
    const drills = await eventually(async () => {
      const list = await jobs('kind=drill');
      return list.length === 2 && list;
    }, 'two drill jobs');
    const bySource = Object.fromEntries(
      await Promise.all(
        drills.map(async (j: { id: string; source: string }) => [j.source, await h.waitJob(j.id)]),
      ),
    );
    const good = bySource.docs;
    assert.equal(good.status, 'succeeded', good.error);
    assert.equal(good.trigger, 'schedule');
    assert.equal(good.requested_by, 'scheduler');
    assert.equal(good.result.passed, true);
    assert.ok(good.result.checks.some((c: { name: string }) => c.name === 'count files'));
    const bad = bySource.broken;
    assert.equal(bad.status, 'failed');
    assert.match(bad.error, /\[drill\] check "marker present" failed: exit 1/);
    await h.server.runner.idle();
    const alert = await eventually(async () => {
      const a = await h.server.catalog.getAlert('drill_failure:broken');
      return a?.state === 'firing' && a;
    }, 'the drill_failure alert');
    assert.equal(alert.source, 'broken');
    assert.equal(await h.server.catalog.getAlert('drill_failure:docs'), undefined);
    assert.deepEqual(due(), [], 'each fires once');
  });
});

const GRACE_CONFIG = `
repository:
  prune_grace: 24h
sources:
  docs:
    type: files
    path: $DIR/docs
    retention: { last: 1 }
server:
  prune_schedule: "0 4 * * *"
`;

describe('server scheduler with repository.prune_grace', () => {
  let h: Harness;
  const clock = new TestClock('2026-01-05T00:00:30Z');
  before(async () => {
    h = await startHarness({ config: GRACE_CONFIG, clock, files: { 'docs/a.txt': 'alpha\n' } });
  });
  after(async () => {
    await h?.close();
  });

  const packs = async () =>
    (await readdir(join(h.repo, 'data'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile())
      .length;
  async function backup(content: Buffer): Promise<void> {
    await writeFile(join(h.dir, 'docs', 'a.txt'), content);
    const r = await h.call('POST', '/api/sources/docs/backups', { body: {} });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal((await h.waitJob(r.body.job.id)).status, 'succeeded');
    await h.server.runner.idle();
  }
  async function scheduledPrune(at: string) {
    clock.set(at);
    assert.ok(h.server.tick().includes('prune'));
    const job = await eventually(async () => {
      const list = (await h.call('GET', '/api/jobs?kind=prune')).body.jobs;
      return list.find((j: { created_at: string }) => Date.parse(j.created_at) >= Date.parse(at));
    }, 'a prune job');
    const done = await h.waitJob(job.id);
    assert.equal(done.status, 'succeeded', done.error);
    return done;
  }

  it('marks unused packs with the configured grace and deletes them in a prune past it', async () => {
    await backup(randomBytes(50_000));
    await backup(randomBytes(50_000)); // retention (last: 1) forgets the first
    const before = await packs();

    const first = await scheduledPrune('2026-01-05T04:00:00Z');
    assert.equal(first.params.grace, '24h', 'the job records the grace it ran with');
    assert.equal(first.result.packsDeleted, 0);
    assert.ok(first.result.packsMarked >= 1, JSON.stringify(first.result));
    assert.equal(await packs(), before, 'marked, not deleted');

    const second = await scheduledPrune('2026-01-06T04:00:00Z');
    assert.equal(second.result.packsDeleted, first.result.packsMarked, JSON.stringify(second.result));
    assert.equal(second.result.packsPending, 0);
    assert.equal(await packs(), before - first.result.packsMarked);
  });
});
