/**
 * @module jobs/fleet/fleet-schedule
 * Source schedules across several instances: every instance runs the same timer over the same
 * cron expressions, and at each slot all of them try to claim it with
 * `INSERT ... ON CONFLICT DO NOTHING` on (schedule, slot time) in the queue's schema. The one
 * whose insert lands dispatches the slot's job in the same transaction, so a slot runs exactly
 * once: a second claimant waits on the first's uncommitted row and then finds it taken, and an
 * instance that dies mid-claim rolls back, letting the next claimant have it. No slot is lost
 * while one instance lives.
 *
 * Why not pg-boss's `schedule()`: it reads cron to the minute (no seconds field, which
 * Lifeboat's schedules allow), dedupes sends by a 60-second singleton window rather than by
 * slot, and its timing (a cron monitor every 30 s or more) would move a slot by up to that.
 *
 * Missed slots are handled as `lifeboat serve`'s in-process scheduler handles them: a slot
 * that passed while every instance was down is not made up (each instance starts from the
 * next slot after its start; the RPO alert says when a backup is overdue), and an instance
 * that wakes late fires its pending slot once, then moves on to the next one after now.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { describe, LifeboatError } from '../../errors.js';
import type { Schedule } from '../queue/schedule.js';
import { type FleetJob, type FleetQueue, shuffled } from './fleet-queue.js';

export interface FleetScheduledTask {
  /** Stable across instances and restarts, e.g. `backup:db1`. */
  id: string;
  schedule: Schedule;
  /** The job for a slot (its id goes into the claim); only the claimant's is dispatched. */
  job?: (slot: Date) => FleetJob;
  /**
   * Instead of `job`: records and dispatches the slot's job itself (`lifeboat serve` records it
   * in the catalog first) and returns its id. Called only by the claimant, while the claim is
   * held; a throw gives the claim up, so the next tick tries the slot again.
   */
  submit?: (slot: Date) => Promise<string>;
}

export interface FleetScheduleOptions {
  queue: FleetQueue;
  clock: Clock;
  /** Names this instance in the claims table (default `<host>:<pid>`). */
  instance: string;
  /** With a timer; tests drive `tick()` themselves. */
  auto: boolean;
  /** Claims older than this are deleted (default 7 days). */
  keepClaimsMs?: number;
}

/** A slot this instance claimed and dispatched. */
export interface ClaimedSlot {
  task: string;
  slot: Date;
  jobId: string;
}

const MAX_SLEEP_MS = 60_000;

/**
 * The id of a slot's job, the same on every instance: an instance that dies after recording
 * the job but before its claim commits leaves that job behind, and the next claimant, asking
 * for the same id, takes it as the slot's job instead of recording a second one.
 */
export function slotJobId(task: string, slot: Date): string {
  return createHash('sha256').update(`${task}@${slot.toISOString()}`).digest('hex').slice(0, 16);
}

export class FleetSchedule {
  private readonly tasks = new Map<string, { task: FleetScheduledTask; next: Date | undefined }>();
  private timer: NodeJS.Timeout | undefined;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private ticking: Promise<ClaimedSlot[]> | undefined;
  private lastError: string | undefined;
  private lastCleanup = 0;
  /** The last tick failed to claim a slot (the database away): retry after a pause, not at once. */
  private failing = false;

  constructor(private readonly o: FleetScheduleOptions) {}

  add(task: FleetScheduledTask): void {
    this.tasks.set(task.id, { task, next: task.schedule.next(this.o.clock.now()) });
  }

  nextRun(id: string): Date | undefined {
    return this.tasks.get(id)?.next;
  }

  start(): void {
    this.state = 'running';
    const now = this.o.clock.now();
    // From the next slot after now: what passed while this instance was down is not made up.
    for (const entry of this.tasks.values()) entry.next = entry.task.schedule.next(now);
    if (this.o.auto) this.arm();
  }

