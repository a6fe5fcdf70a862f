/**
 * @module jobs/app-drill
 * A drill of a whole application: every source of a recovery point (the newest complete one
 * by default) restored into scratch servers at once (bounded), each checked as a source's
 * drill checks it (jobs/drill), and the application's recovery time measured from the start
 * to the last source checked. Each source keeps its own drill report; the application's is
 * kept beside them as a drill report of `app:NAME` (engine `app`), so `drill --list` and
 * whatever lists drills show the app's RTO too.
 */
import { describe, LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import { type AppDefinition, type AppPoint, findPoint, inLanes, pointsOf } from './app-point.js';
import { type DrillOutcome, type DrillReport, runDrill, saveReport } from './drill.js';

export interface AppDrillRequest {
  app: AppDefinition;
  /** A point id or prefix; default the newest complete point of the app. */
  point?: string;
  open: () => Promise<Repository>;
  /** argv that runs this Lifeboat with the same config (physical drills run wal-fetch with it). */
  lifeboatArgv?: string[];
  onSource?: (outcome: DrillOutcome) => void;
}

export interface AppDrillOutcome {
  point: AppPoint;
  /** One per snapshot of the point (a source of several units has several). */
  drills: DrillOutcome[];
  /** The app's own report, kept in the repository (its id is the drill id). */
  id: string;
  report: DrillReport;
}

/** The name under which an app's drill reports are kept (`drill --list app:NAME`). */
export function appDrillSource(app: string): string {
  return `app:${app}`;
}

export async function drillApp(req: AppDrillRequest): Promise<AppDrillOutcome> {
  const { app } = req;
  const first = await req.open();
  const points = pointsOf((await first.scanSnapshots()).snapshots, { app: app.name });
  const point = req.point ? findPoint(points, req.point) : points.filter((p) => p.complete).at(-1);
  if (!point) {
    throw new LifeboatError(
      'not_found',
      `[drill] app "${app.name}" has no complete recovery point (take one with \`lifeboat backup --app ${app.name}\`)`,
    );
  }
  const configured = Object.fromEntries(app.sources.map((s) => [s.name, s.config]));
  const snapshots = point.sources.flatMap((s) => s.snapshots);
  const started = first.clock.now();
  const t0 = started.getTime();
  const drills = await inLanes(
    snapshots,
    app.parallel,
    async (i) => (i === 0 ? first : req.open()),
    async (snap, repo) => {
      const outcome = await runDrill(repo, {
        source: snap.source,
        snapshot: snap.id,
        configured,
        lifeboatArgv: req.lifeboatArgv,
      }).catch((err: unknown) => failedDrill(snap, started, err));
      req.onSource?.(outcome);
      return outcome;
    },
  );
  const finished = first.clock.now();
  // The app is recovered when its last source is: the longest of the drills run at once
  // bounds it from below, the wall time from start to the last report from above.
  const rtoMs = finished.getTime() - t0;
  const report: DrillReport = {
    version: 1,
    source: appDrillSource(app.name),
    engine: 'app',
    snapshot: point.id,
    snapshotTime: point.time,
    started: started.toISOString(),
    finished: finished.toISOString(),
    rtoMs,
    restoreMs: Math.max(0, ...drills.map((d) => d.report.restoreMs)),
    scratch: `scratch targets of ${snapshots.length} snapshot(s), ${app.parallel} at once`,
    passed: drills.every((d) => d.report.passed),
    checks: drills.map((d) => ({
      name: d.report.source,
      ok: d.report.passed,
      detail: `drill ${d.id ? d.id.slice(0, 8) : '(not kept)'}: ${d.report.passed ? 'passed' : `FAILED${d.report.error ? ` (${d.report.error})` : ''}`}, recovery time ${(d.report.rtoMs / 1000).toFixed(1)}s`,
      ms: d.report.rtoMs,
    })),
  };
  const id = await saveReport(first, report);
  return { point, drills, id, report };
}

/** A drill that could not start (its snapshot vanished, say), as a failed report not kept. */
function failedDrill(
  snap: AppPoint['sources'][number]['snapshots'][number],
  started: Date,
  err: unknown,
): DrillOutcome {
  const error = describe(err);
  return {
    id: '',
    report: {
      version: 1,
      source: snap.source,
      engine: snap.engine,
      snapshot: snap.id,
      snapshotTime: snap.time,
      started: started.toISOString(),
      finished: started.toISOString(),
      rtoMs: 0,
      restoreMs: 0,
      scratch: 'none',
      passed: false,
      checks: [{ name: 'restore', ok: false, detail: error, ms: 0 }],
      error,
    },
  };
}
