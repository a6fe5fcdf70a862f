/**
 * @module sources/source-units
 * A configured source is one thing to the user, whatever units it saves: a postgres source
 * "shop-db" with `globals: true` saves "shop-db/shop" and "shop-db/globals", one snapshot
 * each, in one run. Every place that maps a snapshot to its source, groups units into runs or
 * names a unit for people goes through here, so retention, metrics, alerts, the overview and
 * the restore wizard agree.
 */

import type { SnapshotRun } from '../repo/snapshot.js';

export type { SnapshotRun } from '../repo/snapshot.js';

/** What of a snapshot this module reads. */
export interface UnitSnapshot {
  source: string;
  time: string;
  meta: Record<string, unknown>;
  run?: SnapshotRun;
  backup?: { bytesRead: number; bytesAdded: number; durationMs: number };
}

/** The configured source a snapshot belongs to: the unit "shop-db/shop" belongs to "shop-db". */
export function sourceOfUnit(snapshotSource: string): string {
  const slash = snapshotSource.indexOf('/');
  return slash < 0 ? snapshotSource : snapshotSource.slice(0, slash);
}

/** The unit's own name ("shop" of "shop-db/shop"); undefined for a source saved whole. */
export function unitName(snapshotSource: string): string | undefined {
  const slash = snapshotSource.indexOf('/');
  return slash < 0 ? undefined : snapshotSource.slice(slash + 1);
}

/** Whether a snapshot's source is `wanted` or a unit of it ("shop-db" takes "shop-db/shop"). */
export function belongsTo(snapshotSource: string, wanted: string): boolean {
  return snapshotSource === wanted || snapshotSource.startsWith(`${wanted}/`);
}

/**
 * A unit for people, from what its snapshot records: "shop (database)", "globals (roles and
 * tablespaces)"; a source saved whole is just its name.
 */
export function unitLabel(s: Pick<UnitSnapshot, 'source' | 'meta'>): string {
  const name = unitName(s.source);
  if (name === undefined) return s.source;
  // Engines record what a unit holds: `part` for a cluster-wide part, `database` for a database.
  if (s.meta.part === 'globals') return `${name} (roles and tablespaces)`;
  if (typeof s.meta.database === 'string') return `${name} (database)`;
  return name;
}

/** The engine facts `unitLabel` reads, for callers that keep a snapshot's summary only. */
export function labelFacts(meta: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof meta.part === 'string') out.part = meta.part;
  if (typeof meta.database === 'string') out.database = meta.database;
  return out;
}

/** The snapshots one run of a source saved. */
export interface SourceRun<E> {
  source: string;
  /** The run's snapshots, oldest first. */
  entries: E[];
  /** The units it set out to save. */
  units: string[];
  /** Every unit has its snapshot: the run is a whole backup of the source. */
  complete: boolean;
  /** When the run started (its first snapshot's time). */
  time: string;
}

/**
 * Groups snapshots into runs, oldest first. A snapshot without a recorded run (a source
 * saved whole, or a unit saved before runs were recorded) is a complete run of its own.
 */
export function runsOf<E extends { snapshot: UnitSnapshot }>(entries: readonly E[]): SourceRun<E>[] {
  const byKey = new Map<string, SourceRun<E>>();
  for (const [i, e] of entries.entries()) {
    const s = e.snapshot;
    const source = sourceOfUnit(s.source);
    const key = s.run ? `${source}\0${s.run.id}` : `\0${i}`;
    const run = byKey.get(key);
    if (run) {
      run.entries.push(e);
      if (s.time < run.time) run.time = s.time;
    } else {
      byKey.set(key, {
        source,
        entries: [e],
        units: s.run ? [...s.run.units] : [s.source],
        complete: false,
        time: s.time,
      });
    }
  }
  const runs = [...byKey.values()];
  for (const r of runs) {
    // In the order the run saved its units (times of units saved in one second can tie).
    const order = (e: E) => r.units.indexOf(e.snapshot.source);
    r.entries.sort((a, b) => order(a) - order(b) || a.snapshot.time.localeCompare(b.snapshot.time));
    const saved = new Set(r.entries.map((e) => e.snapshot.source));
    r.complete = r.units.every((u) => saved.has(u));
  }
  return runs.sort((a, b) => a.time.localeCompare(b.time));
}

/** A run's totals: bytes read and added over its units, and from its start to its last unit's end. */
export function runTotals(run: SourceRun<{ snapshot: UnitSnapshot }>): {
  bytesRead: number;
  bytesAdded: number;
  durationMs: number;
  finished: string;
} {
  let bytesRead = 0;
  let bytesAdded = 0;
  let end = Date.parse(run.time);
  for (const { snapshot: s } of run.entries) {
    bytesRead += s.backup?.bytesRead ?? 0;
    bytesAdded += s.backup?.bytesAdded ?? 0;
    end = Math.max(end, Date.parse(s.time) + (s.backup?.durationMs ?? 0));
  }
  return {
    bytesRead,
    bytesAdded,
    durationMs: end - Date.parse(run.time),
    finished: new Date(end).toISOString(),
  };
}
