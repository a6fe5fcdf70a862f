/**
 * @module jobs/retention
 * Which snapshots a keep policy keeps: the newest N overall, and the newest in each of the
 * last N hours/days/weeks/months/years that have a snapshot; plus any with a kept tag.
 * Pure: the caller passes snapshots and gets reasons back.
 */
import type { SnapshotEntry } from '../repo/snapshot.js';

export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  tags?: string[];
}

export interface RetentionDecision {
  entry: SnapshotEntry;
  keep: boolean;
  reasons: string[];
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
    !p.last && !p.hourly && !p.daily && !p.weekly && !p.monthly && !p.yearly && !(p.tags && p.tags.length > 0)
  );
}

/** Decisions for one group of snapshots (one source), newest first. */
export function applyPolicy(entries: SnapshotEntry[], policy: KeepPolicy): RetentionDecision[] {
  const sorted = [...entries].sort((a, b) => b.snapshot.time.localeCompare(a.snapshot.time));
  const decisions = sorted.map((entry) => ({ entry, keep: false, reasons: [] as string[] }));
  if (policy.last) {
    for (const [i, d] of decisions.slice(0, policy.last).entries())
      d.reasons.push(`last ${i + 1}/${policy.last}`);
  }
  for (const [name, bucketOf] of BUCKETS) {
    const limit = policy[name] as number | undefined;
    if (!limit) continue;
    let seen = 0;
    let lastBucket: string | undefined;
    for (const d of decisions) {
      if (seen >= limit) break;
      const b = bucketOf(new Date(d.entry.snapshot.time));
      if (b === lastBucket) continue;
      lastBucket = b;
      seen++;
      d.reasons.push(`${name} ${b}`);
    }
  }
  for (const tag of policy.tags ?? []) {
    for (const d of decisions) if (d.entry.snapshot.tags.includes(tag)) d.reasons.push(`tag ${tag}`);
  }
  for (const d of decisions) d.keep = d.reasons.length > 0;
  return decisions;
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
