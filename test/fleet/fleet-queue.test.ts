/**
 * @module test/fleet/fleet-queue
 * The fleet queue (jobs/fleet) against a throwaway PostgreSQL, with fleet instances in real
 * child processes (test/helpers/fleet-worker): a 1-second schedule claimed by two instances
 * runs each slot once, also when one of them is killed; a job whose worker is killed with SIGKILL completes on another after the
 * lease, and one that stalls past it (SIGSTOP) gives the job up; one source's jobs never overlap across workers; labels route jobs; a
 * worker that takes backups only leaves a forget queued, also when its fetch races onto one; failed jobs are
 * retried with backoff. Each case has its own queue schema.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { systemClock, TestClock } from '../../src/clock.js';
import { FleetQueue, labelsMatch, queueNameOf } from '../../src/jobs/fleet/fleet-queue.js';
import { FleetSchedule, type FleetScheduledTask } from '../../src/jobs/fleet/fleet-schedule.js';
import { parseSchedule } from '../../src/jobs/queue/schedule.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type ChildSettings, FLEET_RUNS_SQL } from '../helpers/fleet-worker.js';

const CHILD = fileURLToPath(new URL('../helpers/fleet-worker.js', import.meta.url));
const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED fleet queue: ${unavailable}`);

interface Run {
  job_id: string;
  source: string | null;
  worker: string;
  attempt: number;
  started_at: Date;
  ended_at: Date | null;
  ok: boolean | null;
}

describe('fleet queue across processes', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let pool: pg.Pool;
  const children = new Set<ChildProcess>();
  const queues = new Set<FleetQueue>();

  before(async () => {
    server = await startPostgres();
    pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {});
    await pool.query(FLEET_RUNS_SQL);
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const q of queues) await q.stop(2000);
    await pool?.end();
    await server?.stop();
  });

  /** Starts a fleet instance in a child process; resolves when it prints `ready`. */
  function child(settings: Omit<ChildSettings, 'url'>): Promise<ChildProcess> {
    const proc = spawn(process.execPath, [CHILD], {
      env: { ...process.env, FLEET_CHILD: JSON.stringify({ url: server.url, ...settings }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(proc);
    let stderr = '';
    proc.stderr?.on('data', (d) => {
      stderr += d;
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${settings.name} not ready: ${stderr}`)), 20_000);
      proc.stdout?.on('data', (d) => {
        if (String(d).includes('ready')) {
          clearTimeout(timer);
          resolve(proc);
        }
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${settings.name} exited with ${code}: ${stderr}`));
      });
    });
  }

  async function stopChild(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
    children.delete(proc);
  }

  async function queue(schema: string, leaseSeconds = 2): Promise<FleetQueue> {
    const q = await FleetQueue.start({
      url: server.url,
      schema,
      leaseSeconds,
      retryDelaySeconds: 1,
      pollSeconds: 0.5,
    });
    queues.add(q);
    return q;
  }

  async function runs(prefix: string): Promise<Run[]> {
    const { rows } = await pool.query('SELECT * FROM public.fleet_runs WHERE job_id LIKE $1 ORDER BY n', [
      `${prefix}%`,
    ]);
    return rows;
  }

  async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await systemClock.sleep(100);
    }
  }

  it('a 1-second schedule on two instances, one killed halfway: every slot is claimed and run exactly once', async () => {
    const schedules = [
      { id: 'backup:s1', cron: '* * * * * *', source: 's1' },
      { id: 'backup:s2', cron: '* * * * * *', source: 's2' },
    ];
    const common = { schema: 'q_sched', labels: {}, sleepMs: 50, leaseSeconds: 2, concurrency: 2, schedules };
    const [a, b] = await Promise.all([child({ ...common, name: 'A' }), child({ ...common, name: 'B' })]);
    const startedAt = Date.now();
    await systemClock.sleep(5000);
    await stopChild(a, 'SIGKILL');
    const killedAt = Date.now();
    await systemClock.sleep(5000);
    await stopChild(b);
    // What was claimed but not run (queued at the end, or running on A when it died) runs here.
    const q = await queue('q_sched');
    await q.work({}, async (job, run) => {
      await pool.query(
        'INSERT INTO public.fleet_runs (job_id, source, worker, attempt, started_at, ended_at, ok) VALUES ($1, $2, $3, $4, clock_timestamp(), clock_timestamp(), true)',
        [job.id, job.source, 'T', run.attempt],
      );
    });
    const { rows: claims } = await pool.query(
      'SELECT schedule, slot, job_id, claimed_by FROM q_sched.fleet_slot ORDER BY schedule, slot',
    );
    await until('every claimed slot to have run', async () => {
      const done = new Set((await runs('backup:')).filter((r) => r.ok).map((r) => r.job_id));
      return claims.every((c) => done.has(c.job_id));
    });
    const all = await runs('backup:');
    for (const id of ['backup:s1', 'backup:s2']) {
      const mine = claims.filter((c) => c.schedule === id);
      const slots = mine.map((c) => (c.slot as Date).getTime());
      assert.ok(slots.length >= 8, `${id}: only ${slots.length} slots claimed`);
      // No second is missing between the first and the last claim, across the kill.
      for (let i = 1; i < slots.length; i++)
        assert.equal(slots[i] - slots[i - 1], 1000, `${id}: a slot is missing`);
      assert.ok(slots[0] < startedAt + 2000, `${id}: first slot too late`);
      for (const c of mine) {
        const ok = all.filter((r) => r.job_id === c.job_id && r.ok);
        assert.equal(ok.length, 1, `${c.job_id} completed ${ok.length} times`);
        if ((c.slot as Date).getTime() > killedAt)
          assert.equal(c.claimed_by, 'B', 'a dead instance claims nothing');
      }
    }
    assert.deepEqual(
      [...new Set(claims.map((c) => c.claimed_by))].sort(),
      ['A', 'B'],
      'both instances claimed slots',
    );
  });

  it('missed slots: a late tick fires its pending slot once, slots before start are not made up', async () => {
    const q = await queue('q_missed');
    const clock = new TestClock('2026-01-01T00:00:00.500Z');
    const task: FleetScheduledTask = {
      id: 'backup:m',
      schedule: parseSchedule('* * * * * *', 'test'),
      job: (slot) => ({ id: `m@${slot.toISOString()}`, kind: 'backup', source: 'm' }),
    };
    const a = new FleetSchedule({ queue: q, clock, instance: 'A', auto: false });
    a.add(task);
    a.start();
    assert.equal(a.nextRun('backup:m')?.toISOString(), '2026-01-01T00:00:01.000Z');
    // Asleep through three slots: the pending one fires once, the next is after now.
    clock.set('2026-01-01T00:00:03.700Z');
    assert.deepEqual(
      (await a.tick()).map((w) => w.slot.toISOString()),
      ['2026-01-01T00:00:01.000Z'],
    );
    assert.equal(a.nextRun('backup:m')?.toISOString(), '2026-01-01T00:00:04.000Z');
    // A second instance starting now does not make up 00:00:02 or 00:00:03; both race for 00:00:04.
    const b = new FleetSchedule({ queue: q, clock, instance: 'B', auto: false });
    b.add(task);
    b.start();
    clock.set('2026-01-01T00:00:04.100Z');
    const [wonA, wonB] = await Promise.all([a.tick(), b.tick()]);
    assert.equal(wonA.length + wonB.length, 1, 'one instance claims the slot');
    const { rows } = await pool.query('SELECT slot FROM q_missed.fleet_slot ORDER BY slot');
    assert.deepEqual(
      rows.map((r) => (r.slot as Date).toISOString()),
      ['2026-01-01T00:00:01.000Z', '2026-01-01T00:00:04.000Z'],
    );
    const { rows: jobs } = await pool.query(
      "SELECT data->'job'->>'id' AS id FROM q_missed.job WHERE name = 'source.m' ORDER BY created_on",
    );
    assert.deepEqual(
      jobs.map((j) => j.id),
      ['m@2026-01-01T00:00:01.000Z', 'm@2026-01-01T00:00:04.000Z'],
      'each claimed slot queued its job',
    );
    await Promise.all([a.stop(), b.stop()]);
  });

  it('a job whose worker is killed (SIGKILL) completes on another worker after the lease', async () => {
    const q = await queue('q_kill');
    const a = await child({ schema: 'q_kill', name: 'A', labels: {}, sleepMs: 60_000, leaseSeconds: 2 });
    const job = { id: 'kill-1', kind: 'backup', source: 'k1' };
    const queueJobId = await q.dispatch(job);
    assert.ok(queueJobId);
    await until('A to start the job', async () => (await runs('kill-1')).some((r) => r.worker === 'A'));
    const b = await child({ schema: 'q_kill', name: 'B', labels: {}, sleepMs: 200, leaseSeconds: 2 });
    const workers = await q.workers();
    assert.deepEqual(workers.map((w) => w.name).sort(), ['A', 'B']);
    assert.deepEqual(
      workers.find((w) => w.name === 'A')?.current.map((c) => c.id),
      ['kill-1'],
      'the overview shows the job A runs',
    );
    const killedAt = Date.now();
    await stopChild(a, 'SIGKILL');
    await until(
      'the job to complete',
      async () => (await q.stateOf(job, queueJobId)) === 'completed',
      20_000,
    );
    const ran = await runs('kill-1');
    assert.deepEqual(
      ran.map((r) => [r.worker, r.attempt, r.ok]),
      [
        ['A', 0, null],
        ['B', 1, true],
      ],
    );
    // Not before the lease ran out.
    assert.ok(ran[1].started_at.getTime() >= killedAt + 1000, 'B started before the lease expired');
    assert.deepEqual(
      (await q.workers()).map((w) => w.name),
      ['B'],
      'the dead worker is gone from the overview',
    );
    await stopChild(b);
  });

  it('a worker that stalls past the lease (SIGSTOP) loses its job to another and does not end it', async () => {
    const q = await queue('q_stall');
    const a = await child({ schema: 'q_stall', name: 'A', labels: {}, sleepMs: 60_000, leaseSeconds: 2 });
    const job = { id: 'stall-1', kind: 'backup', source: 'st1' };
    const queueJobId = await q.dispatch(job);
    assert.ok(queueJobId);
    await until('A to start the job', async () => (await runs('stall-1')).some((r) => r.worker === 'A'));
    const b = await child({ schema: 'q_stall', name: 'B', labels: {}, sleepMs: 4000, leaseSeconds: 2 });
    a.kill('SIGSTOP');
    await until('B to start the job', async () => (await runs('stall-1')).some((r) => r.worker === 'B'));
    a.kill('SIGCONT');
    // A wakes, finds its heartbeat row reaped, aborts its handler and leaves the job to B.
    await until('A to give the job up', async () =>
      (await runs('stall-1')).some((r) => r.worker === 'A' && r.ok === false),
    );
    await systemClock.sleep(300);
    assert.equal(await q.stateOf(job, queueJobId), 'active', "A neither completed nor failed B's run");
    await until('B to complete the job', async () => (await q.stateOf(job, queueJobId)) === 'completed');
    assert.ok((await runs('stall-1')).some((r) => r.worker === 'B' && r.ok));
    await until('A to be listed again, idle', async () =>
      (await q.workers()).some((w) => w.name === 'A' && w.current.length === 0),
    );
    await Promise.all([stopChild(a), stopChild(b)]);
  });

  it('one source at a time: five jobs of one source on two workers never overlap', async () => {
    const q = await queue('q_one');
    const common = { schema: 'q_one', labels: {}, sleepMs: 300, leaseSeconds: 2, concurrency: 2 };
    const [a, b] = await Promise.all([child({ ...common, name: 'A' }), child({ ...common, name: 'B' })]);
    const ids: (string | null)[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(await q.dispatch({ id: `one-${i}`, kind: 'backup', source: 'only' }));
    // Another source runs beside it.
    ids.push(await q.dispatch({ id: 'one-other', kind: 'backup', source: 'other' }));
    assert.ok(ids.every(Boolean));
    await until('all six to finish', async () => (await runs('one-')).filter((r) => r.ok).length === 6);
    const only = (await runs('one-')).filter((r) => r.source === 'only');
    assert.equal(only.length, 5, 'each job ran once');
    only.sort((x, y) => x.started_at.getTime() - y.started_at.getTime());
    for (let i = 1; i < only.length; i++) {
      assert.ok(
        only[i].started_at.getTime() >= (only[i - 1].ended_at as Date).getTime(),
        `${only[i].job_id} started before ${only[i - 1].job_id} ended`,
      );
    }
    const other = (await runs('one-other'))[0];
    assert.ok(
      only.some((r) => r.started_at < (other.ended_at as Date) && (r.ended_at as Date) > other.started_at),
      'another source ran beside it',
    );
    await Promise.all([stopChild(a), stopChild(b)]);
  });

  it('two instances creating many new queues at once: no dispatch is lost to a deadlock', async () => {
    // pg-boss's create_queue inserts the queue's row, then adds a foreign key to the queue
    // table: two creates at once deadlock unless they take turns.
    const [a, b] = [await queue('q_create'), await queue('q_create')];
    const sources = Array.from({ length: 12 }, (_, i) => `new${i}`);
    const sent = await Promise.allSettled(
      sources.flatMap((source) => [
        a.dispatch({ id: `create-a-${source}`, kind: 'backup', source }),
        b.dispatch({ id: `create-b-${source}`, kind: 'backup', source }),
        b.dispatch({ id: `create-c-${source}`, kind: 'backup', source: `${source}b` }),
      ]),
    );
    const failed = sent.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
    assert.deepEqual(failed, []);
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM q_create.queue WHERE name LIKE 'source.new%'`,
    );
    assert.equal(rows[0].n, 24);
  });

  it('labels: a job for host=db1 runs only on a host=db1 worker', async () => {
    const q = await queue('q_labels');
    const common = { schema: 'q_labels', sleepMs: 100, leaseSeconds: 2, concurrency: 2 };
    const [a, b] = await Promise.all([
      child({ ...common, name: 'db1', labels: { host: 'db1', zone: 'x' } }),
      child({ ...common, name: 'db2', labels: { host: 'db2' } }),
    ]);
    for (let i = 0; i < 4; i++) {
      await q.dispatch({ id: `lab-db1-${i}`, kind: 'backup', source: `d1-${i}`, labels: { host: 'db1' } });
      await q.dispatch({ id: `lab-db2-${i}`, kind: 'backup', source: `d2-${i}`, labels: { host: 'db2' } });
      await q.dispatch({ id: `lab-any-${i}`, kind: 'backup', source: `any-${i}` });
    }
    await q.dispatch({ id: 'lab-none', kind: 'backup', source: 'nowhere', labels: { host: 'db3' } });
    await until(
      'the routable jobs to finish',
      async () => (await runs('lab-')).filter((r) => r.ok).length === 12,
    );
    await systemClock.sleep(1000);
    const all = await runs('lab-');
    for (const r of all) {
      if (r.job_id.startsWith('lab-db1')) assert.equal(r.worker, 'db1', r.job_id);
      if (r.job_id.startsWith('lab-db2')) assert.equal(r.worker, 'db2', r.job_id);
    }
    assert.equal(all.filter((r) => r.job_id === 'lab-none').length, 0, 'no worker has host=db3');
    assert.ok(labelsMatch({ host: 'db1' }, { host: 'db1', zone: 'x' }));
    assert.ok(!labelsMatch({ host: 'db1' }, { host: 'db2' }));
    assert.ok(labelsMatch(undefined, {}));
    await Promise.all([stopChild(a), stopChild(b)]);
  });

  it('kinds: a backup-only worker takes no forget, even when its fetch races past a locked backup; an old heartbeat table gets the column', async () => {
    // The heartbeat table as before it had `kinds`: starting adds the column.
    await pool.query(`CREATE SCHEMA q_kinds;
      CREATE TABLE q_kinds.fleet_worker (id text PRIMARY KEY, name text NOT NULL, host text NOT NULL,
        pid integer NOT NULL, labels jsonb NOT NULL, started_at timestamptz NOT NULL DEFAULT now(),
        last_seen timestamptz NOT NULL DEFAULT now(), current jsonb NOT NULL DEFAULT '[]')`);
    const q = await queue('q_kinds');
    const s1f = { id: 'k-forget-1', kind: 'forget', source: 's1' };
    const s2b = { id: 'k-backup-2', kind: 'backup', source: 's2' };
    const s2f = { id: 'k-forget-2', kind: 'forget', source: 's2' };
    const ids = new Map<string, string>();
    for (const j of [s1f, s2b, s2f]) ids.set(j.id, (await q.dispatch(j)) ?? '');
    const state = (j: typeof s1f) => q.stateOf(j, ids.get(j.id) ?? '');
    // Another transaction holds s2's backup (as a fetch on another worker would): the
    // backup-only worker sees it as s2's next job, but its fetch skips locked rows and gets
    // the forget behind it, which it must put back.
    const locker = await pool.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM q_kinds.job WHERE id = $1 FOR UPDATE', [ids.get(s2b.id)]);
    const taken: string[] = [];
    await q.work({}, async (job) => void taken.push(`bk:${job.id}`), { name: 'bk', kinds: ['backup'] });
    await systemClock.sleep(2500);
    assert.deepEqual([...taken], []);
    for (const j of [s1f, s2b, s2f]) assert.equal(await state(j), 'created', j.id);
    const { rows } = await pool.query(
      "SELECT retry_count, started_on FROM q_kinds.job WHERE data->'job'->>'id' = 'k-forget-2'",
    );
    assert.deepEqual(rows, [{ retry_count: 0, started_on: null }], 'the raced fetch was rolled back');
    assert.equal(q.health().reason, undefined);
    const [bk] = await q.workers();
    assert.deepEqual([bk.name, bk.kinds], ['bk', ['backup']]);
    await locker.query('COMMIT');
    locker.release();
    await until('the backup ran', async () => (await state(s2b)) === 'completed');
    await systemClock.sleep(1500);
    assert.deepEqual([...taken], ['bk:k-backup-2']);
    assert.equal(await state(s2f), 'created');
    // A worker that takes every kind runs the forgets.
    await q.work({}, async (job) => void taken.push(`full:${job.id}`), { name: 'full' });
    await until(
      'the forgets ran',
      async () => (await state(s1f)) === 'completed' && (await state(s2f)) === 'completed',
    );
    assert.deepEqual(taken.slice(1).sort(), ['full:k-forget-1', 'full:k-forget-2']);
  });

  it('a failing job is retried with backoff, then fails for good after its retries', async () => {
    const q = await FleetQueue.start({
      url: server.url,
      schema: 'q_retry',
      leaseSeconds: 5,
      retryLimit: 2,
      retryDelaySeconds: 1,
      retryBackoff: true,
      pollSeconds: 0.5,
    });
    queues.add(q);
    const attempts: { id: string; attempt: number; at: number }[] = [];
    await q.work({}, async (job, run) => {
      attempts.push({ id: job.id, attempt: run.attempt, at: Date.now() });
      if (job.id === 'always' || run.attempt < 2) throw new Error(`attempt ${run.attempt} failed`);
    });
    const flaky = { id: 'flaky', kind: 'backup', source: 'r1' };
    const always = { id: 'always', kind: 'backup', source: 'r2' };
    const flakyId = await q.dispatch(flaky);
    const alwaysId = await q.dispatch(always);
    assert.ok(flakyId && alwaysId);
    await until('both to end', async () => {
      const [f, a] = [await q.stateOf(flaky, flakyId), await q.stateOf(always, alwaysId)];
      return f === 'completed' && a === 'failed';
    });
    for (const id of ['flaky', 'always']) {
      const mine = attempts.filter((a) => a.id === id);
      assert.deepEqual(
        mine.map((a) => a.attempt),
        [0, 1, 2],
      );
      // Backoff: the first retry waits 1-2 s, the second 2-4 s (pg-boss doubles with jitter).
      assert.ok(mine[1].at - mine[0].at >= 900, `${id}: first retry after ${mine[1].at - mine[0].at} ms`);
      assert.ok(mine[2].at - mine[1].at >= 1900, `${id}: second retry after ${mine[2].at - mine[1].at} ms`);
    }
    assert.equal(queueNameOf(flaky), 'source.r1');
    assert.equal(queueNameOf({ kind: 'prune', source: null }), 'repository.prune');
  });
});
