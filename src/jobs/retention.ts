/**
 * @module jobs/retention
 * Which snapshots a keep policy keeps: the newest N overall, the newest in each of the last N
 * hours/days/weeks/months/years that have a snapshot, all younger than a duration, and any
 * with a kept tag. Two guards stand against a write-only key (docs/keys.md): a snapshot that
 * claims a time ahead of the storage's clock is never counted (nor removed), and snapshots
 * written with write-only keys never push out a full-key one.
 * Pure: the caller passes snapshots and the time, and gets reasons back.
 */
import { parseDuration } from '../config/duration.js';
import type { SnapshotEntry } from '../repo/snapshot.js';

export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** A duration ('30d'): every snapshot younger than it, counted back from the newest one. */
  within?: string;
  tags?: string[];
}

export interface RetentionDecision {
  entry: SnapshotEntry;
  keep: boolean;
  reasons: string[];
  /**
   * How far (ms) the snapshot's time lies past the storage's clock, when by more than
   * FUTURE_TOLERANCE_MS: it is not counted by any rule and is kept, to be looked at.
   */
  ahead?: number;
}

/**
 * How far a snapshot's time may lie past the storage's time for its file (or the reader's
 * clock, when the storage gives none) and still count: clocks of hosts differ a little.
 */
export const FUTURE_TOLERANCE_MS = 10 * 60 * 1000;

/**
 * How far (ms) `entry` claims a time past when its file was stored (by the storage's clock,
 * else `now`), when by more than FUTURE_TOLERANCE_MS; else 0. Nobody backs up the future:
 * such a snapshot is a wrong clock or a write-only key trying to win "latest" and retention.
 */
export function aheadOfStorage(entry: SnapshotEntry, now: Date): number {
  const clock = (entry.stored ?? now).getTime();
  const ahead = new Date(entry.snapshot.time).getTime() - clock;
  return ahead > FUTURE_TOLERANCE_MS ? ahead : 0;
}

/** "26 days", "3 hours", "45 minutes": how far ahead a snapshot claims to be. */
export function describeAhead(ms: number): string {
  const [n, unit] =
    ms >= 86_400_000
      ? [ms / 86_400_000, 'day']
      : ms >= 3_600_000
        ? [ms / 3_600_000, 'hour']
        : [ms / 60_000, 'minute'];
  const whole = Math.floor(n);
  return `${whole} ${unit}${whole === 1 ? '' : 's'}`;
}

type Bucket = (d: Date) => string;

const pad = (n: number) => String(n).padStart(2, '0');
const BUCKETS: [keyof KeepPolicy, Bucket][] = [
  [
    'hourly',
    (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}`,
  ],
  ['daily', (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`],
  ['weekly', isoWeek],
  ['monthly', (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`],
  ['yearly', (d) => `${d.getUTCFullYear()}`],
];

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((t.getTime() - yearStart.getTime()) / 86400000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${pad(week)}`;
}

export function isEmptyPolicy(p: KeepPolicy): boolean {
  return (
    !p.last &&
    !p.hourly &&
    !p.daily &&
    !p.weekly &&
    !p.monthly &&
    !p.yearly &&
    !p.within &&
    !(p.tags && p.tags.length > 0)
  );
}

/**
 * Decisions for one group of snapshots (one source), newest first, at time `now`.
 *
 * A snapshot ahead of the storage's clock (aheadOfStorage) is kept and counted by no rule.
 * The rest: full-key snapshots are judged among full-key snapshots alone, write-only ones
 * among all; so however many snapshots write-only keys add, and whatever they claim, a
 * full-key snapshot is kept exactly as if they were not there.
 */
export function applyPolicy(entries: SnapshotEntry[], policy: KeepPolicy, now: Date): RetentionDecision[] {
  const sorted = [...entries].sort((a, b) => b.snapshot.time.localeCompare(a.snapshot.time));
  const ahead = new Map(sorted.map((e) => [e, aheadOfStorage(e, now)]));
  const counted = sorted.filter((e) => ahead.get(e) === 0);
  const amongFull = keepReasons(
    counted.filter((e) => !e.writeOnly),
    policy,
    now,
  );
  const amongAll = keepReasons(counted, policy, now);
  return sorted.map((entry) => {
    const by = ahead.get(entry) as number;
    if (by > 0) {
      return {
        entry,
        keep: true,
        ahead: by,
        reasons: [
          `claims ${entry.snapshot.time}, ${describeAhead(by)} ahead of the storage clock: not counted`,
        ],
      };
    }
    const reasons = (entry.writeOnly ? amongAll : amongFull).get(entry) ?? [];
    return { entry, keep: reasons.length > 0, reasons };
  });
}

/** Why each of `sorted` (newest first) is kept under `policy`; absent when it is not. */
function keepReasons(sorted: SnapshotEntry[], policy: KeepPolicy, now: Date): Map<SnapshotEntry, string[]> {
  const reasons = new Map<SnapshotEntry, string[]>();
  const add = (e: SnapshotEntry, why: string) => reasons.set(e, [...(reasons.get(e) ?? []), why]);
  if (policy.last) {
    for (const [i, e] of sorted.slice(0, policy.last).entries()) add(e, `last ${i + 1}/${policy.last}`);
  }
  for (const [name, bucketOf] of BUCKETS) {
    const limit = policy[name] as number | undefined;
    if (!limit) continue;
    let seen = 0;
    let lastBucket: string | undefined;
    for (const e of sorted) {
      if (seen >= limit) break;
      const b = bucketOf(new Date(e.snapshot.time));
      if (b === lastBucket) continue;
      lastBucket = b;
      seen++;
      add(e, `${name} ${b}`);
    }
  }
  if (policy.within && sorted.length > 0) {
    // As restic's keep-within, counted back from the newest snapshot, so a source whose
    // backups stopped keeps its last ones; never from later than now.
    const newest = Math.min(new Date(sorted[0].snapshot.time).getTime(), now.getTime());
    const since = newest - parseDuration(policy.within);
    for (const e of sorted)
      if (new Date(e.snapshot.time).getTime() >= since) add(e, `within ${policy.within}`);
  }
  for (const tag of policy.tags ?? []) {
    for (const e of sorted) if (e.snapshot.tags.includes(tag)) add(e, `tag ${tag}`);
  }
  return reasons;
}

/**
 * Groups snapshots by the source they record, so a policy applies per source, and per unit
 * of a source saved as several (each database keeps its own N).
 */
export function groupBySource(entries: SnapshotEntry[]): Map<string, SnapshotEntry[]> {
  const groups = new Map<string, SnapshotEntry[]>();
  for (const e of entries) {
    const g = groups.get(e.snapshot.source) ?? [];
    g.push(e);
    groups.set(e.snapshot.source, g);
  }
  return groups;
}
