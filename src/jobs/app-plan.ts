/**
 * @module jobs/app-plan
 * The plan of an application restore, made before anything is written and shown for approval
 * (the CLI prints it; a server route can return it as it is: plain data). For each source:
 * which snapshot, or which base backup and point in time, it restores; where to, and what the
 * target holds now that will be overwritten. For the app: the skew between the sources'
 * recovery moments. From a point (`--point`), every source restores its snapshots in it; at
 * a time (`--at`), a source with a base backup and archived WAL covering the time recovers to
 * exactly it, the others use their newest complete backup at or before it.
 */
import { describe, LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot, SnapshotEntry } from '../repo/snapshot.js';
import { createSource } from '../sources/registry.js';
import type { TargetContents } from '../sources/source.js';
import { belongsTo, runsOf } from '../sources/source-units.js';
import { type AppDefinition, findPoint, pointsOf } from './app-point.js';
import { stripUrlPassword } from './backup.js';
import { recoveryWindow } from './pitr.js';

export interface AppPlanRequest {
  app: AppDefinition;
  /** An environment of the app: where each source restores to. */
  env: string;
  /** A point id or unique prefix; or */
  point?: string;
  /** a time (ISO, or anything Date.parse reads). */
  at?: string;
  /** Only these sources of the app. */
  only?: string[];
}

/** One snapshot a source restores (one per unit). */
export interface PlannedSnapshot {
  id: string;
  /** The snapshot's source (a unit: "app-db/sales"). */
  source: string;
  time: string;
  /** What the target holds now, read for the plan. */
  target?: TargetContents;
  /** Why the target could not be read (the plan still stands). */
  targetError?: string;
}

export interface SourcePlan {
  source: string;
  engine: string;
  /** Where it restores, as configured for the environment, without credentials. */
  to: string;
  /** snapshot: restore snapshots as they are; pitr: base backup plus WAL to `recoversTo`. */
  method: 'snapshot' | 'pitr';
  snapshots: PlannedSnapshot[];
  /** The moment the source's data will be from: the recovery time, or its snapshot's. */
  recoversTo: string;
  /** pitr: the recoverable window the time lies in. */
  window?: { from?: string; to?: string };
  /** pitr: the first WAL segment missing from the archive before the time (recovery fails there). */
  walMissing?: string;
}

export interface AppPlan {
  app: string;
  env: string;
  /** A restore into this environment needs a second admin (through the server). */
  protected: boolean;
  point?: { id: string; time: string; complete: boolean };
  at?: string;
  sources: SourcePlan[];
  /** Latest minus earliest recovery moment over the sources, in milliseconds. */
  skewMs: number;
  /** Remarks a person approving the plan should read (an incomplete point, say). */
  notes: string[];
}

/** Makes the plan: reads the repository and each target, writes nothing. */
export async function planAppRestore(repo: Repository, req: AppPlanRequest): Promise<AppPlan> {
  const { app } = req;
  if ((req.point === undefined) === (req.at === undefined)) {
    throw new LifeboatError(
      'usage',
      '[app] give the recovery point (--point ID) or a time (--at TIME), one of them',
    );
  }
  const env = app.environments[req.env];
  if (!env) {
    throw new LifeboatError(
      'usage',
      `[app] app "${app.name}" has no environment "${req.env}" (known: ${Object.keys(app.environments).join(', ') || 'none'}; add it under apps.${app.name}.environments)`,
    );
  }
  const wanted = chosenSources(app, req.only);
  const noTarget = wanted.filter((s) => !env.targets[s]);
  if (noTarget.length > 0) {
    throw new LifeboatError(
      'config_invalid',
      `[app] environment "${req.env}" of app "${app.name}" names no target for ${noTarget.join(', ')} (add it under apps.${app.name}.environments.${req.env}.targets)`,
    );
  }
  const entries = (await repo.scanSnapshots()).snapshots.filter((e) => e.snapshot.kind !== 'drill');
  const notes: string[] = [];
  const sources: SourcePlan[] = [];
  let point: AppPlan['point'];
  let at: string | undefined;
  if (req.point !== undefined) {
    const p = findPoint(pointsOf(entries, { app: app.name }), req.point);
    point = { id: p.id, time: p.time, complete: p.complete };
    for (const name of wanted) {
      const s = p.sources.find((x) => x.source === name);
      if (!s?.complete) {
        throw new LifeboatError(
          'not_found',
          `[app] point ${p.id.slice(0, 8)} has no complete backup of ${name} (restore the others with --only, or choose another point)`,
        );
      }
      const members = s.snapshots.map((x) => entries.find((e) => e.id === x.id) as SnapshotEntry);
      sources.push(snapshotPlan(name, env.targets[name], members));
    }
    if (!p.complete)
      notes.push(`point ${p.id.slice(0, 8)} is incomplete: only the sources listed are restored`);
  } else {
    const t = Date.parse(req.at as string);
    if (Number.isNaN(t))
      throw new LifeboatError('usage', `[app] --at ${req.at}: not a time (e.g. 2024-01-15T10:00:00Z)`);
    at = new Date(t).toISOString();
    for (const name of wanted) {
      sources.push(await planAt(repo, entries, name, env.targets[name], t));
    }
  }
  await Promise.all(
    sources.flatMap((s) => s.snapshots.map((snap) => inspect(entries, app, req.env, s, snap))),
  );
  const moments = sources.map((s) => Date.parse(s.recoversTo));
  const skewMs = moments.length > 0 ? Math.max(...moments) - Math.min(...moments) : 0;
  return {
    app: app.name,
    env: req.env,
    protected: env.protected === true,
    point,
    at,
    sources,
    skewMs,
    notes,
  };
}

