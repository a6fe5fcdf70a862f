import { LifeboatError } from '../errors.js';
import type { DrillReport } from '../jobs/drill.js';
import { selfArgv } from '../self-command.js';
import { drillAppCli } from './app-actions.js';
import type { CliContext } from './context.js';
import { print, table } from './shell.js';

export async function drill(
  ctx: CliContext,
  opts: { snapshot?: string; list?: boolean; show?: string; app?: string; point?: string },
  source?: string,
): Promise<void> {
  if (opts.app && !opts.list && !opts.show) {
    if (source || opts.snapshot)
      throw new LifeboatError('usage', "[drill] --app drills the app's sources: name no source or snapshot");
    return drillAppCli(ctx, opts.app, opts.point);
  }
  // An app's drill reports are kept under app:NAME.
  if (opts.app && opts.list) source ??= `app:${opts.app}`;
  if (opts.list && opts.show) throw new LifeboatError('usage', '[drill] give --list or --show, not both');
  if ((opts.list || opts.show) && opts.snapshot) {
    throw new LifeboatError('usage', '[drill] --snapshot runs a drill; it does not go with --list or --show');
  }
  // Loaded here: drills bring the database drivers, which other commands do without.
  const { checkResult, drillFailure, formatSeconds, listDrills, readDrillReport, runDrills } = await import(
    '../jobs/drill.js'
  );
  const repo = await ctx.openRepository();
  if (opts.show) {
    if (source) throw new LifeboatError('usage', '[drill] --show takes a drill id, not a source');
    const { id, report, markdown } = await readDrillReport(repo, opts.show);
    if (ctx.options.json) print(JSON.stringify({ id, ...report }, null, 2));
    else process.stdout.write(markdown);
    return;
  }
  if (opts.list) {
    const entries = await listDrills(repo, source);
    if (ctx.options.json) {
      print(
        JSON.stringify(
          entries.map((e) => ({ id: e.id, time: e.snapshot.time, ...e.snapshot.meta })),
          null,
          2,
        ),
      );
      return;
    }
    table(
      ['ID', 'Time', 'Source', 'Snapshot', 'Result', 'RTO', 'RPO'],
      entries.map((e) => {
        const m = e.snapshot.meta;
        return [
          e.id.slice(0, 8),
          e.snapshot.time,
          String(m.drilledSource),
          String(m.drilledSnapshot).slice(0, 8),
          m.passed
            ? 'passed'
            : `FAILED (${(m.failedChecks as string[] | undefined)?.join(', ') || String(m.error ?? '')})`,
          formatSeconds(Number(m.rtoMs)),
          typeof m.rpoMs === 'number' ? formatSeconds(m.rpoMs) : '-',
        ];
      }),
    );
    return;
  }
  const outcomes = await runDrills(repo, {
    source,
    snapshot: opts.snapshot,
    configured: (ctx.config.sources ?? {}) as Record<string, Record<string, unknown>>,
    lifeboatArgv: selfArgv(ctx.options.config ?? ctx.env.LIFEBOAT_CONFIG),
  });
  if (ctx.options.json) {
    // One drill: its report; a source of several units: an array, one report per unit.
    const reports = outcomes.map(({ id, report }) => ({ id, ...report }));
    print(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  } else {
    for (const { id, report } of outcomes) {
      for (const c of report.checks) print(`${checkResult(c).padEnd(6)} ${c.name}: ${c.detail}`);
      print(summary(id, report, formatSeconds));
    }
  }
  const failures = outcomes
    .map(({ report }) => {
      const failure = drillFailure(report);
      return failure && `[drill] ${report.source}: ${failure}`;
    })
    .filter((f): f is string => Boolean(f));
  if (failures.length > 0) throw new LifeboatError('integrity', failures.join('\n'));
}

function summary(id: string, report: DrillReport, formatSeconds: (ms: number) => string): string {
  const rpo = report.recovery
    ? `, data-loss window ${formatSeconds(report.recovery.rpoMs)} (recovered to ${report.recovery.recoveredTo})`
    : '';
  return `drill ${id.slice(0, 8)} of ${report.source} snapshot ${report.snapshot.slice(0, 8)}: ${report.passed ? 'passed' : 'FAILED'}, recovery time ${formatSeconds(report.rtoMs)}${rpo}`;
}
