/**
 * @module test/fleet/fleet-serve
 * Fleet mode with the real CLI: two `lifeboat serve` instances and one `lifeboat worker
 * --labels host=w1` on one throwaway PostgreSQL catalog, files sources and a local repository
 * in a temp folder. A backup asked of one instance shows with the same status on the other
 * and completes; a restore awaiting approval runs once another instance approves it; a
 * request overlapping a running job is skipped; a source with `runs_on: {host: w1}` runs only
 * on the worker; each process checks only the settings of sources it may run; a process killed
 * with SIGKILL mid-backup loses the job to another instance after the lease (one snapshot, a
 * clean check); a 1-second schedule on both instances runs each slot once; a job whose
 * attempts are used up is recorded failed (in-process). `worker` refuses a SQLite catalog
 * (exit 2).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { PgCatalog } from '../../src/catalog/pg-catalog.js';
import { systemClock } from '../../src/clock.js';
import { FleetJobs } from '../../src/jobs/fleet/fleet-jobs.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, runCli } from '../helpers/cli.js';
import {
  fleetConfigHead,
  fleetEnv,
  initWithOperator,
  type CatalogJobRow as JobRow,
  killLeft,
  type FleetProc as Proc,
  pidOf,
  startUntil,
  stopProc,
  until,
} from '../helpers/fleet.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED fleet serve: ${unavailable}`);

describe('lifeboat serve and worker in fleet mode', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let pool: pg.Pool;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let token = '';
  const admins: string[] = [];
  const procs = new Set<ChildProcess>();
  let a: Proc;
  let b: Proc;
  let w: Proc;

  const cli = (args: string[], config = 'fleet.yaml'): Promise<CliResult> =>
    runCli(['--config', join(dir, config), ...args], env, { cwd: dir });

  async function start(args: string[], ready: RegExp, config = 'fleet.yaml'): Promise<Proc> {
    const p = await startUntil([...args, '--config', join(dir, config)], env, dir, ready, procs);
    return { child: p.child, out: p.out, base: p.match[1] };
  }

  const serve = (config?: string) =>
    start(['serve', '--listen', '127.0.0.1:0'], /serving on (http:\/\/\S+)/, config);

  const stop = (p: Proc, signal: NodeJS.Signals = 'SIGTERM') => stopProc(p.child, signal, procs);

  interface Body {
    job: { id: string; status: string; snapshot: string | null };
    mode: string;
    workers: { labels: Record<string, string> }[];
  }

  async function api(
    base: string,
    method: string,
    path: string,
    o: { as?: string; body?: unknown } = {},
  ): Promise<{ status: number; body: Body }> {
    const headers: Record<string, string> = { authorization: `Bearer ${o.as ?? token}` };
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, {
      method,
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
    return { status: res.status, body: await res.json() };
  }

  async function job(id: string): Promise<JobRow> {
    const { rows } = await pool.query('SELECT * FROM lifeboat.jobs WHERE id = $1', [id]);
    return rows[0];
  }

  before(async () => {
    server = await startPostgres();
    pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {});
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-fleet-'));
    for (const name of ['docs', 'db1', 'slow', 'tick']) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'a.txt'), `${name}\n`);
    }
    const base = `${fleetConfigHead(join(dir, 'repo'), server.url)}sources:
  docs:
    type: files
    path: ${join(dir, 'docs')}
    protected: true
  db1:
    type: files
    path: ${join(dir, 'db1')}
    runs_on: { host: w1 }
  far:
    type: files
    path: \${FAR_PATH}
    runs_on: { host: elsewhere }
  slow:
    type: files
    path: ${join(dir, 'slow')}
    hooks: { before_backup: "sleep 6" }
`;
    await writeFile(join(dir, 'fleet.yaml'), base);
    await writeFile(
      join(dir, 'schedule.yaml'),
      `${base}  tick:\n    type: files\n    path: ${join(dir, 'tick')}\n    schedule: "* * * * * *"\n`,
    );
    await writeFile(join(dir, 'single.yaml'), `repository:\n  url: ${join(dir, 'repo')}\n`);
    env = fleetEnv('pw-fleet');
    token = await initWithOperator(cli);
    for (const name of ['admin1', 'admin2']) {
      const r = await cli(['token', 'create', name, '--role', 'admin']);
      assert.equal(r.code, 0, r.stderr);
      admins.push(r.stdout.trim());
    }
    [a, b, w] = await Promise.all([
      serve(),
      serve(),
      start(['worker', '--labels', 'host=w1'], /worker (\S+) running/),
    ]);
  });

  after(async () => {
    killLeft(procs);
    await pool?.end();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('worker refuses a catalog that is not PostgreSQL (exit 2)', async () => {
    const r = await cli(['worker'], 'single.yaml');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /needs the shared PostgreSQL catalog/);
  });

  it('a worker needs the settings of the sources it may run, and only those', async () => {
    // Started above with FAR_PATH unset: serve and the w1 worker do not run `far`.
    const r = await cli(['worker', '--labels', 'host=elsewhere']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /source "far" uses \$\{FAR_PATH\}.*worker runs its jobs/);
  });

  it('a backup asked of one instance shows on the other and completes', async () => {
    const started = await api(a.base!, 'POST', '/api/sources/docs/backups');
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = started.body.job.id;
    const onB = await api(b.base!, 'GET', `/api/jobs/${id}`);
    assert.equal(onB.status, 200);
    assert.ok(['queued', 'running', 'succeeded'].includes(onB.body.job.status), onB.body.job.status);
    await until(
      'the backup succeeded',
      async () => (await api(b.base!, 'GET', `/api/jobs/${id}`)).body.job.status === 'succeeded',
    );
    const onA = await api(a.base!, 'GET', `/api/jobs/${id}`);
    assert.equal(onA.body.job.status, 'succeeded');
    assert.ok(onA.body.job.snapshot);
    // Each instance's snapshot list follows within its poll interval, wherever the job ran.
    for (const p of [a, b]) {
      await until(
        'the snapshot listed',
        async () => {
          const r = await fetch(`${p.base}/api/snapshots?source=docs`, {
            headers: { authorization: `Bearer ${token}` },
          });
          return ((await r.json()) as { total: number }).total > 0;
        },
        10_000,
      );
    }
    const workers = await api(b.base!, 'GET', '/api/workers');
    assert.equal(workers.status, 200);
    assert.equal(workers.body.mode, 'fleet');
    assert.equal(workers.body.workers.length, 3);
    assert.ok(workers.body.workers.some((x) => x.labels.host === 'w1'));
  });

  it('a restore that needs approval is dispatched when another instance approves it', async () => {
    const target = join(dir, 'restored-docs');
    const asked = await api(a.base!, 'POST', '/api/restores', {
      as: admins[0],
      body: { snapshot: 'latest', source: 'docs', to: target },
    });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    assert.equal(asked.body.job.status, 'awaiting_approval');
    const id = asked.body.job.id;
    await systemClock.sleep(1500);
    assert.equal((await job(id)).status, 'awaiting_approval', 'not dispatched before approval');
    const approved = await api(b.base!, 'POST', `/api/restores/${id}/approve`, { as: admins[1] });
    assert.equal(approved.status, 202, JSON.stringify(approved.body));
    await until('the restore ran', async () => (await job(id)).status === 'succeeded');
    assert.equal(await readFile(join(target, 'a.txt'), 'utf8'), 'docs\n');
  });

  it('a source with runs_on {host: w1} runs only on the worker', async () => {
    const workerPid = w.child.pid;
    for (let i = 0; i < 3; i++) {
      const started = await api(i % 2 ? a.base! : b.base!, 'POST', '/api/sources/db1/backups');
      assert.equal(started.status, 202);
      const id = started.body.job.id;
      await until('db1 backed up', async () => (await job(id)).status === 'succeeded');
      assert.equal(pidOf((await job(id)).owner), workerPid);
    }
  });

  it('an overlapping request is skipped, as on a single server', async () => {
    const first = await api(a.base!, 'POST', '/api/sources/slow/backups');
    assert.equal(first.status, 202);
    const second = await api(b.base!, 'POST', '/api/sources/slow/backups');
    assert.equal(second.body.job.status, 'skipped');
    await until(
      'the slow backup finished',
      async () => (await job(first.body.job.id)).status === 'succeeded',
    );
  });

  it('a process killed mid-backup: the job completes elsewhere after the lease, one snapshot, check clean', async () => {
    const started = await api(a.base!, 'POST', '/api/sources/slow/backups');
    assert.equal(started.status, 202);
    const id = started.body.job.id;
    await until('the slow backup running', async () => (await job(id)).status === 'running');
    const firstPid = pidOf((await job(id)).owner);
    const victim = [a, b, w].find((p) => p.child.pid === firstPid);
    assert.ok(victim, `owner ${(await job(id)).owner} is none of the children`);
    await stop(victim, 'SIGKILL');
    await until(
      'the job ran again and succeeded',
      async () => {
        const j = await job(id);
        return j.status === 'succeeded';
      },
      40_000,
    );
    const done = await job(id);
    assert.notEqual(pidOf(done.owner), firstPid);
    const snaps = await cli(['snapshots', '--json']);
    assert.equal(snaps.code, 0, snaps.stderr);
    const slow = (JSON.parse(snaps.stdout) as { source: string }[]).filter((s) => s.source === 'slow');
    // One from the overlap case before, one from this job.
    assert.equal(slow.length, 2, snaps.stdout);
    const check = await cli(['check']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    if (victim === a) a = await serve();
    else if (victim === b) b = await serve();
    else w = await start(['worker', '--labels', 'host=w1'], /worker (\S+) running/);
  });

  it('a 1-second schedule on two instances runs each slot once', async () => {
    // Every instance has the same sources (the worker takes jobs without labels too).
    await Promise.all([stop(a), stop(b), stop(w)]);
    [a, b, w] = await Promise.all([
      serve('schedule.yaml'),
      serve('schedule.yaml'),
      start(['worker', '--labels', 'host=w1'], /worker (\S+) running/, 'schedule.yaml'),
    ]);
    await systemClock.sleep(8000);
    // SIGTERM: serve and worker stop cleanly.
    assert.deepEqual(await Promise.all([stop(a), stop(b), stop(w)]), [0, 0, 0], a.out() + w.out());
    const { rows } = await pool.query<JobRow>(
      `SELECT * FROM lifeboat.jobs WHERE source = 'tick' AND trigger = 'schedule' ORDER BY created_at`,
    );
    assert.ok(rows.length >= 5, `only ${rows.length} scheduled jobs`);
    const { rows: slots } = await pool.query(
      `SELECT slot, job_id FROM lifeboat_queue.fleet_slot WHERE schedule = 'backup:tick' ORDER BY slot`,
    );
    assert.equal(slots.length, rows.length, 'one catalog job per claimed slot');
    assert.deepEqual(new Set(slots.map((s) => s.job_id)).size, rows.length);
    assert.deepEqual(
      new Set(rows.map((r) => r.id)),
      new Set(slots.map((s) => s.job_id)),
      'every scheduled job is the job of its slot',
    );
    // Each slot's backup ran once: succeeded, or skipped because the previous one still ran.
    for (const r of rows)
      assert.ok(
        ['succeeded', 'skipped', 'queued', 'running', 'interrupted'].includes(r.status),
        `${r.status}: ${r.error}`,
      );
  });

  it('a job whose fleet attempts are used up is recorded failed with the error', async () => {
    const catalog = await PgCatalog.open(server.url, systemClock);
    const log = { info: () => {}, warn: () => {}, error: () => {} };
    const fleet = await FleetJobs.start(
      { url: server.url, schema: 'q_giveup', leaseSeconds: 1, retryLimit: 0, pollSeconds: 0.2 },
      { config: { sources: {} } as never, catalog, clock: systemClock, log },
    );
    try {
      const rec = await catalog.createJob({
        kind: 'check',
        source: null,
        trigger: 'api',
        requested_by: 'test',
        params: {},
        retry_of: null,
        status: 'queued',
      });
      // A worker whose every attempt dies (as a killed one's is failed by the reaper).
      await fleet.queue.work({}, async () => {
        throw new Error('worker lost');
      });
      await fleet.dispatch(rec);
      await until('the catalog job failed', async () => (await job(rec.id)).status === 'failed', 15_000);
      assert.match((await job(rec.id)).error ?? '', /did not finish after its retries: worker lost/);
    } finally {
      await fleet.close();
      await catalog.close();
    }
  });
});
