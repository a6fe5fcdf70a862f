/**
 * @module server/snapshot-cache
 * The server's in-memory list of snapshots. Listing 10,000 snapshots would otherwise mean
 * reading and decrypting 10,000 files per request; here a refresh lists the snapshot folder
 * (names only), decrypts just the new names and drops the gone ones. The server refreshes
 * after every job that changes snapshots and once a minute (for backups taken with the CLI).
 * Each entry's API form is serialized once; derived views and rendered pages are kept until
 * the list changes.
 */
import { describe } from '../errors.js';
import { redactSettings } from '../jobs/queue/redact.js';
import { mapLimit, type Repository } from '../repo/repository.js';
import type { Snapshot, SnapshotEntry, SnapshotProblem } from '../repo/snapshot.js';
import { snapshotProblemKind } from '../repo/snapshot.js';
import { labelFacts, sourceOfUnit, unitLabel, unitName } from '../sources/source-units.js';

export interface CachedSnapshot {
  id: string;
  /** A summary (see `summarize`); the whole manifest is in `json` and in the repository. */
  snapshot: Snapshot;
  /** Milliseconds since the epoch. */
  time: number;
  /** When the storage stored the file, where its listing says. */
  stored?: Date;
  /** Written with a write-only key (SnapshotEntry.writeOnly). */
  writeOnly?: boolean;
  /** The API form, serialized. */
  json: string;
}

/**
 * What the server keeps of a manifest besides its API form: what listing, selecting
 * (`latest`, prefixes), status and catalog rebuilds read, and the run a unit belongs to. The
 * tree root, engine meta (but what a unit's label reads) and settings are dropped, which
 * halves the memory 10,000 snapshots take.
 */
export function summarize(s: Snapshot): Snapshot {
  return {
    version: s.version,
    time: s.time,
    source: s.source,
    engine: s.engine,
    kind: s.kind,
    host: s.host,
    username: s.username,
    tags: s.tags,
    programVersion: s.programVersion,
    root: '',
    stats: typeof s.stats.bytes === 'number' ? { bytes: s.stats.bytes } : {},
    meta: labelFacts(s.meta),
    sourceConfig: {},
    ...(s.run ? { run: s.run } : {}),
    ...(s.backup ? { backup: s.backup } : {}),
    // An application's recovery point: the app routes list points from the summaries.
    ...(s.point ? { point: s.point } : {}),
  };
}

/** A snapshot as the API shows it: the CLI's `snapshots --json` form, settings redacted. */
export function publicSnapshot(id: string, s: Snapshot): Record<string, unknown> {
  const name = s.kind === 'drill' ? undefined : unitName(s.source);
  const unit = name === undefined ? null : { source: sourceOfUnit(s.source), name, label: unitLabel(s) };
  return { id, short_id: id.slice(0, 8), ...s, unit, sourceConfig: redactSettings(s.sourceConfig) };
}

export class SnapshotCache {
  private byId = new Map<string, CachedSnapshot>();
  /** Newest first. */
  private sorted: CachedSnapshot[] = [];
  /** Snapshot files that did not read; damaged ones stay here, unreadable ones are retried. */
  private unreadable = new Map<string, SnapshotProblem>();
  private inflight: Promise<void> | undefined;
  private again = false;
  private memos = new Map<string, unknown>();
  /** Bumped on every change, for callers that derive state from the list. */
  version = 0;
  lastError: string | undefined;

  constructor(
    private readonly repo: Repository,
    private readonly options: { onError?: (message: string) => void } = {},
  ) {}

  /** Newest first. */
  list(): readonly CachedSnapshot[] {
    return this.sorted;
  }

  /** Oldest first, as `Repository.listSnapshots` gives them. Do not modify. */
  entries(): SnapshotEntry[] {
    return this.memo('entries', () =>
      this.sorted
        .map((c) => ({ id: c.id, snapshot: c.snapshot, writeOnly: c.writeOnly, stored: c.stored }))
        .reverse(),
    );
  }

  /**
   * `compute()`'s value, kept until the list changes. Keys name what is kept; at most 128
   * are kept (rendered API pages, derived views), the oldest dropped first.
   */
  memo<T>(key: string, compute: () => T): T {
    if (this.memos.has(key)) return this.memos.get(key) as T;
    const value = compute();
    this.memos.set(key, value);
    if (this.memos.size > 128) this.memos.delete(this.memos.keys().next().value as string);
    return value;
  }

  /** Drops one derived value (a failed computation, so the next call tries again). */
  forget(key: string): void {
    this.memos.delete(key);
  }

  get size(): number {
    return this.sorted.length;
  }

  /** Snapshot files that could not be read, with why, by id. */
  problems(): SnapshotProblem[] {
    return this.memo('problems', () =>
      [...this.unreadable.values()].sort((a, b) => a.id.localeCompare(b.id)),
    );
  }

  /** Brings the list up to date. A refresh asked for while one runs runs again after it. */
  refresh(): Promise<void> {
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    this.inflight = (async () => {
      try {
        do {
          this.again = false;
          await this.refreshOnce();
        } while (this.again);
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  private async refreshOnce(): Promise<void> {
    const names = new Set<string>();
    const stored = new Map<string, Date>();
    try {
      for await (const f of this.repo.listSnapshotFiles()) {
        names.add(f.name);
        if (f.modified) stored.set(f.name, f.modified);
      }
    } catch (err) {
      this.lastError = describe(err);
      this.options.onError?.(this.lastError);
      throw err;
    }
    // A damaged file stays damaged; an unreadable one (a read error) is tried again.
    const added = [...names].filter((n) => !this.byId.has(n) && this.unreadable.get(n)?.kind !== 'damaged');
    let changed = false;
    for (const id of this.byId.keys()) {
      if (!names.has(id)) {
        this.byId.delete(id);
        changed = true;
      }
    }
    for (const id of this.unreadable.keys()) {
      if (names.has(id)) continue;
      this.unreadable.delete(id);
      changed = true;
    }
    const loaded = await mapLimit(added, 16, async (id) => {
      try {
        const entry = await this.repo.readSnapshot(id, stored.get(id));
        if (this.unreadable.delete(id)) changed = true;
        return entry;
      } catch (err) {
        const kind = snapshotProblemKind(err);
        if (!kind) return undefined; // removed meanwhile (a forget)
        const known = this.unreadable.get(id);
        if (known?.kind !== kind || known.message !== describe(err)) changed = true;
        this.unreadable.set(id, { id, kind, message: describe(err), error: err });
        this.options.onError?.(`snapshot ${id.slice(0, 8)} is ${kind}: ${describe(err)}`);
        return undefined;
      }
    });
    for (const e of loaded) {
      if (!e) continue;
      const time = new Date(e.snapshot.time).getTime();
      this.byId.set(e.id, {
        id: e.id,
        snapshot: summarize(e.snapshot),
        time,
        stored: e.stored,
        writeOnly: e.writeOnly,
        json: JSON.stringify(publicSnapshot(e.id, e.snapshot)),
      });
      changed = true;
    }
    if (changed) {
      this.sorted = [...this.byId.values()].sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : -1));
      this.memos = new Map();
      this.version++;
    }
    this.lastError = undefined;
  }
}
