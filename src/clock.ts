/**
 * @module clock
 * Time is injected where behaviour depends on it (retention, lock staleness), so tests can
 * drive it instead of sleeping.
 */

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = {
  now: () => new Date(),
};

/** A clock that only moves when told. */
export class TestClock implements Clock {
  private current: number;
  constructor(start: Date | string = '2026-01-01T00:00:00Z') {
    this.current = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  tick(ms: number): void {
    this.current += ms;
  }
  set(time: Date | string): void {
    this.current = new Date(time).getTime();
  }
}
