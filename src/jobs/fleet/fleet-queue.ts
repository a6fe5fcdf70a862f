/**
 * @module jobs/fleet/fleet-queue
 * Lifeboat's jobs shared by several `lifeboat serve` instances (and `lifeboat worker`s) through
 * PostgreSQL, on pg-boss. What it guarantees and how:
 *
 * - One queue per exclusivity key (`source:<name>`, or `repository:<kind>` for prune and
 *   check), with pg-boss's `singleton` policy: its unique index lets one job of a queue be
 *   active at a time, across every instance, while any number wait. One queue per key rather
 *   than one queue for all: pg-boss fetches a queue's oldest job first and, when that job's
 *   key is already active, fetches nothing, so a shared queue would hold every source behind
 *   the busiest one.
 * - Routing by labels: each queue's labels (a source's `runs_on`) sit in `fleet_route`; a
 *   worker fetches only from queues whose labels are all among its own (jsonb `<@`). A job
 *   without labels runs anywhere.
 * - Routing by kind: a worker may take only some kinds of job (one with a write-only key
 *   takes backups only). It fetches only from queues whose next job, in pg-boss's fetch
 *   order, is of a kind it takes, and rolls back a fetch that raced onto another kind, so a
 *   restore queued behind nothing waits for a worker that can run it.
 * - Retries with backoff are pg-boss's (retryLimit, retryDelay, retryBackoff per job).
 * - A lease: each worker writes a heartbeat row (`fleet_worker`: host, labels, current jobs,
 *   last seen). Every instance reaps workers silent for longer than the lease and fails their
 *   jobs, which pg-boss then retries (after the retry delay) on another worker. A job is
 *   fetched and written into its worker's row in one transaction, so no active job escapes
 *   the reaper. pg-boss's own expiry (`expireInSeconds`, under 24 h) stays as the outer bound
 *   on a job's run time; the lease is what makes a long backup safe to run for hours.
 * - A worker that finds its own row reaped (it stalled past the lease) aborts its handlers'
 *   signals and does not complete those jobs: they already belong to someone else.
 *
 * The tables live in the queue's own schema (default `lifeboat_queue`) beside pg-boss's.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { describe, LifeboatError } from '../../errors.js';

/** Labels: a source's `runs_on`, or what a worker offers (`{ host: 'db1' }`). */
export type Labels = Record<string, string>;

/** A Lifeboat job as the fleet carries it; the catalog keeps the rest under `id`. */
export interface FleetJob {
  /** The catalog's job id. */
  id: string;
  kind: string;
  /** Jobs of one source never overlap; null for repository jobs (prune, check), one per kind. */
  source: string | null;
  /** Only workers carrying all these labels run the job. */
  labels?: Labels;
}

/** What a handler is told besides the job. */
export interface FleetRun {
  /** pg-boss's id of this delivery (stable across retries). */
  queueJobId: string;
  /** 0 on the first attempt, then 1, 2, ... */
  attempt: number;
  /** Aborted when this worker lost the job's lease or is stopping. */
  signal: AbortSignal;
}

export type FleetHandler = (job: FleetJob, run: FleetRun) => Promise<void>;

export interface FleetQueueOptions {
  /** postgres:// URL of the database holding the queue. Never logged. */
  url: string;
  /** Schema of pg-boss's and the fleet's tables (default `lifeboat_queue`). */
  schema?: string;
  /** Attempts after the first (default 2). */
  retryLimit?: number;
  /** Seconds before a retry (default 30); doubled per attempt, with jitter, when `retryBackoff`. */
  retryDelaySeconds?: number;
  /** Default true. */
  retryBackoff?: boolean;
  /** Outer bound on one attempt's run time, under 24 h (pg-boss's limit); default 23 h. */
  expireInSeconds?: number;
  /** A worker silent this long is gone and its jobs are retried (default 60 s). */
  leaseSeconds?: number;
  /** How often an idle worker looks for work (default 2 s). */
  pollSeconds?: number;
  /** How often pg-boss runs its maintenance (expiry, archive); default 60 s. */
  maintenanceSeconds?: number;
}

export interface WorkOptions {
  /** Jobs run at once by this worker (default 1). */
  concurrency?: number;
  /** A name for the overview (default `<host>:<pid>`). */
  name?: string;
  /** Only jobs of these kinds (default: every kind). */
  kinds?: readonly string[];
}

