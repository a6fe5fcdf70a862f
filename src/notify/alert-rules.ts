/**
 * @module notify/alert-rules
 * Which alerts hold right now, from facts the caller gathers (job history, last good backup,
 * free space). Pure: no I/O, time passed in, so every rule is tested with plain data.
 */
import { formatBytes } from '../byte-size.js';
import type { AlertKind } from './channel.js';

export type Severity = 'critical' | 'error' | 'warning';

/** An alert that holds; `key` identifies it across evaluations (one per kind and subject). */
export interface AlertCondition {
  key: string;
  kind: AlertKind;
  source: string | null;
  severity: Severity;
  summary: string;
  details: Record<string, unknown>;
}

export interface AlertThresholds {
  /** A backup slower than factor × the median of recent ones. */
  durationFactor: number;
  /** A backup whose size is off the recent median by more than this percentage. */
  sizeChangePercent: number;
  /** Recent successful backups the medians are taken over (at least 3 needed). */
  history: number;
  /** Free bytes below which a local repository alerts. */
  minFreeBytes: number;
  /** Backups faster than this are never called slow: seconds of jitter are not news. */
  minSlowMs: number;
}

export const DEFAULT_THRESHOLDS: AlertThresholds = {
  durationFactor: 3,
  sizeChangePercent: 50,
  history: 10,
  minFreeBytes: 1024 ** 3,
  minSlowMs: 60_000,
};

/** A finished backup (or check) as the rules see it. */
export interface FinishedRun {
  id: string;
  status: 'succeeded' | 'failed';
  startedAt: Date;
  durationMs: number | null;
  bytesRead: number | null;
  error: string | null;
  /**
   * The units a backup saved (a postgres source with globals saves a database and the roles),
   * sorted; the anomaly rules compare a run only with runs that saved the same units.
   * Unknown for old records: then any run compares.
   */
  units?: readonly string[];
}

export interface SourceFacts {
  name: string;
  /** The RPO: no good backup for longer than this is a breach. */
  maxAgeMs?: number;
  /** The newest good backup (from the repository: the source of truth). */
  lastSuccess?: Date;
  /** Since when the source has been watched, for a source never backed up. */
  watchedSince: Date;
  /** Finished backups, newest first (history + 1 of them, more when some saved other units). */
  recent: FinishedRun[];
  /** The newest finished restore drill of the source. */
  lastDrill?: FinishedRun;
}

export interface AlertFacts {
  now: Date;
  sources: SourceFacts[];
  /** Free space of a local repository, when the backend can tell. */
  freeSpace?: { bytes: number; location: string };
  /** The newest finished check. */
  lastCheck?: FinishedRun;
  thresholds: AlertThresholds;
}

export function evaluateAlerts(facts: AlertFacts): AlertCondition[] {
  const out: AlertCondition[] = [];
  for (const s of facts.sources) {
    const failure = failureRule(s);
    if (failure) out.push(failure);
    const rpo = rpoRule(s, facts.now);
    if (rpo) out.push(rpo);
    out.push(...anomalyRules(s, facts.thresholds));
    if (s.lastDrill?.status === 'failed') {
      out.push({
        key: `drill_failure:${s.name}`,
        kind: 'drill_failure',
        source: s.name,
        severity: 'error',
        summary: `restore drill of ${s.name} failed: ${s.lastDrill.error ?? 'unknown error'}`,
        details: { job: s.lastDrill.id, error: s.lastDrill.error },
      });
    }
  }
  if (facts.freeSpace && facts.freeSpace.bytes < facts.thresholds.minFreeBytes) {
    out.push({
      key: 'low_space:repository',
      kind: 'low_space',
      source: null,
      severity: facts.freeSpace.bytes < facts.thresholds.minFreeBytes / 4 ? 'critical' : 'warning',
      summary: `repository ${facts.freeSpace.location} has ${formatBytes(facts.freeSpace.bytes)} free, under the ${formatBytes(facts.thresholds.minFreeBytes)} minimum`,
      details: {
        free_bytes: facts.freeSpace.bytes,
        min_free_bytes: facts.thresholds.minFreeBytes,
        location: facts.freeSpace.location,
      },
    });
  }
  if (facts.lastCheck?.status === 'failed') {
    out.push({
      key: 'check_failure:repository',
      kind: 'check_failure',
      source: null,
      severity: 'error',
      summary: `repository check failed: ${facts.lastCheck.error ?? 'unknown error'}`,
      details: { job: facts.lastCheck.id, error: facts.lastCheck.error },
    });
  }
  return out;
}

