/**
 * @module jobs/queue/source-status
 * Per source: last good backup (from the repository, the source of truth: the newest run that
 * saved every unit of the source), its age against `max_age`, the next scheduled run, the
 * last failure and what runs now. One function for `GET /api/sources` and `lifeboat status`,
 * so the two never disagree.
 */
import type { JobRecord } from '../../catalog/catalog.js';
import type { CatalogStore } from '../../catalog/catalog-store.js';
import type { ConfiguredSource, LifeboatConfig } from '../../config/config.js';
import { parseDuration } from '../../config/duration.js';
import type { SnapshotEntry } from '../../repo/snapshot.js';
import { runsOf, type SourceRun, sourceOfUnit, unitLabel } from '../../sources/source-units.js';
import { redactSettings } from './redact.js';
import { parseSchedule } from './schedule.js';

export interface SourceStatus {
  name: string;
  type: string;
  protected: boolean;
  schedule: { cron: string; timezone: string } | null;
  next_run: string | null;
  /** Why the schedule cannot run (an invalid cron expression), when so. */
  schedule_error?: string;
  retention: Record<string, unknown> | null;
  /** The newest run that saved every unit; `time` is its start, the age of its oldest data. */
  last_backup: {
    snapshot: string;
    time: string;
    age_seconds: number;
    /** Each unit's snapshot, for a source saved as several units. */
    units?: { unit: string; label: string; snapshot: string; time: string }[];
  } | null;
  rpo: { max_age: string; max_age_seconds: number; age_seconds: number | null; breached: boolean } | null;
  last_failure: { job: string; time: string; error: string | null } | null;
  /** The newest backup job that finished (succeeded or failed). */
  last_job: { id: string; status: string; time: string } | null;
  running_job: string | null;
  snapshots: number;
  config: unknown;
}

export interface StatusInput {
  config: LifeboatConfig;
  /** Every snapshot, any order. */
  snapshots: readonly SnapshotEntry[];
  catalog: CatalogStore;
  now: Date;
  /** Jobs running now, from this process or the catalog. */
  running: readonly JobRecord[];
  /** The scheduler's next run, when a server runs; computed from the schedule otherwise. */
  nextRun?: (source: string) => Date | undefined;
}

/** Per configured source: its newest complete run, and its snapshots counted (units count for their source). */
export function lastGoodBackups(
  snapshots: readonly SnapshotEntry[],
): Map<string, { run?: SourceRun<SnapshotEntry>; count: number }> {
  const out = new Map<string, { run?: SourceRun<SnapshotEntry>; count: number }>();
  for (const e of snapshots) {
    const name = sourceOfUnit(e.snapshot.source);
    const prior = out.get(name);
    if (prior) prior.count++;
    else out.set(name, { count: 1 });
  }
  // Runs come oldest first: the last complete one wins.
  for (const run of runsOf(snapshots)) {
    const slot = out.get(run.source);
    if (slot && run.complete) slot.run = run;
  }
  return out;
}

/** When the server first saw each source: a source never backed up breaches max_age counted from there. */
export async function firstSeen(catalog: CatalogStore, name: string, now: Date): Promise<Date> {
  const key = `first_seen:${name}`;
  const stored = await catalog.getMeta(key);
  if (stored) return new Date(stored);
  await catalog.setMeta(key, now.toISOString());
  return now;
}

export async function sourceStatuses(input: StatusInput): Promise<SourceStatus[]> {
  const last = lastGoodBackups(input.snapshots);
  const nowMs = input.now.getTime();
  const out: SourceStatus[] = [];
  // Every source's last backup job and last failure in one catalog query, not two per source.
  const outcomes = await input.catalog.lastBackupOutcomes(Object.keys(input.config.sources));
  for (const [name, source] of Object.entries(input.config.sources)) {
    const slot = last.get(name);
    const run = slot?.run;
    const status: SourceStatus = {
      name,
      type: source.type,
      protected: source.protected === true,
      schedule: null,
      next_run: null,
      retention: (source.retention as Record<string, unknown> | undefined) ?? null,
      last_backup: run ? lastBackup(run, nowMs) : null,
      rpo: null,
      last_failure: null,
      last_job: null,
      running_job: input.running.find((j) => j.source === name)?.id ?? null,
      snapshots: slot?.count ?? 0,
      config: redactSettings(publicKeys(source)),
    };
    applySchedule(status, source, input);
    if (source.max_age) {
      const maxAgeMs = parseDuration(source.max_age);
      const since = run ? new Date(run.time) : await firstSeen(input.catalog, name, input.now);
      const age = nowMs - since.getTime();
      status.rpo = {
        max_age: source.max_age,
        max_age_seconds: Math.round(maxAgeMs / 1000),
        age_seconds: run ? Math.round(age / 1000) : null,
        breached: age > maxAgeMs,
      };
    }
    const { failure, finished: lastJob } = outcomes.get(name) ?? {};
    if (failure) {
      status.last_failure = {
        job: failure.id,
        time: failure.finished_at ?? failure.started_at ?? failure.created_at,
        error: failure.error,
      };
    }
    if (lastJob) {
      status.last_job = {
        id: lastJob.id,
        status: lastJob.status,
        time: lastJob.finished_at ?? lastJob.started_at ?? lastJob.created_at,
      };
    }
    out.push(status);
  }
  return out;
}

function lastBackup(run: SourceRun<SnapshotEntry>, nowMs: number): NonNullable<SourceStatus['last_backup']> {
  const first = run.entries[0];
  const out: NonNullable<SourceStatus['last_backup']> = {
    snapshot: first.id,
    time: run.time,
    age_seconds: Math.round((nowMs - Date.parse(run.time)) / 1000),
  };
  if (first.snapshot.source !== run.source) {
    out.units = run.entries.map((e) => ({
      unit: e.snapshot.source,
      label: unitLabel(e.snapshot),
      snapshot: e.id,
      time: e.snapshot.time,
    }));
  }
  return out;
}

function applySchedule(status: SourceStatus, source: ConfiguredSource, input: StatusInput): void {
  if (!source.schedule) return;
  try {
    const s = parseSchedule(
      source.schedule,
      `sources.${status.name}.schedule`,
      input.config.server?.timezone,
    );
    status.schedule = { cron: s.cron, timezone: s.timezone };
    const next = input.nextRun ? input.nextRun(status.name) : s.next(input.now);
    status.next_run = next?.toISOString() ?? null;
  } catch (err) {
    status.schedule_error = (err as Error).message;
  }
}

/** The engine settings, without the keys the status shows on its own. */
function publicKeys(source: ConfiguredSource): Record<string, unknown> {
  const { schedule: _s, retention: _r, max_age: _m, protected: _p, ...rest } = source;
  return rest;
}