/**
 * A job a worker fetched, as its heartbeat row holds it (the reaper reads queue and
 * queueJobId). `attempt` is 0 on the first delivery.
 */
export interface FleetClaim {
  queue: string;
  queueJobId: string;
  job: FleetJob;
  attempt: number;
  since: string;
}

/** A heartbeat row's identity; `token` names the worker token of a remote worker. */
export interface FleetWorkerIdentity {
  id: string;
  name: string;
  host: string;
  pid: number;
  labels: Labels;
  /** The job kinds it takes; null: every kind. */
  kinds?: readonly string[] | null;
  token?: string | null;
}

/** A worker as the overview lists it. */
export interface FleetWorkerStatus {
  id: string;
  name: string;
  host: string;
  pid: number;
  labels: Labels;
  /** The job kinds it takes; null: every kind. */
  kinds: string[] | null;
  /** A remote worker's token name; null for a worker that holds the catalog. */
  token: string | null;
  startedAt: Date;
  lastSeen: Date;
  current: { id: string; kind: string; source: string | null; since: string }[];
}

/** A connection pg-boss can run its SQL on: lets a send join our transaction. */
type Db = PgBoss.Db;

interface JobData {
  job: FleetJob;
}

const DEFAULT_SCHEMA = 'lifeboat_queue';

/** The queue of a job: its exclusivity key, spelled as pg-boss accepts. */
export function queueNameOf(job: Pick<FleetJob, 'kind' | 'source'>): string {
  return job.source ? `source.${job.source}` : `repository.${job.kind}`;
}

/** Whether a worker offering `offered` may run a job asking for `wanted`. */
export function labelsMatch(wanted: Labels | undefined, offered: Labels): boolean {
  return Object.entries(wanted ?? {}).every(([k, v]) => offered[k] === v);
}

export class FleetQueue {
  readonly schema: string;
  private readonly boss: PgBoss;
  private readonly pool: pg.Pool;
  private readonly queues = new Set<string>();
  private readonly workersHere = new Set<FleetWorker>();
  private reaper: NodeJS.Timeout | undefined;
  private reaping = false;
  private lastError: string | undefined;

  private constructor(readonly options: FleetQueueOptions) {
    this.schema = options.schema ?? DEFAULT_SCHEMA;
    if (!/^[a-z_][a-z0-9_]{0,49}$/.test(this.schema)) {
      throw new LifeboatError(
        'config_invalid',
        `[fleet] invalid queue schema "${this.schema}" (use lowercase letters, digits and underscores)`,
      );
    }
    this.boss = new PgBoss({
      connectionString: options.url,
      schema: this.schema,
      max: 4,
      schedule: false,
      supervise: true,
      maintenanceIntervalSeconds: options.maintenanceSeconds ?? 60,
    });
    // pg-boss reports failures of its own loops here; without a listener they would throw.
    this.boss.on('error', (err) => {
      this.lastError = describe(err);
    });
    this.pool = new pg.Pool({ connectionString: options.url, max: 4 });
    this.pool.on('error', (err) => {
      this.lastError = describe(err);
    });
  }

  /** Connects, creates pg-boss's schema and the fleet's tables when missing, starts the reaper. */
  static async start(options: FleetQueueOptions): Promise<FleetQueue> {
    const queue = new FleetQueue(options);
    try {
      await queue.boss.start();
      await queue.migrate();
    } catch (err) {
      await queue.boss.stop({ graceful: false, wait: true }).catch(() => {});
      await queue.pool.end().catch(() => {});
      throw new LifeboatError(
        'unavailable',
        `[fleet] unable to start the job queue in schema ${queue.schema}: ${describe(err)} (check the queue database URL and that its user may create the schema)`,
        { cause: err, retryable: true },
      );
    }
    const every = Math.max(250, (queue.leaseSeconds * 1000) / 3);
    queue.reaper = setInterval(() => void queue.reap(), every);
    queue.reaper.unref();
    return queue;
  }

  get leaseSeconds(): number {
    return this.options.leaseSeconds ?? 60;
  }

  /** The last error of pg-boss's or the reaper's background work, for the health check. */
  health(): { ok: boolean; reason?: string } {
    return this.lastError ? { ok: true, reason: `last queue error: ${this.lastError}` } : { ok: true };
  }

