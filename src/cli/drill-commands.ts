/**
 * @module cli/drill-commands
 * `lifeboat drill [SOURCE] [--snapshot ID] [--list]`: run a restore drill, or list the
 * drill reports kept in the repository.
 */
import type { Command } from 'commander';
import { LifeboatError } from '../errors.js';
import { checkResult, drillFailure, listDrills, runDrill } from '../jobs/drill.js';
import type { CliContext } from './context.js';
import { type Action, print, table } from './shell.js';

export function registerDrillCommands(program: Command, action: Action): void {
  program
    .command('drill [source]')
    .description('restore a snapshot into a scratch target, check it, and keep the report')
    .option('--snapshot <id>', 'the snapshot to drill (default: the latest of SOURCE)')
    .option('--list', 'list the drill reports kept in the repository')
    .action(action(drill));
}

async function drill(
  ctx: CliContext,
  opts: { snapshot?: string; list?: boolean },
  source?: string,
): Promise<void> {
  const repo = await ctx.openRepository();
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
      ['ID', 'Time', 'Source', 'Snapshot', 'Result', 'RTO'],
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
          `${(Number(m.rtoMs) / 1000).toFixed(1)}s`,
        ];
      }),
    );
    return;
  }
  const { id, report } = await runDrill(repo, {
    source,
    snapshot: opts.snapshot,
    configured: (ctx.config.sources ?? {}) as Record<string, Record<string, unknown>>,
  });
  if (ctx.options.json) {
    print(JSON.stringify({ id, ...report }, null, 2));
  } else {
    for (const c of report.checks) print(`${checkResult(c).padEnd(6)} ${c.name}: ${c.detail}`);
    print(
      `drill ${id.slice(0, 8)} of ${report.source} snapshot ${report.snapshot.slice(0, 8)}: ${report.passed ? 'passed' : 'FAILED'}, recovery time ${(report.rtoMs / 1000).toFixed(1)}s`,
    );
  }
  const failure = drillFailure(report);
  if (failure) throw new LifeboatError('integrity', `[drill] ${report.source}: ${failure}`);
}
