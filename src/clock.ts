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
  sleep(ms: number): Promise<void>;
}

export const systemClock: WaitingClock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
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
  sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      this.sleepers.push({ until: this.current + ms, wake });
      for (const w of this.watchers.splice(0)) w();
    });
  }
  /** Resolves once something sleeps on this clock (at once when something already does). */
  sleeping(): Promise<void> {
    if (this.sleepers.length > 0) return Promise.resolve();
    return new Promise((r) => this.watchers.push(r));
  }
}