  /**
   * Queues a job (to its source's queue, routed by its labels). Returns pg-boss's id, or null
   * when pg-boss refused it as a duplicate. `db` runs the send inside the caller's transaction
   * (the schedule's slot claim).
   */
  async dispatch(job: FleetJob, db?: Db): Promise<string | null> {
    const name = queueNameOf(job);
    await this.ensureQueue(name, job);
    const data: JobData = {
      job: { id: job.id, kind: job.kind, source: job.source, labels: job.labels ?? {} },
    };
    const o = this.options;
    return this.boss.send(name, data as unknown as object, {
      singletonKey: name,
      retryLimit: o.retryLimit ?? 2,
      retryDelay: o.retryDelaySeconds ?? 30,
      retryBackoff: o.retryBackoff ?? true,
      expireInSeconds: o.expireInSeconds ?? 23 * 3600,
      ...(db ? { db } : {}),
    });
  }

  /** Starts a worker here: it runs jobs whose labels it carries, `concurrency` at a time. */
  async work(labels: Labels, handler: FleetHandler, options: WorkOptions = {}): Promise<FleetWorker> {
    const worker = new FleetWorker(this, labels, handler, options);
    await worker.start();
    this.workersHere.add(worker);
    return worker;
  }

  /** Every worker with a live heartbeat row: the overview's list. */
  async workers(): Promise<FleetWorkerStatus[]> {
    const { rows } = await this.pool.query(
      `SELECT id, name, host, pid, labels, kinds, token, started_at, last_seen, current FROM ${this.schema}.fleet_worker ORDER BY name, id`,
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      host: r.host,
      pid: r.pid,
      labels: r.labels,
      kinds: r.kinds,
      token: r.token ?? null,
      startedAt: r.started_at,
      lastSeen: r.last_seen,
      current: r.current,
    }));
  }

  /** A job's state in pg-boss (created, retry, active, completed, failed, cancelled), or null. */
  async stateOf(job: Pick<FleetJob, 'kind' | 'source'>, queueJobId: string): Promise<string | null> {
    const found = await this.boss.getJobById(queueNameOf(job), queueJobId, { includeArchive: true });
    return found?.state ?? null;
  }

  /**
   * Of the given Lifeboat jobs, those whose fleet job ended failed (its retries used up)
   * or cancelled, with no delivery of them still waiting or running: id to the last error.
   */
  async givenUp(jobs: Pick<FleetJob, 'id' | 'kind' | 'source'>[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const live = new Set<string>();
    for (const r of await this.deliveries(jobs)) {
      if (r.state === 'failed' || r.state === 'cancelled') {
        out.set(r.id, r.output?.message ?? `the fleet job ended ${r.state}`);
      } else if (r.state !== 'completed') live.add(r.id);
    }
    for (const id of live) out.delete(id);
    return out;
  }

  /** Of the given Lifeboat jobs, those the queue holds or held (waiting, running or ended). */
  async known(jobs: Pick<FleetJob, 'id' | 'kind' | 'source'>[]): Promise<Set<string>> {
    return new Set((await this.deliveries(jobs)).map((r) => r.id));
  }

  /**
   * The queue's deliveries of the given jobs, live and archived. Looked up by queue name, a
   * chunk of queues at a time: each queue is a partition (see routeChunks).
   */
  private async deliveries(
    jobs: Pick<FleetJob, 'id' | 'kind' | 'source'>[],
  ): Promise<{ id: string; state: string; output: { message?: string } | null }[]> {
    const byQueue = new Map<string, string[]>();
    for (const j of jobs) {
      const name = queueNameOf(j);
      byQueue.set(name, [...(byQueue.get(name) ?? []), j.id]);
    }
    const names = [...byQueue.keys()];
    const out = [];
    for (let i = 0; i < names.length; i += ROUTE_CHUNK) {
      const chunk = names.slice(i, i + ROUTE_CHUNK);
      const ids = chunk.flatMap((n) => byQueue.get(n) ?? []);
      const { rows } = await this.pool.query(
        `SELECT data->'job'->>'id' AS id, state, output FROM ${this.schema}.job
          WHERE name = ANY($1::text[]) AND data->'job'->>'id' = ANY($2::text[])
         UNION ALL
         SELECT data->'job'->>'id' AS id, state, output FROM ${this.schema}.archive
          WHERE name = ANY($1::text[]) AND data->'job'->>'id' = ANY($2::text[])`,
        [chunk, ids],
      );
      out.push(...rows);
    }
    return out;
  }

  /** Runs `fn` in one transaction; `db` lets pg-boss's send join it. */
  async transaction<T>(fn: (client: pg.PoolClient, db: Db) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A checked-out client's connection errors are not the pool's to report: note them here.
    const onError = (err: Error) => this.noteError(err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const db: Db = { executeSql: (text, values) => client.query(text, values as unknown[]) };
      const out = await fn(client, db);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.off('error', onError);
      client.release();
    }
  }

  /** Stops the workers here (running handlers get `graceMs`, then their signals abort), then disconnects. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    this.reaper = undefined;
    await Promise.all([...this.workersHere].map((w) => w.stop(graceMs)));
    await this.boss.stop({ graceful: false, wait: true, close: true }).catch(() => {});
    await this.pool.end().catch(() => {});
  }

  // ---- a worker's steps: the local loop (FleetWorker) and the remote workers' routes ----

  /** Writes a worker's heartbeat row, or refreshes it when it exists. */
  async registerWorker(w: FleetWorkerIdentity): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.schema}.fleet_worker (id, name, host, pid, labels, kinds, token) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET last_seen = now()`,
      [
        w.id,
        w.name,
        w.host,
        w.pid,
        JSON.stringify(w.labels),
        w.kinds ? JSON.stringify(w.kinds) : null,
        w.token ?? null,
      ],
    );
  }

  /**
   * A heartbeat: false when the row is gone (the worker stalled past the lease and the reaper
   * handed its jobs on). Only the time: `current` changes in place (claim, finish), so a beat
   * that waited on a fetch's row lock cannot write back a list from before that fetch.
   */
  async beat(workerId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE ${this.schema}.fleet_worker SET last_seen = now() WHERE id = $1`,
      [workerId],
    );
    return (rowCount ?? 0) > 0;
  }

  /** A worker's heartbeat row, or undefined when it is gone. */
  async workerRow(
    workerId: string,
  ): Promise<(FleetWorkerIdentity & { current: (FleetClaim & { id: string })[] }) | undefined> {
    const { rows } = await this.pool.query(
      `SELECT id, name, host, pid, labels, kinds, token, current FROM ${this.schema}.fleet_worker WHERE id = $1`,
      [workerId],
    );
    return rows[0];
  }

  /**
   * Fetches one job from a queue whose labels are all among `labels` (and of one of `kinds`,
   * when given) and records it in the worker's heartbeat row, in one transaction: an active
   * job is always in some worker's row, so none escapes the reaper. Undefined when no job is
   * ready (or `stopping` says stop).
   */
  async claim(
    workerId: string,
    labels: Labels,
    kinds: readonly string[] | null,
    stopping = () => false,
  ): Promise<FleetClaim | undefined> {
    for (const names of await this.routeChunks(labels)) {
      if (stopping()) return undefined;
      const claimed = await this.claimIn(names, workerId, kinds, stopping);
      if (claimed) return claimed;
    }
    return undefined;
  }

  /**
   * The queues whose labels are all among `labels`, shuffled (so workers do not all pile onto
   * the same queue) and cut into chunks of ROUTE_CHUNK. Every queue is a partition of pg-boss's
   * job table with its own indexes: a query over all of them plans and locks every partition
   * (with a thousand sources, more locks than PostgreSQL's default lock table holds), so the
   * ready jobs are looked for one chunk of named queues at a time, which the planner prunes to.
   */
  private async routeChunks(labels: Labels): Promise<string[][]> {
    const { rows } = await this.pool.query<{ queue: string }>(
      `SELECT queue FROM ${this.schema}.fleet_route WHERE labels <@ $1::jsonb ORDER BY random()`,
      [JSON.stringify(labels)],
    );
    const chunks: string[][] = [];
    for (let i = 0; i < rows.length; i += ROUTE_CHUNK) {
      chunks.push(rows.slice(i, i + ROUTE_CHUNK).map((r) => r.queue));
    }
    return chunks;
  }

  /** claim within the named queues: those whose next ready job is of a kind in `kinds`. */
  private async claimIn(
    names: string[],
    workerId: string,
    kinds: readonly string[] | null,
    stopping: () => boolean,
  ): Promise<FleetClaim | undefined> {
    const s = this.schema;
    // Each queue's next ready job, in pg-boss's fetch order.
    const { rows } = await this.pool.query(
      `SELECT DISTINCT ON (j.name) j.name AS queue, j.data->'job'->>'kind' AS kind FROM ${s}.job j
       WHERE j.name = ANY($1::text[]) AND j.state < 'active' AND j.start_after < now()
       ORDER BY j.name, j.priority DESC, j.created_on, j.id`,
      [names],
    );
    const ready = shuffled(
      (rows as { queue: string; kind: string }[]).filter((r) => !kinds || kinds.includes(r.kind)),
    );
    for (const { queue } of ready) {
      if (stopping()) return undefined;
      const claimed = await this.transaction(async (client, db) => {
        const [job] = await this.boss.fetch<JobData>(queue, { includeMetadata: true, db });
        if (!job) return undefined;
        // Another job came first meanwhile: the rollback leaves it queued for a worker that takes it.
        if (kinds && !kinds.includes(job.data.job.kind)) throw new Error(NOT_OURS);
        const c: FleetClaim = {
          queue,
          queueJobId: job.id,
          job: job.data.job,
          attempt: job.retryCount,
          since: new Date().toISOString(),
        };
        const { rowCount } = await client.query(
          `UPDATE ${s}.fleet_worker SET last_seen = now(), current = current || jsonb_build_array($2::jsonb) WHERE id = $1`,
          [workerId, entryOf(c)],
        );
        if (rowCount === 0) throw new Error('this worker was reaped while fetching');
        return c;
      }).catch((err) => {
        // A unique violation (the queue's job is already active elsewhere) rolls back too.
        const m = describe(err);
        if (!/reaped|current transaction is aborted/.test(m) && !m.includes(NOT_OURS)) this.noteError(err);
        return undefined;
      });
      if (claimed) return claimed;
    }
    return undefined;
  }

  /**
   * Ends a job the worker holds: completes it (`outcome.error` undefined) or fails it (pg-boss
   * retries), or, with no outcome, only lets it go; and takes it out of the worker's row, in
   * one transaction under the row's lock, so the reaper cannot fail it meanwhile. False (and
   * nothing done) when the row no longer holds it: it was reaped and belongs to someone else.
   */
  async finish(workerId: string, queueJobId: string, outcome?: { error?: string }): Promise<boolean> {
    const s = this.schema;
    return this.transaction(async (client, db) => {
      const { rows } = await client.query(
        `SELECT e->>'queue' AS queue FROM ${s}.fleet_worker w, jsonb_array_elements(w.current) e
         WHERE w.id = $1 AND e->>'queueJobId' = $2 FOR UPDATE OF w`,
        [workerId, queueJobId],
      );
      if (!rows[0]) return false;
      const queue = rows[0].queue as string;
      if (outcome?.error !== undefined) {
        await this.boss.fail(queue, queueJobId, { message: outcome.error }, { db });
      } else if (outcome) {
        // pg-boss reads a third argument as the job's output: the connection goes fourth.
        await this.boss.complete(queue, queueJobId, {}, { db });
      }
      await client.query(
        `UPDATE ${s}.fleet_worker SET current =
           (SELECT COALESCE(jsonb_agg(e), '[]') FROM jsonb_array_elements(current) e WHERE e->>'queueJobId' <> $2)
         WHERE id = $1`,
        [workerId, queueJobId],
      );
      return true;
    });
  }

  /**
   * Deletes a worker's heartbeat row on a clean stop; false while it holds jobs (they stay,
   * so the reaper hands them on after the lease).
   */
  async unregister(workerId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM ${this.schema}.fleet_worker WHERE id = $1 AND current = '[]'::jsonb`,
      [workerId],
    );
    return (rowCount ?? 0) > 0;
  }

  // ---- for FleetWorker ---------------------------------------------------------------

  /** @internal */
  get db(): pg.Pool {
    return this.pool;
  }

  /** @internal */
  noteError(err: unknown): void {
    this.lastError = describe(err);
  }

  /** @internal */
  forget(worker: FleetWorker): void {
    this.workersHere.delete(worker);
  }

  // ---- internals ---------------------------------------------------------------------

  private async migrate(): Promise<void> {
    const s = this.schema;
    await this.transaction(async (client) => {
      // Two instances starting at once would race on CREATE TABLE IF NOT EXISTS.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${s}.fleet`]);
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${s}.fleet_route (
          queue text PRIMARY KEY,
          labels jsonb NOT NULL DEFAULT '{}'
        );
        CREATE TABLE IF NOT EXISTS ${s}.fleet_worker (
          id text PRIMARY KEY,
          name text NOT NULL,
          host text NOT NULL,
          pid integer NOT NULL,
          labels jsonb NOT NULL,
          started_at timestamptz NOT NULL DEFAULT now(),
          last_seen timestamptz NOT NULL DEFAULT now(),
          current jsonb NOT NULL DEFAULT '[]'
        );
        -- The kinds a worker takes (NULL: every kind); tables made before it get the column.
        ALTER TABLE ${s}.fleet_worker ADD COLUMN IF NOT EXISTS kinds jsonb;
        CREATE TABLE IF NOT EXISTS ${s}.fleet_slot (
          schedule text NOT NULL,
          slot timestamptz NOT NULL,
          job_id text NOT NULL,
          claimed_by text NOT NULL,
          claimed_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (schedule, slot)
        );
      `);
      // A remote worker's token name (added after the first release). Only when missing: an
      // ALTER locks the table against every worker's heartbeat, even when it changes nothing.
      const { rowCount } = await client.query(
        `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'fleet_worker' AND column_name = 'token'`,
        [s],
      );
      if (!rowCount) await client.query(`ALTER TABLE ${s}.fleet_worker ADD COLUMN token text`);
    });
  }

  private async ensureQueue(name: string, job: FleetJob): Promise<void> {
    const labels = JSON.stringify(job.labels ?? {});
    // The route follows the latest dispatch: a source whose runs_on changed moves its queue.
    await this.pool.query(
      `INSERT INTO ${this.schema}.fleet_route (queue, labels) VALUES ($1, $2)
       ON CONFLICT (queue) DO UPDATE SET labels = EXCLUDED.labels WHERE fleet_route.labels <> EXCLUDED.labels`,
      [name, labels],
    );
    if (this.queues.has(name)) return;
    if (!(await this.boss.getQueue(name))) await this.createQueue(name);
    this.queues.add(name);
  }

  /**
   * Creates a queue under an advisory lock held by every instance's creates: pg-boss's
   * create_queue inserts the queue's row and then adds a foreign key to the queue table, so
   * two instances creating two queues at once deadlock (each waits for the other's row lock),
   * and PostgreSQL aborts one of them with the job it was dispatching.
   */
  private async createQueue(name: string): Promise<void> {
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${this.schema}.create_queue`]);
      // Another instance created it while we waited for the lock.
      if (!(await this.boss.getQueue(name))) await this.boss.createQueue(name, { name, policy: 'singleton' });
    });
  }

  /** Fails the jobs of workers silent past the lease (pg-boss retries them), once per worker. */
  private async reap(): Promise<void> {
    if (this.reaping) return;
    this.reaping = true;
    try {
      await this.transaction(async (client, db) => {
        const { rows } = await client.query(
          `DELETE FROM ${this.schema}.fleet_worker WHERE last_seen < now() - $1 * interval '1 second'
           RETURNING name, host, current`,
          [this.leaseSeconds],
        );
        for (const w of rows) {
          for (const c of w.current as { queue: string; queueJobId: string }[]) {
            await this.boss.fail(
              c.queue,
              c.queueJobId,
              {
                message: `worker ${w.name} on ${w.host} stopped answering (no heartbeat for ${this.leaseSeconds}s); the job is retried on another worker`,
              },
              { db },
            );
          }
        }
      });
    } catch (err) {
      this.noteError(err);
    } finally {
      this.reaping = false;
    }
  }
}