/** The newest finished backup failed; clears with the next success. */
function failureRule(s: SourceFacts): AlertCondition | undefined {
  const last = s.recent[0];
  if (last?.status !== 'failed') return undefined;
  return {
    key: `failure:${s.name}`,
    kind: 'failure',
    source: s.name,
    severity: 'error',
    summary: `backup of ${s.name} failed: ${last.error ?? 'unknown error'}`,
    details: { job: last.id, error: last.error, started_at: last.startedAt.toISOString() },
  };
}

function rpoRule(s: SourceFacts, now: Date): AlertCondition | undefined {
  if (s.maxAgeMs === undefined) return undefined;
  const since = s.lastSuccess ?? s.watchedSince;
  const age = now.getTime() - since.getTime();
  if (age <= s.maxAgeMs) return undefined;
  const what = s.lastSuccess
    ? `last good backup of ${s.name} is ${formatAge(age)} old`
    : `${s.name} has no good backup (watched for ${formatAge(age)})`;
  return {
    key: `rpo_breach:${s.name}`,
    kind: 'rpo_breach',
    source: s.name,
    severity: 'critical',
    summary: `${what}, over its max_age of ${formatAge(s.maxAgeMs)}`,
    details: {
      last_success: s.lastSuccess?.toISOString() ?? null,
      age_seconds: Math.round(age / 1000),
      max_age_seconds: Math.round(s.maxAgeMs / 1000),
    },
  };
}

/**
 * The newest successful backup against the median of the ones before it that saved the same
 * units: run totals with run totals, never a whole run with one unit of another.
 */
function anomalyRules(s: SourceFacts, t: AlertThresholds): AlertCondition[] {
  const ok = s.recent.filter((r) => r.status === 'succeeded');
  const [last, ...before] = ok;
  const base = before.filter((r) => last && sameUnits(r, last)).slice(0, t.history);
  if (!last || base.length < 3) return [];
  const out: AlertCondition[] = [];
  const durations = base.map((r) => r.durationMs).filter((d): d is number => d !== null);
  if (last.durationMs !== null && durations.length >= 3) {
    const median = medianOf(durations);
    if (last.durationMs >= t.minSlowMs && last.durationMs > t.durationFactor * median) {
      out.push({
        key: `duration_anomaly:${s.name}`,
        kind: 'duration_anomaly',
        source: s.name,
        severity: 'warning',
        summary: `backup of ${s.name} took ${formatAge(last.durationMs)}, over ${t.durationFactor}x the median of ${formatAge(median)} of the last ${durations.length}`,
        details: { job: last.id, duration_ms: last.durationMs, median_ms: median, factor: t.durationFactor },
      });
    }
  }
  const sizes = base.map((r) => r.bytesRead).filter((b): b is number => b !== null);
  if (last.bytesRead !== null && sizes.length >= 3) {
    const median = medianOf(sizes);
    const change =
      median === 0 ? (last.bytesRead === 0 ? 0 : Infinity) : ((last.bytesRead - median) / median) * 100;
    if (Math.abs(change) > t.sizeChangePercent) {
      const pct = Number.isFinite(change) ? `${change > 0 ? '+' : ''}${change.toFixed(0)}%` : 'from nothing';
      out.push({
        key: `size_anomaly:${s.name}`,
        kind: 'size_anomaly',
        source: s.name,
        severity: 'warning',
        summary: `backup of ${s.name} read ${formatBytes(last.bytesRead)}, ${pct} against the median of ${formatBytes(median)} (limit ±${t.sizeChangePercent}%)`,
        details: {
          job: last.id,
          bytes: last.bytesRead,
          median_bytes: median,
          change_percent: Number.isFinite(change) ? Math.round(change) : null,
        },
      });
    }
  }
  return out;
}

function sameUnits(a: FinishedRun, b: FinishedRun): boolean {
  if (!a.units || !b.units) return true;
  return a.units.length === b.units.length && a.units.every((u, i) => u === b.units?.[i]);
}

export function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** "27h 3m", "4m 10s", "12s". */
export function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}
