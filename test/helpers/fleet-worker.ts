/**
 * @module test/helpers/fleet-worker
 * A fleet instance in its own process, for the fleet tests that kill one (kill -9): it starts
 * a FleetQueue, a worker and, when asked, the fleet schedule, then prints `ready`. Each job it
 * runs is recorded in `public.fleet_runs` (start, end, attempt, worker) with the database's
 * clock. Settings come as JSON in FLEET_CHILD (see ChildSettings).
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { systemClock } from '../../src/clock.js';
import { type FleetJob, FleetQueue, type Labels } from '../../src/jobs/fleet/fleet-queue.js';
import { FleetSchedule } from '../../src/jobs/fleet/fleet-schedule.js';
import { parseSchedule } from '../../src/jobs/queue/schedule.js';

export interface ChildSettings {
  url: string;
  schema: string;
  name: string;
  labels: Labels;
  concurrency?: number;
  /** How long each job's handler runs. */
  sleepMs: number;
  leaseSeconds: number;
  pollSeconds?: number;
  retryDelaySeconds?: number;
  /** Cron schedules this instance also claims slots of: each dispatches a backup of `source`. */
  schedules?: { id: string; cron: string; source: string }[];
}

export const FLEET_RUNS_SQL = `CREATE TABLE IF NOT EXISTS public.fleet_runs (
  n serial PRIMARY KEY,
  job_id text NOT NULL,
  source text,
  worker text NOT NULL,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at timestamptz,
  ok boolean
)`;

async function main(): Promise<void> {
  const s = JSON.parse(process.env.FLEET_CHILD ?? '{}') as ChildSettings;
  const pool = new pg.Pool({ connectionString: s.url, max: 2 });
  const queue = await FleetQueue.start({
    url: s.url,
    schema: s.schema,
    leaseSeconds: s.leaseSeconds,
    pollSeconds: s.pollSeconds ?? 0.5,
    retryDelaySeconds: s.retryDelaySeconds ?? 1,
  });
  await queue.work(
    s.labels,
    async (job: FleetJob, run) => {
      const { rows } = await pool.query(
        'INSERT INTO public.fleet_runs (job_id, source, worker, attempt, started_at) VALUES ($1, $2, $3, $4, clock_timestamp()) RETURNING n',
        [job.id, job.source, s.name, run.attempt],
      );
      await systemClock.sleep(s.sleepMs, run.signal);
      const ok = !run.signal.aborted;
      await pool.query('UPDATE public.fleet_runs SET ended_at = clock_timestamp(), ok = $2 WHERE n = $1', [
        rows[0].n,
        ok,
      ]);
      if (!ok) throw new Error('aborted: the lease was lost');
    },
    { name: s.name, concurrency: s.concurrency ?? 1 },
  );
  let schedule: FleetSchedule | undefined;
  if (s.schedules?.length) {
    schedule = new FleetSchedule({ queue, clock: systemClock, instance: s.name, auto: true });
    for (const t of s.schedules) {
      schedule.add({
        id: t.id,
        schedule: parseSchedule(t.cron, t.id),
        job: (slot) => ({ id: `${t.id}@${slot.toISOString()}`, kind: 'backup', source: t.source }),
      });
    }
    schedule.start();
  }
  process.on('SIGTERM', () => {
    void (async () => {
      await schedule?.stop();
      await queue.stop(2000);
      await pool.end();
      process.exit(0);
    })();
  });
  process.stdout.write('ready\n');
}

// Imported by the test for its settings type and table; runs only as the child's entry.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`fleet worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
