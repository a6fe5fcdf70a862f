/**
 * @module jobs/app-point
 * Application recovery points: one backup of every source of an application (`apps:` in the
 * config), taken together. The app's before_backup hook runs once, the sources back up in
 * parallel (bounded), and every snapshot records the point (`Snapshot.point`) and carries the
 * tags `app:NAME` and `point:ID`, so the repository alone lists the points and tells which
 * are complete: every source saved, each source's run whole.
 */
import { randomBytes } from 'node:crypto';
import type { AppConfig, LifeboatConfig } from '../config/config-schema.js';
import { LifeboatError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotEntry, SnapshotPoint } from '../repo/snapshot.js';
import { runsOf, runTotals, sourceOfUnit } from '../sources/source-units.js';
import { backupSource, notAttempted, type SourceBackupReport } from './backup.js';
import { type HooksConfig, withHooks } from './hooks.js';

/** An application as the jobs use it: its sources with their settings, resolved from the config. */
export interface AppDefinition {
  name: string;
  sources: { name: string; config: Record<string, unknown> }[];
  hooks?: HooksConfig;
  /** Sources worked on at once. */
  parallel: number;
  environments: NonNullable<AppConfig['environments']>;
}

export const DEFAULT_APP_PARALLEL = 2;

/** The app `name` of the config, its sources looked up; a usage error names what is missing. */
export function appFromConfig(config: LifeboatConfig, name: string): AppDefinition {
  const apps = config.apps ?? {};
  const app = apps[name];
  if (!app) {
    throw new LifeboatError(
      'usage',
      `[app] no app "${name}" in the config (known: ${Object.keys(apps).join(', ') || 'none'}; add it under apps:)`,
    );
  }
  const missing = app.sources.filter((s) => !config.sources?.[s]);
  if (missing.length > 0) {
    throw new LifeboatError(
      'config_invalid',
      `[app] app "${name}" names source${missing.length === 1 ? '' : 's'} ${missing.join(', ')}, not in sources: (add ${missing.length === 1 ? 'it' : 'them'}, or remove from apps.${name}.sources)`,
    );
  }
  return {
    name,
    sources: app.sources.map((s) => ({ name: s, config: config.sources[s] as Record<string, unknown> })),
    hooks: app.hooks,
    parallel: app.parallel ?? DEFAULT_APP_PARALLEL,
    environments: app.environments ?? {},
  };
}

/**
 * Runs `work` over `items` with at most `limit` at once; each lane gets its own context from
 * `lane` (a repository opened for it: one Repository is not shared by concurrent jobs).
 * Results keep the items' order.
 */
export async function inLanes<T, C, R>(
  items: readonly T[],
  limit: number,
  lane: (index: number) => Promise<C>,
  work: (item: T, ctx: C) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async (_, i) => {
    if (next >= items.length) return;
    const ctx = await lane(i);
    for (let k = next++; k < items.length; k = next++) results[k] = await work(items[k], ctx);
  });
  await Promise.all(lanes);
  return results;
}

export interface PointBackupRequest {
  app: AppDefinition;
  /** Opens the repository; called once per lane. */
  open: () => Promise<Repository>;
  tags?: string[];
  progress?: () => Progress;
  onSource?: (report: SourceBackupReport) => void;
}

export interface PointBackup {
  point: SnapshotPoint;
  /** One per source, in the app's order. */
  reports: SourceBackupReport[];
  /** Every source saved everything it set out to. */
  complete: boolean;
  durationMs: number;
}

/** The tags every snapshot of a point carries. */
export function pointTags(point: Pick<SnapshotPoint, 'id' | 'app'>): string[] {
  return [`app:${point.app}`, `point:${point.id}`];
}