  /** Stops the timer and waits for a claim under way. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking?.catch(() => {});
  }

  /**
   * Claims every due slot (one at a time); returns the slots this instance won.
   * A failed claim (the database away) is retried at the next tick while the slot is the
   * task's pending one.
   */
  tick(): Promise<ClaimedSlot[]> {
    if (this.ticking) return this.ticking.then(() => this.tick());
    const run = this.claimDue().finally(() => {
      this.ticking = undefined;
    });
    this.ticking = run;
    return run;
  }

  health(): { ok: boolean; reason?: string } {
    if (this.state === 'new') return { ok: false, reason: 'the fleet schedule has not started' };
    if (this.state === 'stopped') return { ok: false, reason: 'the fleet schedule is stopped' };
    if (this.lastError) return { ok: true, reason: `last claim error: ${this.lastError}` };
    return { ok: true };
  }

  private async claimDue(): Promise<ClaimedSlot[]> {
    if (this.state !== 'running') return [];
    const now = this.o.clock.now();
    const won: ClaimedSlot[] = [];
    this.failing = false;
    // In random order: instances that wake for the same slots then claim different tasks
    // side by side, instead of each waiting on the other's claim of the same task in turn.
    for (const entry of shuffled([...this.tasks.values()])) {
      const slot = entry.next;
      if (!slot || slot.getTime() > now.getTime()) continue;
      try {
        const jobId = await this.claim(entry.task, slot);
        if (jobId) won.push({ task: entry.task.id, slot, jobId });
        entry.next = entry.task.schedule.next(now);
      } catch (err) {
        this.lastError = describe(err);
        this.failing = true;
      }
    }
    await this.cleanup(now);
    return won;
  }

  /** The slot's job id when this instance claimed and dispatched it; undefined when another did. */
  private async claim(task: FleetScheduledTask, slot: Date): Promise<string | undefined> {
    const q = this.o.queue;
    return q.transaction(async (client, db) => {
      if (task.submit) {
        const { rowCount } = await client.query(
          `INSERT INTO ${q.schema}.fleet_slot (schedule, slot, job_id, claimed_by) VALUES ($1, $2, '', $3)
           ON CONFLICT DO NOTHING`,
          [task.id, slot, this.o.instance],
        );
        if (rowCount === 0) return undefined;
        const id = await task.submit(slot);
        await client.query(
          `UPDATE ${q.schema}.fleet_slot SET job_id = $3 WHERE schedule = $1 AND slot = $2`,
          [task.id, slot, id],
        );
        return id;
      }
      if (!task.job)
        throw new LifeboatError('internal', `[fleet] schedule ${task.id} has neither job nor submit`);
      const job = task.job(slot);
      const { rowCount } = await client.query(
        `INSERT INTO ${q.schema}.fleet_slot (schedule, slot, job_id, claimed_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING`,
        [task.id, slot, job.id, this.o.instance],
      );
      if (rowCount === 0) return undefined;
      // Without a queued job the claim is rolled back, so the next tick tries the slot again.
      if (!(await q.dispatch(job, db))) {
        throw new LifeboatError('internal', `[fleet] the queue refused job ${job.id} of ${task.id}`);
      }
      return job.id;
    });
  }

  private async cleanup(now: Date): Promise<void> {
    const keep = this.o.keepClaimsMs ?? 7 * 24 * 3600_000;
    if (now.getTime() - this.lastCleanup < Math.min(keep, 3600_000)) return;
    this.lastCleanup = now.getTime();
    await this.o.queue.db
      .query(`DELETE FROM ${this.o.queue.schema}.fleet_slot WHERE slot < $1`, [
        new Date(now.getTime() - keep),
      ])
      .catch((err) => {
        this.lastError = describe(err);
      });
  }

  private arm(): void {
    if (this.state !== 'running') return;
    const now = this.o.clock.now().getTime();
    let wait = MAX_SLEEP_MS;
    for (const { next } of this.tasks.values()) if (next) wait = Math.min(wait, next.getTime() - now);
    this.timer = setTimeout(
      () => {
        void this.tick().finally(() => this.arm());
      },
      Math.max(wait, this.failing ? 1000 : 10),
    );
    this.timer.unref();
  }
}