/** A copy of `items` in random order (Fisher-Yates). */
export function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const k = Math.floor(Math.random() * (i + 1));
    [out[i], out[k]] = [out[k], out[i]];
  }
  return out;
}

/** Queues looked at per query when looking for a ready job (see routeChunks). */
const ROUTE_CHUNK = 100;

const NOT_OURS = 'fetched a job of a kind this worker does not take';

/** Runs a handler on a claimed job (FleetWorker, RemoteWorker): the error's text when it threw. */
export async function runHandler(
  handler: FleetHandler,
  claim: Pick<FleetClaim, 'queueJobId' | 'job' | 'attempt'>,
  signal: AbortSignal,
): Promise<string | undefined> {
  try {
    await handler(claim.job, { queueJobId: claim.queueJobId, attempt: claim.attempt, signal });
    return undefined;
  } catch (err) {
    return describe(err);
  }
}

/** Resolves when every one of `done` settles, or after `ms`, whichever comes first. */
export async function settleWithin(done: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => {
    timer = setTimeout(r, ms);
  });
  await Promise.race([Promise.all(done), timeout]);
  clearTimeout(timer);
}

/** How a claim appears in the heartbeat row (the reaper reads queue and queueJobId). */
function entryOf(c: FleetClaim): string {
  const { queue, queueJobId, since } = c;
  return JSON.stringify({ queue, queueJobId, id: c.job.id, kind: c.job.kind, source: c.job.source, since });
}