function chosenSources(app: AppDefinition, only: string[] | undefined): string[] {
  const all = app.sources.map((s) => s.name);
  if (!only || only.length === 0) return all;
  const unknown = only.filter((s) => !all.includes(s));
  if (unknown.length > 0) {
    throw new LifeboatError(
      'usage',
      `[app] --only ${unknown.join(', ')}: not a source of app "${app.name}" (its sources: ${all.join(', ')})`,
    );
  }
  return all.filter((s) => only.includes(s));
}

/**
 * The moment a snapshot's data is from: a base backup is consistent at its end, a dump or a
 * file walk is taken from its start.
 */
export function recoveryMoment(s: Snapshot): string {
  return typeof s.meta.endTime === 'string' ? s.meta.endTime : s.time;
}

function snapshotPlan(source: string, to: string, members: SnapshotEntry[]): SourcePlan {
  const moments = members.map((e) => recoveryMoment(e.snapshot)).sort();
  return {
    source,
    engine: members[0].snapshot.engine,
    to: stripUrlPassword(to),
    method: 'snapshot',
    snapshots: members.map((e) => ({ id: e.id, source: e.snapshot.source, time: e.snapshot.time })),
    recoversTo: moments[0],
  };
}

/** At time t: point-in-time recovery where the WAL covers t, else the newest whole run before it. */
async function planAt(
  repo: Repository,
  entries: SnapshotEntry[],
  source: string,
  to: string,
  t: number,
): Promise<SourcePlan> {
  const window = await recoveryWindow(repo, entries, source);
  // A time the archive spans but a hole in it cuts off is still planned as recovery: the
  // source then fails naming the missing WAL, rather than falling back to a base backup unseen.
  const end = window.gaps.length > 0 ? window.archiveEnd : window.to;
  const covered =
    window.bases.length > 0 && window.from && end && t >= Date.parse(window.from) && t <= Date.parse(end);
  if (covered) {
    const base = window.bases
      .filter((e) => Date.parse(String(e.snapshot.meta.endTime)) <= t)
      .at(-1) as SnapshotEntry;
    return {
      source,
      engine: base.snapshot.engine,
      to: stripUrlPassword(to),
      method: 'pitr',
      snapshots: [{ id: base.id, source: base.snapshot.source, time: base.snapshot.time }],
      recoversTo: new Date(t).toISOString(),
      window: { from: window.from, to: window.to },
      ...(window.gaps.length > 0 && (!window.to || t > Date.parse(window.to))
        ? { walMissing: window.gaps[0].first }
        : {}),
    };
  }
  const runs = runsOf(
    entries
      .filter((e) => belongsTo(e.snapshot.source, source))
      .sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time)),
  ).filter((r) => r.complete && r.entries.every((e) => Date.parse(recoveryMoment(e.snapshot)) <= t));
  const run = runs.at(-1);
  if (!run) {
    throw new LifeboatError(
      'not_found',
      `[app] ${source} has no complete backup at or before ${new Date(t).toISOString()} (list them with \`lifeboat snapshots --source ${source}\`)`,
    );
  }
  return snapshotPlan(source, to, run.entries);
}

/** Where `source` of `app` restores in `env`, with its credentials (never for display). */
export function targetOf(app: AppDefinition, env: string, source: string): string {
  const to = app.environments[env]?.targets[source];
  if (!to)
    throw new LifeboatError('config_invalid', `[app] environment "${env}" names no target for ${source}`);
  return to;
}

/** Reads what the target holds into the plan; a target that cannot be read is noted, not fatal. */
async function inspect(
  entries: SnapshotEntry[],
  app: AppDefinition,
  env: string,
  plan: SourcePlan,
  snap: PlannedSnapshot,
): Promise<void> {
  const { snapshot } = entries.find((e) => e.id === snap.id) as SnapshotEntry;
  const configured = app.sources.find((s) => s.name === plan.source)?.config ?? snapshot.sourceConfig;
  try {
    const source = await createSource(snapshot.source, configured);
    if (!source.inspectTarget) {
      snap.targetError = `${snapshot.engine} sources do not say what a target holds`;
      return;
    }
    const to = targetOf(app, env, plan.source);
    snap.target = await source.inspectTarget(to, { meta: snapshot.meta, stats: snapshot.stats });
  } catch (err) {
    snap.targetError = stripUrlPassword(describe(err));
  }
}
