/**
 * @module test/fleet/fleet-chaos
 * Fleet mode under kills, on one machine: one throwaway PostgreSQL catalog, two `lifeboat
 * serve` instances, three workers (host=w1 twice, host=w2), an S3 repository on s3rver and
 * files sources on 2-second schedules (w1, w2, role=serve (only the serve instances offer it) and unlabelled; a `before_backup` hook writes
 * 384 KiB of new random data and sleeps 1 s, so each backup uploads something and lasts
 * ~1.5 s). For ~45 s, at moments drawn from a seeded PRNG (the seed is
 * printed; LIFEBOAT_CHAOS_SEED replays one), a worker running a job is killed with SIGKILL
 * and started again with the same labels, and once a serve instance is. Then the schedules
 * stop, the queue drains (the workers and a serve without schedules, for the role=serve
 * jobs), and the catalog and repository must show: one job per claimed
 * slot, every killed job finished on another eligible process (or failed with a clear
 * error), every succeeded job's snapshot in the repository and at most one per job, and a
 * clean `check --read-data`.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { systemClock } from '../../src/clock.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type S3rverServer, s3rverMissing, startS3rver } from '../../src/testing/servers/s3rver.js';
import { type CliResult, runCli } from '../helpers/cli.js';
import { type CatalogJobRow as JobRow, pidOf, startUntil, stopProc, until } from '../helpers/fleet.js';

const unavailable = postgresUnavailable() ?? s3rverMissing();
if (unavailable) console.log(`SKIPPED fleet chaos: ${unavailable}`);

const CHAOS_MS = 45_000;

interface Proc {
  child: ChildProcess;
  out: () => string;
  labels: Record<string, string>;
  role: 'serve' | 'worker';
}

interface Kill {
  job: string;
  source: string;
  pid: number;
  role: 'serve' | 'worker';
  at: number;
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the serve instances offer (server.labels); workers get theirs with --labels. */
const SERVE_LABELS = { role: 'serve' };

/** The sources and the labels they need. */
const SOURCES: Record<string, Record<string, string>> = {
  w1a: { host: 'w1' },
  w1b: { host: 'w1' },
  w2a: { host: 'w2' },
  // Only the serve instances offer role=serve: one of them is always running a backup, so
  // the serve kill lands mid-backup however fast the workers take the other jobs.
  srv: { role: 'serve' },
  anyA: {},
  anyB: {},
};

