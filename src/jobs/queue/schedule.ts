/**
 * @module jobs/queue/schedule
 * A schedule from the config: a cron expression (5 fields, or 6 with seconds) and a time zone
 * (the entry's own, else `server.timezone`, else UTC), validated up front so a typo fails
 * `lifeboat serve` at start, naming the field, instead of never running.
 */
import { Cron } from 'croner';
import type { LifeboatConfig, ScheduleConfig } from '../../config/config.js';
import { parseDuration } from '../../config/duration.js';
import { describe, LifeboatError } from '../../errors.js';

export interface Schedule {
  cron: string;
  timezone: string;
  /** The first run strictly after `after`. */
  next(after: Date): Date | undefined;
}

export function parseSchedule(value: ScheduleConfig, field: string, defaultTimezone = 'UTC'): Schedule {
  const cron = typeof value === 'string' ? value : value.cron;
  const timezone = (typeof value === 'string' ? undefined : value.timezone) ?? defaultTimezone;
  const job = cronOf(cron, timezone, field);
  return {
    cron,
    timezone,
    next: (after) => job.nextRun(after) ?? undefined,
  };
}

/**
 * Expressions parsed and checked, by time zone and expression: the API's list of sources
 * asks for every source's schedule on each request, and parsing 1,000 of them (a time zone
 * looked up, the expression parsed, its next run found) took a third of a second. A Cron
 * asked for the run after a given time keeps no state between calls.
 */
const parsed = new Map<string, Cron>();
const PARSED_KEPT = 4096;

function cronOf(cron: string, timezone: string, field: string): Cron {
  const key = `${timezone} ${cron}`;
  const known = parsed.get(key);
  if (known) return known;
  if (!isTimeZone(timezone)) {
    throw new LifeboatError(
      'config_invalid',
      `[config] ${field}: unknown time zone "${timezone}" (use an IANA name such as UTC or Europe/Paris)`,
    );
  }
  let job: Cron;
  try {
    job = new Cron(cron, { timezone, paused: true });
  } catch (err) {
    const reason = describe(err).replace(/^CronPattern: /, '');
    throw new LifeboatError(
      'config_invalid',
      `[config] ${field}: invalid cron expression "${cron}": ${reason} (e.g. "0 3 * * *" for 03:00 every day)`,
    );
  }
  if (!job.nextRun(new Date())) {
    throw new LifeboatError(
      'config_invalid',
      `[config] ${field}: cron expression "${cron}" never runs again`,
    );
  }
  if (parsed.size >= PARSED_KEPT) parsed.clear();
  parsed.set(key, job);
  return job;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Every schedule in the config, validated (an error names the field). */
export function schedulesOf(config: LifeboatConfig): Map<string, Schedule> {
  const tz = config.server?.timezone;
  const out = new Map<string, Schedule>();
  for (const [name, s] of Object.entries(config.sources)) {
    if (s.schedule) out.set(`backup:${name}`, parseSchedule(s.schedule, `sources.${name}.schedule`, tz));
    if (s.drill?.schedule) {
      out.set(`drill:${name}`, parseSchedule(s.drill.schedule, `sources.${name}.drill.schedule`, tz));
    }
    if (s.max_age) parseDuration(s.max_age);
  }
  const server = config.server ?? {};
  if (server.prune_schedule)
    out.set('prune', parseSchedule(server.prune_schedule, 'server.prune_schedule', tz));
  if (server.check_schedule)
    out.set('check', parseSchedule(server.check_schedule, 'server.check_schedule', tz));
  return out;
}
