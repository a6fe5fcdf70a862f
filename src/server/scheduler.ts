/**
 * @module server/scheduler
 * Runs tasks at the times their schedules name, reading time from an injected clock. `tick()`
 * fires every task that is due; with `auto` a timer calls it (sleeping until the next due time,
 * at most a minute, so a changed wall clock is noticed); tests drive a TestClock and call
 * `tick()` themselves. Runs missed while the server was down are not made up: the RPO alert
 * says when that matters.
 */
import type { Clock } from '../clock.js';
import type { Schedule } from '../jobs/queue/schedule.js';

export interface ScheduledTask {
  id: string;
  schedule: Schedule;
  /** Called when due; must not throw (the runner records failures itself). */
  run: () => void | Promise<void>;
}

const MAX_SLEEP_MS = 60_000;

export class Scheduler {
  private readonly tasks = new Map<string, { task: ScheduledTask; next: Date | undefined }>();
  private timer: NodeJS.Timeout | undefined;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private lastLoop = 0;
  private loopError: string | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly options: { auto: boolean },
  ) {}

  add(task: ScheduledTask): void {
    this.tasks.set(task.id, { task, next: task.schedule.next(this.clock.now()) });
  }

  nextRun(id: string): Date | undefined {
    return this.tasks.get(id)?.next;
  }

  start(): void {
    this.state = 'running';
    const now = this.clock.now();
    for (const entry of this.tasks.values()) entry.next = entry.task.schedule.next(now);
    if (this.options.auto) this.arm();
  }

  stop(): void {
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Fires every due task once, then computes its next run from now. Returns the ids fired. */
  tick(): string[] {
    if (this.state !== 'running') return [];
    const now = this.clock.now();
    const fired: string[] = [];
    for (const entry of this.tasks.values()) {
      if (!entry.next || entry.next.getTime() > now.getTime()) continue;
      entry.next = entry.task.schedule.next(now);
      fired.push(entry.task.id);
      try {
        void Promise.resolve(entry.task.run()).catch((err) => {
          this.loopError = String(err);
        });
      } catch (err) {
        this.loopError = String(err);
      }
    }
    return fired;
  }

  /** Fine while started and, when it runs its own timer, that timer keeps firing. */
  health(): { ok: boolean; reason?: string } {
    if (this.state === 'new') return { ok: false, reason: 'the scheduler has not started' };
    if (this.state === 'stopped') return { ok: false, reason: 'the scheduler is stopped (shutting down)' };
    if (this.options.auto && performance.now() - this.lastLoop > 3 * MAX_SLEEP_MS) {
      return { ok: false, reason: 'the scheduler loop has not run for over 3 minutes' };
    }
    if (this.loopError) return { ok: true, reason: `last task error: ${this.loopError}` };
    return { ok: true };
  }

  private arm(): void {
    if (this.state !== 'running') return;
    this.lastLoop = performance.now();
    const now = this.clock.now().getTime();
    let wait = MAX_SLEEP_MS;
    for (const { next } of this.tasks.values()) if (next) wait = Math.min(wait, next.getTime() - now);
    this.timer = setTimeout(
      () => {
        this.tick();
        this.arm();
      },
      Math.max(wait, 10),
    );
    this.timer.unref();
  }
}