interface Running {
  claim: FleetClaim;
  abort: AbortController;
  done: Promise<void>;
  lost: boolean;
}

/** One worker: polls the queues its labels reach, runs jobs, keeps its heartbeat row. */
export class FleetWorker {
  readonly id = randomUUID();
  readonly name: string;
  private readonly running = new Map<string, Running>();
  private readonly concurrency: number;
  private readonly kinds: readonly string[] | null;
  private poller: NodeJS.Timeout | undefined;
  private beat: NodeJS.Timeout | undefined;
  private polling = false;
  private stopping = false;

  constructor(
    private readonly fleet: FleetQueue,
    readonly labels: Labels,
    private readonly handler: FleetHandler,
    options: WorkOptions,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.kinds = options.kinds ? [...options.kinds] : null;
    this.name = options.name ?? `${hostname()}:${process.pid}`;
  }

  /** Jobs running here now. */
  current(): FleetJob[] {
    return [...this.running.values()].map((r) => r.claim.job);
  }

  /** @internal */
  async start(): Promise<void> {
    await this.register();
    const poll = (this.fleet.options.pollSeconds ?? 2) * 1000;
    this.poller = setInterval(() => void this.poll(), poll);
    this.beat = setInterval(() => void this.heartbeat(), Math.max(200, (this.fleet.leaseSeconds * 1000) / 4));
    void this.poll();
  }

