/**
 * @module clock
 * Time is injected where behaviour depends on it (retention, lock staleness, the WAL agents'
 * idle limits), so tests can drive it instead of sleeping.
 */

export interface Clock {
  now(): Date;
}

/** A clock that can also wait: loops that poll (the WAL agents) sleep on it. */
export interface WaitingClock extends Clock {
  /** Resolves after `ms`, or at once when `signal` aborts (the wait is then forgotten). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: WaitingClock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise((r) => {
      if (signal?.aborted) return r();
      const timer = setTimeout(r, ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        r();
      });
    }),
};

/** A clock that only moves when told; its sleepers wake when it is moved past their time. */
export class TestClock implements WaitingClock {
  private current: number;
  private sleepers: { until: number; wake(): void }[] = [];
  private watchers: (() => void)[] = [];
  constructor(start: Date | string = '2026-01-01T00:00:00Z') {
    this.current = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  tick(ms: number): void {
    this.set(new Date(this.current + ms));
  }
  set(time: Date | string): void {
    this.current = new Date(time).getTime();
    const due = this.sleepers.filter((s) => s.until <= this.current);
    this.sleepers = this.sleepers.filter((s) => s.until > this.current);
    for (const s of due) s.wake();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((wake) => {
      if (signal?.aborted) return wake();
      const sleeper = { until: this.current + ms, wake };
      this.sleepers.push(sleeper);
      // An abandoned wait is no sleeper: `sleeping()` must not answer for a busy caller.
      signal?.addEventListener('abort', () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        wake();
      });
      for (const w of this.watchers.splice(0)) w();
    });
  }
  /** Resolves once something sleeps on this clock (at once when something already does). */
  sleeping(): Promise<void> {
    if (this.sleepers.length > 0) return Promise.resolve();
    return new Promise((r) => this.watchers.push(r));
  }
}