/** Takes one recovery point of `app`. Failures are in the reports, not thrown (but the hook's). */
export async function backupPoint(req: PointBackupRequest): Promise<PointBackup> {
  const { app } = req;
  const first = await req.open();
  const started = first.clock.now();
  const point: SnapshotPoint = {
    id: randomBytes(8).toString('hex'),
    app: app.name,
    time: started.toISOString(),
    sources: app.sources.map((s) => s.name),
  };
  const tags = [...(req.tags ?? []), ...pointTags(point)];
  let stop: LifeboatError | undefined;
  const reports = await withHooks(
    app.hooks,
    'backup',
    { source: `app:${app.name}`, type: 'app', snapshot: point.id },
    () =>
      inLanes(
        app.sources,
        app.parallel,
        async (i) => (i === 0 ? first : req.open()),
        async ({ name, config }, repo) => {
          // The app's hook ran once for all: the sources' own hooks still run around each.
          const report: SourceBackupReport = stop
            ? {
                source: name,
                status: 'failed',
                saved: [],
                failures: [{ name, error: notAttempted(name, stop) }],
              }
            : await backupSource(repo, { name, config, tags, progress: req.progress, point });
          stop ??= report.stop;
          req.onSource?.(report);
          return report;
        },
      ),
    (rs) => ({
      snapshot: point.id,
      ...(rs.some((r) => r.failures.length > 0)
        ? { status: 'failure' as const, error: 'point incomplete' }
        : {}),
    }),
  );
  const complete = reports.every((r) => r.failures.length === 0 && r.saved.length > 0);
  return { point, reports, complete, durationMs: first.clock.now().getTime() - started.getTime() };
}

/** One source of a listed point: its snapshots (one per unit) and whether they are all there. */
export interface PointSource {
  source: string;
  snapshots: { id: string; source: string; time: string; engine: string; kind: string }[];
  complete: boolean;
  bytesRead: number;
  bytesAdded: number;
}

/** A recovery point as the repository holds it. */
export interface AppPoint {
  id: string;
  app: string;
  time: string;
  /** When its last snapshot finished. */
  finished: string;
  sources: PointSource[];
  bytesRead: number;
  bytesAdded: number;
  complete: boolean;
}

export interface PointFilter {
  app?: string;
  /** Only points that started before this time. */
  before?: Date;
  /** Only complete points. */
  complete?: boolean;
}

/** The points among `entries`, oldest first. */
export function pointsOf(entries: readonly SnapshotEntry[], filter: PointFilter = {}): AppPoint[] {
  const byId = new Map<string, SnapshotEntry[]>();
  for (const e of entries) {
    const p = e.snapshot.point;
    if (!p || e.snapshot.kind === 'drill') continue;
    if (filter.app && p.app !== filter.app) continue;
    byId.set(p.id, [...(byId.get(p.id) ?? []), e]);
  }
  const points: AppPoint[] = [];
  for (const [id, members] of byId) {
    const p = members[0].snapshot.point as SnapshotPoint;
    if (filter.before && Date.parse(p.time) >= filter.before.getTime()) continue;
    let finished = p.time;
    const sources = p.sources.map((source): PointSource => {
      const mine = members.filter((e) => sourceOfUnit(e.snapshot.source) === source);
      const runs = runsOf(mine);
      const totals = runs.map(runTotals);
      for (const t of totals) if (t.finished > finished) finished = t.finished;
      return {
        source,
        snapshots: mine.map((e) => ({
          id: e.id,
          source: e.snapshot.source,
          time: e.snapshot.time,
          engine: e.snapshot.engine,
          kind: e.snapshot.kind,
        })),
        complete: runs.length === 1 && runs[0].complete,
        bytesRead: totals.reduce((n, t) => n + t.bytesRead, 0),
        bytesAdded: totals.reduce((n, t) => n + t.bytesAdded, 0),
      };
    });
    const complete = sources.every((s) => s.complete);
    if (filter.complete && !complete) continue;
    points.push({
      id,
      app: p.app,
      time: p.time,
      finished,
      sources,
      bytesRead: sources.reduce((n, s) => n + s.bytesRead, 0),
      bytesAdded: sources.reduce((n, s) => n + s.bytesAdded, 0),
      complete,
    });
  }
  return points.sort((a, b) => a.time.localeCompare(b.time));
}

/** The point `ref` names (its id or a unique prefix) among `points`. */
export function findPoint(points: readonly AppPoint[], ref: string): AppPoint {
  const found = points.filter((p) => p.id.startsWith(ref));
  if (found.length === 1) return found[0];
  if (found.length === 0) {
    throw new LifeboatError(
      'not_found',
      `[app] no recovery point ${ref} (list them with \`lifeboat points\`)`,
    );
  }
  throw new LifeboatError(
    'usage',
    `[app] recovery point prefix ${ref} is ambiguous (${found.map((p) => p.id.slice(0, 12)).join(', ')}): give more of it`,
  );
}