describe('fleet mode under kills', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let s3: S3rverServer;
  let pool: pg.Pool;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const procs = new Set<ChildProcess>();
  /** Every process ever started, by pid: who may have run a job. */
  const byPid = new Map<number, Proc>();
  const seed = Number(process.env.LIFEBOAT_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const rand = prng(seed);
  const kills: Kill[] = [];
  let killEvents = 0;

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(['--config', join(dir, 'fleet.yaml'), ...args], env, { cwd: dir });

  async function start(
    role: 'serve' | 'worker',
    labels: Record<string, string> = {},
    config = 'fleet.yaml',
  ): Promise<Proc> {
    const args =
      role === 'serve'
        ? ['serve', '--listen', '127.0.0.1:0']
        : [
            'worker',
            '--labels',
            Object.entries(labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
          ];
    const ready = role === 'serve' ? /serving on (http:\/\/\S+)/ : /worker (\S+) running/;
    const { child, out } = await startUntil([...args, '--config', join(dir, config)], env, dir, ready, procs);
    const p: Proc = { child, out, labels, role };
    if (child.pid) byPid.set(child.pid, p);
    return p;
  }

  const stop = (p: Proc, signal: NodeJS.Signals = 'SIGTERM') => stopProc(p.child, signal, procs);
  const eligible = (p: Proc | undefined, source: string) =>
    !!p && Object.entries(SOURCES[source] ?? {}).every(([k, v]) => p.labels[k] === v);

  async function jobs(where = 'true', params: unknown[] = []): Promise<JobRow[]> {
    const { rows } = await pool.query<JobRow>(
      `SELECT id, kind, source, status, trigger, owner, error, snapshots FROM lifeboat.jobs WHERE ${where}
       ORDER BY created_at, pos`,
      params,
    );
    return rows;
  }

  /** Kills (SIGKILL) the process of one of `among` running a job, records it and starts it again. */
  async function killOne(among: Proc[], patienceMs = 0): Promise<Proc | undefined> {
    // A job not killed before, so few jobs use up their retries; waits up to patienceMs for one.
    const end = Date.now() + patienceMs;
    let running: JobRow[] = [];
    for (;;) {
      running = (await jobs(`status = 'running' AND kind = 'backup'`)).filter(
        (j) => among.some((p) => p.child.pid === pidOf(j.owner)) && !kills.some((k) => k.job === j.id),
      );
      if (running.length > 0 || Date.now() > end) break;
      await systemClock.sleep(100);
    }
    if (running.length === 0) return undefined;
    const j = running[Math.floor(rand() * running.length)];
    const victim = among.find((p) => p.child.pid === pidOf(j.owner))!;
    const pid = victim.child.pid!;
    await stop(victim, 'SIGKILL');
    // Every job the process had, not only the one picked: serve and workers run two at once.
    const lost = (await jobs(`status = 'running'`)).filter((r) => pidOf(r.owner) === pid);
    for (const r of lost.some((r) => r.id === j.id) ? lost : [j, ...lost])
      kills.push({ job: r.id, source: r.source!, pid, role: victim.role, at: Date.now() });
    killEvents++;
    console.log(
      `# killed ${victim.role} ${pid} ${JSON.stringify(victim.labels)} running ${lost.map((r) => `${r.source} job ${r.id}`).join(', ') || `${j.source} job ${j.id}`}`,
    );
    return start(victim.role, victim.labels);
  }

  before(async () => {
    console.log(`# chaos seed ${seed} (LIFEBOAT_CHAOS_SEED=${seed} replays the kill moments)`);
    [server, s3] = await Promise.all([startPostgres(), startS3rver()]);
    pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {});
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-chaos-'));
    let sources = '';
    for (const [name, labels] of Object.entries(SOURCES)) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'a.txt'), `${name}\n`.repeat(1000));
      await writeFile(join(dir, name, 'b.bin'), Buffer.alloc(256 * 1024, name));
      sources += `
  ${name}:
    type: files
    path: ${join(dir, name)}
    schedule: "*/2 * * * * *"
    hooks: { before_backup: "head -c 393216 /dev/urandom > ${join(dir, name, 'new.bin')} && sleep 1" }${Object.keys(labels).length ? `\n    runs_on: ${JSON.stringify(labels)}` : ''}`;
    }
    const config = (withSources: string) => `repository:
  url: s3://chaos-${process.pid}/repo
server:
  catalog: ${server.url}
  labels: ${JSON.stringify(SERVE_LABELS)}
  concurrency: 2
  shutdown_grace: 3s
  fleet: { lease: 2s, poll: 1s, retry_delay: 1s, retries: 3 }
sources:${withSources}
`;
    await writeFile(join(dir, 'fleet.yaml'), config(sources));
    // The same sources without schedules: a serve that drains the role=serve jobs left queued
    // when the scheduling instances stop, and claims no slot of its own.
    const drain = config(sources.replace(/\n {4}schedule: .*/g, ''));
    assert.doesNotMatch(drain, /schedule:/, 'the draining serve claims no slot');
    await writeFile(join(dir, 'drain.yaml'), drain);
    env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
    Object.assign(env, s3.env, {
      LIFEBOAT_PASSWORD: 'pw-chaos',
      LIFEBOAT_KDF_N: '1024',
      LIFEBOAT_LOG_LEVEL: 'warn',
    });
    const init = await cli(['init']);
    assert.equal(init.code, 0, init.stderr);
  });

  after(async () => {
    for (const c of procs) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await pool?.end();
    await server?.stop();
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('kills of workers and of a serve instance lose no slot, no job and no snapshot', {
    timeout: 200_000,
  }, async () => {
    let serves: Proc[] = await Promise.all([start('serve', SERVE_LABELS), start('serve', SERVE_LABELS)]);
    let workers: Proc[] = await Promise.all([
      start('worker', { host: 'w1' }),
      start('worker', { host: 'w1' }),
      start('worker', { host: 'w2' }),
    ]);
    const began = Date.now();
    const serveKillAfter = CHAOS_MS * (0.3 + 0.4 * rand());
    let serveKilled = false;
    while (Date.now() - began < CHAOS_MS) {
      await systemClock.sleep(2000 + rand() * 4000);
      if (!serveKilled && Date.now() - began > serveKillAfter) {
        const again = await killOne(serves, 10_000);
        if (again) {
          serves = serves.map((p) => (p.child.exitCode !== null || p.child.signalCode !== null ? again : p));
          serveKilled = true;
          continue;
        }
      }
      const again = await killOne(workers);
      if (again)
        workers = workers.map((p) => (p.child.exitCode !== null || p.child.signalCode !== null ? again : p));
    }
    // The schedules stop with the serve instances. A job of srv queued or still running then
    // (its grace is 3 s) waits for an instance offering role=serve: one without schedules
    // drains them beside the workers.
    assert.deepEqual(
      await Promise.all(serves.map((p) => stop(p))),
      [0, 0],
      serves.map((p) => p.out()).join('\n'),
    );
    const drainer = await start('serve', SERVE_LABELS, 'drain.yaml');
    await until(
      'the queue drained',
      async () => (await jobs(`status IN ('queued', 'running')`)).length === 0,
      60_000,
    ).catch(async (err: Error) => {
      const left = await jobs(`status IN ('queued', 'running')`);
      throw new Error(
        `${err.message}; left: ${left.map((j) => `${j.source} job ${j.id} ${j.status} owner ${j.owner}`).join(', ')}`,
      );
    });
    assert.deepEqual(await Promise.all([drainer, ...workers].map((p) => stop(p))), [0, 0, 0, 0]);
    const workerKills = new Set(kills.filter((k) => k.role === 'worker').map((k) => k.pid)).size;
    console.log(
      `# ${killEvents} kills (${workerKills} of workers, ${killEvents - workerKills} of serve), ${kills.length} running jobs lost, seed ${seed}`,
    );
    assert.ok(workerKills >= 3, `only ${workerKills} worker kills landed mid-backup`);
    assert.equal(serveKilled, true, 'no serve instance was killed mid-backup');

    // 1. One catalog job per claimed slot, and no job for two slots.
    const scheduled = await jobs(`trigger = 'schedule'`);
    const { rows: slots } = await pool.query<{ schedule: string; slot: Date; job_id: string }>(
      `SELECT schedule, slot, job_id FROM lifeboat_queue.fleet_slot ORDER BY slot`,
    );
    assert.ok(scheduled.length >= 40, `only ${scheduled.length} scheduled jobs`);
    assert.equal(slots.length, scheduled.length, 'one catalog job per claimed slot');
    assert.equal(new Set(slots.map((s) => s.job_id)).size, slots.length, 'a job for two slots');
    const byId = new Map(scheduled.map((j) => [j.id, j]));
    for (const s of slots) {
      const j = byId.get(s.job_id);
      assert.ok(j, `slot ${s.schedule} ${s.slot.toISOString()} has no catalog job (${s.job_id})`);
      assert.equal(`backup:${j.source}`, s.schedule);
    }

    // 2. Every killed job finished on another eligible process, or failed saying why.
    for (const k of kills) {
      const [j] = await jobs('id = $1', [k.job]);
      if (j.status === 'failed') {
        console.log(`# killed job ${j.id} (${j.source}) used up its retries: ${j.error}`);
        assert.match(j.error ?? '', /did not finish after its retries/);
        continue;
      }
      assert.equal(j.status, 'succeeded', `killed job ${j.id} (${j.source}) ended ${j.status}: ${j.error}`);
      assert.notEqual(pidOf(j.owner), k.pid, `job ${j.id} still owned by the killed process`);
      const owner = byPid.get(pidOf(j.owner));
      assert.ok(
        eligible(owner, j.source!),
        `job ${j.id} (${j.source}) ran on ${j.owner} with ${JSON.stringify(owner?.labels)}`,
      );
    }
    // Jobs not killed ended as a job ends; no scheduled backup ran on a process without its labels.
    for (const j of scheduled) {
      assert.ok(['succeeded', 'skipped', 'interrupted', 'failed'].includes(j.status), `${j.id} ${j.status}`);
      if (j.status === 'failed')
        assert.ok(
          kills.some((k) => k.job === j.id),
          `${j.id} failed: ${j.error}`,
        );
      if (j.owner && j.status === 'succeeded')
        assert.ok(eligible(byPid.get(pidOf(j.owner)), j.source!), `${j.id} (${j.source}) ran on ${j.owner}`);
    }

    const statuses: Record<string, number> = {};
    for (const j of scheduled) statuses[j.status] = (statuses[j.status] ?? 0) + 1;
    console.log(`# scheduled jobs by status: ${JSON.stringify(statuses)}`);

    // 3. Every succeeded job's snapshot is in the repository, one per job, none shared.
    const snaps = await cli(['snapshots', '--json']);
    assert.equal(snaps.code, 0, snaps.stderr);
    const inRepo = JSON.parse(snaps.stdout) as { id: string; time: string; source: string }[];
    const repoIds = new Set(inRepo.map((s) => s.id));
    const claimed = new Map<string, string>();
    const succeeded = scheduled.filter((j) => j.status === 'succeeded');
    assert.ok(succeeded.length >= 20, `only ${succeeded.length} succeeded`);
    for (const j of succeeded) {
      assert.equal(j.snapshots.length, 1, `job ${j.id} (${j.source}) has ${j.snapshots.length} snapshots`);
      for (const s of j.snapshots) {
        assert.ok(
          repoIds.has(s) || inRepo.some((r) => r.id.startsWith(s)),
          `snapshot ${s} of job ${j.id} is not in the repository`,
        );
        assert.ok(!claimed.has(s), `snapshot ${s} claimed by ${claimed.get(s)} and ${j.id}`);
        claimed.set(s, j.id);
      }
    }
    // A killed attempt may have saved its snapshot before the catalog heard of it: the retry
    // adopts that snapshot (it names the job), so no snapshot is left without a job.
    const orphans = inRepo.filter((r) => ![...claimed.keys()].some((s) => r.id.startsWith(s)));
    console.log(
      `# ${inRepo.length} snapshots, ${succeeded.length} succeeded jobs, ${orphans.length} without a job`,
    );
    const failedKilled = new Set(
      scheduled
        .filter((j) => j.status !== 'succeeded' && kills.some((k) => k.job === j.id))
        .map((j) => j.source),
    );
    for (const o of orphans) {
      // Only a killed job that then used up its retries may leave its snapshot unclaimed.
      assert.ok(
        failedKilled.has(o.source),
        `snapshot ${o.id.slice(0, 8)} of ${o.source} at ${o.time} belongs to no job (kills: ${kills.length})`,
      );
    }

    // 4. The repository reads clean.
    const check = await cli(['check', '--read-data']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });
});