  /** Takes no more jobs; running ones get `graceMs`, then are aborted and left to the lease. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.poller) clearInterval(this.poller);
    await settleWithin(
      [...this.running.values()].map((r) => r.done),
      graceMs,
    );
    for (const r of this.running.values()) r.abort.abort();
    if (this.beat) clearInterval(this.beat);
    // Jobs still running stay in the row, so the reaper hands them on after the lease.
    if (this.running.size === 0) await this.fleet.unregister(this.id).catch(() => false);
    this.fleet.forget(this);
  }

  private register(): Promise<void> {
    return this.fleet.registerWorker({
      id: this.id,
      name: this.name,
      host: hostname(),
      pid: process.pid,
      labels: this.labels,
      kinds: this.kinds,
    });
  }

  private async heartbeat(): Promise<void> {
    try {
      if (!(await this.fleet.beat(this.id))) {
        // Reaped: we stalled past the lease and our jobs were handed on. Let them go.
        for (const r of this.running.values()) {
          r.lost = true;
          r.abort.abort();
        }
        if (!this.stopping) await this.register();
      }
    } catch (err) {
      this.fleet.noteError(err);
    }
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    try {
      while (!this.stopping && this.running.size < this.concurrency) {
        if (!(await this.takeOne())) break;
      }
    } catch (err) {
      this.fleet.noteError(err);
    } finally {
      this.polling = false;
    }
  }

  /** Fetches one job from a queue this worker may serve; false when none is ready. */
  private async takeOne(): Promise<boolean> {
    const claim = await this.fleet.claim(this.id, this.labels, this.kinds, () => this.stopping);
    if (!claim) return false;
    const r: Running = { claim, abort: new AbortController(), done: Promise.resolve(), lost: false };
    this.running.set(claim.queueJobId, r);
    r.done = this.runJob(r);
    return true;
  }

  private async runJob(r: Running): Promise<void> {
    const { claim } = r;
    const error = await runHandler(this.handler, claim, r.abort.signal);
    try {
      // A lost job is no longer in our row: finish then does nothing.
      if (!r.lost) await this.fleet.finish(this.id, claim.queueJobId, { error });
    } catch (err) {
      this.fleet.noteError(err);
    } finally {
      this.running.delete(claim.queueJobId);
      void this.poll();
    }
  }
}
