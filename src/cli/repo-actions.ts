/**
 * @module cli/repo-actions
 * init, snapshots, check, forget, prune, key, unlock: parse, call one job, render.
 */

import { formatBytes } from '../byte-size.js';
import { LifeboatError } from '../errors.js';
import type { Damage } from '../jobs/check.js';
import { isEmptyPolicy, type KeepPolicy } from '../jobs/retention.js';
import { describeProblems, filterSnapshots } from '../jobs/snapshot-select.js';
import { describeHolder, lockState } from '../repo/lock.js';
import { SKIPPED_LISTED } from '../repo/snapshot.js';
import type { CliContext } from './context.js';
import { progressFor } from './progress-bar.js';
import { print, table } from './shell.js';

/** Skipped paths the table's notes show per snapshot; --json has all that were recorded. */
const SKIPPED_SHOWN = 5;

function parseTime(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) {
    throw new LifeboatError(
      'usage',
      `[snapshots] ${flag} "${value}" is not a time: use ISO 8601, e.g. 2026-11-24T10:00:00Z`,
    );
  }
  return d;
}

export async function init(ctx: CliContext): Promise<void> {
  const repo = await ctx.initRepository();
  if (ctx.options.json) print(JSON.stringify({ id: repo.config.id, location: repo.location }));
  else {
    print(`created repository ${repo.config.id.slice(0, 8)} at ${repo.location}`);
    // Advice, not a result: --quiet drops it.
    if (!ctx.options.quiet) print('keep the password safe: without it the data cannot be restored');
  }
}

export async function snapshots(
  ctx: CliContext,
  opts: { source?: string; tag?: string; before?: string; after?: string; all?: boolean },
): Promise<void> {
  const filter = {
    source: opts.source,
    tag: opts.tag,
    before: parseTime(opts.before, '--before'),
    after: parseTime(opts.after, '--after'),
  };
  const repo = await ctx.openRepository();
  const scan = await repo.scanSnapshots();
  const list = filterSnapshots(scan.snapshots, { ...filter, hideDrills: !opts.all });
  const drills = opts.all ? 0 : filterSnapshots(scan.snapshots, filter).length - list.length;
  // Files that do not read are named on stderr (stdout keeps its form) and end in exit 3.
  const problems = () => {
    if (scan.problems.length === 0) return;
    for (const line of describeProblems(scan.problems)) process.stderr.write(`lifeboat: ${line}\n`);
    throw snapshotsPartial(scan.problems.length);
  };
  if (ctx.options.json) {
    print(
      JSON.stringify(
        list.map(({ id, snapshot }) => ({ id, short_id: id.slice(0, 8), ...snapshot })),
        null,
        2,
      ),
    );
    return problems();
  }
  const shown = list;
  // A column for paths left out, only when a listed snapshot has some.
  const partial = shown.some((e) => e.snapshot.skippedCount);
  const rows = shown.map(({ id, snapshot: s }) => [
    id.slice(0, 8),
    s.time.replace('T', ' ').slice(0, 19),
    s.source,
    s.engine,
    s.host,
    s.tags.join(','),
    typeof s.stats.bytes === 'number' ? formatBytes(s.stats.bytes) : '',
    ...(partial ? [s.skippedCount ? `${s.skippedCount} unreadable` : ''] : []),
  ]);
  table(
    ['ID', 'Time (UTC)', 'Source', 'Engine', 'Host', 'Tags', 'Size', ...(partial ? ['Skipped'] : [])],
    rows,
  );
  const hidden =
    drills > 0
      ? ` (and ${drills} restore drill report${drills === 1 ? '' : 's'}, not listed: --all lists them, \`lifeboat drill --list\` summarizes them)`
      : '';
  print(`${shown.length} snapshot${shown.length === 1 ? '' : 's'}${hidden}`);
  for (const { id, snapshot: s } of shown) {
    if (!s.skippedCount) continue;
    const listed = (s.skipped ?? []).slice(0, SKIPPED_SHOWN);
    print(`${id.slice(0, 8)} left out what it could not read:`);
    for (const p of listed) print(`  ${p.path}: ${p.error}`);
    const more = s.skippedCount - listed.length;
    if (more > 0) print(`  and ${more} more (snapshots --json lists the first ${SKIPPED_LISTED})`);
  }
  const physical = [
    ...new Set(list.filter((e) => e.snapshot.kind === 'physical').map((e) => e.snapshot.source)),
  ];
  for (const name of physical) {
    const w = await (await import('../jobs/pitr.js')).recoveryWindow(repo, list, name);
    const gaps = w.gaps.map((g) => `${g.first}${g.count > 1 ? ` (+${g.count - 1} more)` : ''}`);
    print(
      `${name}: ${w.wal} WAL files archived; recoverable window ${w.from} .. ${w.to ?? '(no WAL archived yet)'}${gaps.length > 0 ? `; WAL missing from ${gaps.join(', ')}: recovery stops there` : ''}`,
    );
  }
  problems();
}

function snapshotsPartial(n: number): LifeboatError {
  return new LifeboatError(
    'partial',
    `[snapshots] ${n} snapshot file${n === 1 ? '' : 's'} could not be read and ${n === 1 ? 'is' : 'are'} not listed (named above)`,
  );
}

export async function check(
  ctx: CliContext,
  opts: { readData?: boolean; readDataSubset?: string },
): Promise<void> {
  let percent = opts.readData ? 100 : 0;
  if (opts.readDataSubset !== undefined) {
    percent = Number(opts.readDataSubset.replace(/%$/, ''));
    if (!(percent > 0 && percent <= 100)) {
      throw new LifeboatError(
        'usage',
        `[check] --read-data-subset "${opts.readDataSubset}" must be a percentage between 0 and 100`,
      );
    }
  }
  const repo = await ctx.openRepository();
  const { runCheck } = await import('../jobs/check.js');
  const { describeAffected } = await import('../repo/maintenance/damage-map.js');
  const report = await runCheck(repo, { readDataPercent: percent, progress: progressFor(ctx.options) });
  if (ctx.options.json) print(JSON.stringify(report, null, 2));
  else {
    for (const w of report.warnings) print(`warning: ${w}`);
    for (const e of report.errors) print(`error: ${e}`);
    for (const d of report.damage) for (const line of damageLines(d, describeAffected)) print(line);
    if (report.repair.length > 0) {
      print('to repair, in order:');
      for (const c of report.repair) print(`  ${c}`);
    }
    const read =
      percent > 0
        ? `, ${report.packsRead} packs${report.walRead ? ` and ${report.walRead} WAL files` : ''} (${formatBytes(report.bytesRead)}) and ${report.blobsRead} blobs read and verified`
        : '';
    const wal = report.walFiles > 0 ? `, ${report.walFiles} archived WAL files` : '';
    print(
      `${report.ok ? 'no errors' : `${report.errors.length} error${report.errors.length === 1 ? '' : 's'}`}: ${report.snapshots} snapshots, ${report.packs} packs${wal} checked${read}`,
    );
  }
  if (!report.ok) {
    const more = report.errors.length > 1 ? ` (and ${report.errors.length - 1} more, listed above)` : '';
    const next = report.repair.length > 0 ? `; to repair: \`${report.repair[0]}\`` : '';
    throw new LifeboatError(
      'integrity',
      `[check] the repository at ${repo.location} has ${report.errors.length} error${report.errors.length === 1 ? '' : 's'}: ${report.errors[0]}${more}${next}`,
    );
  }
}

/** A damaged object and what it affects: a headline, then one line per snapshot. */
function damageLines(d: Damage, describeAffected: (a: Damage['affects'][number]) => string): string[] {
  const what =
    d.kind === 'blob' ? 'missing blobs' : d.name === '' ? d.kind : `${d.kind} ${d.name.slice(0, 8)}`;
  if (d.kind === 'snapshot') {
    return [
      `damage: ${what}: ${d.problem}; that snapshot is lost (its source, time and files cannot be read), no other is affected`,
    ];
  }
  const lost = d.blobsLost > 0 ? `; ${d.blobsLost} blob${d.blobsLost === 1 ? '' : 's'} lost` : '';
  const n = d.affects.length;
  const head =
    n === 0
      ? `damage: ${what}: ${d.problem}${lost}; no snapshot uses what it lost`
      : `damage: ${what}: ${d.problem}${lost}; affects ${n} snapshot${n === 1 ? '' : 's'} (id, source, time, paths):`;
  return [head, ...d.affects.map((a) => `  ${describeAffected(a)}`)];
}

interface ForgetOptions {
  source?: string;
  prune?: boolean;
  dryRun?: boolean;
  keepTag: string[];
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  all?: boolean;
}

export async function forgetCommand(ctx: CliContext, opts: ForgetOptions, ids: string[] = []): Promise<void> {
  const policy: KeepPolicy = {
    last: opts.keepLast,
    hourly: opts.keepHourly,
    daily: opts.keepDaily,
    weekly: opts.keepWeekly,
    monthly: opts.keepMonthly,
    yearly: opts.keepYearly,
    within: opts.keepWithin,
    tags: opts.keepTag,
  };
  const configPolicies: Record<string, KeepPolicy | undefined> = {};
  for (const [name, s] of Object.entries(ctx.config.sources ?? {})) {
    const r = (s as { retention?: KeepPolicy & { tags?: string[] } }).retention;
    if (r) configPolicies[name] = r;
  }
  if (ids.length > 0 && (!isEmptyPolicy(policy) || opts.source)) {
    throw new LifeboatError(
      'usage',
      '[forget] give snapshot ids or a keep policy (--keep-*, --source), not both',
    );
  }
  const repo = await ctx.openRepository();
  const { runForget } = await import('../jobs/forget.js');
  const outcome = await runForget(repo, {
    policy,
    configPolicies,
    source: opts.source,
    dryRun: !!opts.dryRun,
    ids,
    includeDrills: !!opts.all,
  });
  for (const line of describeProblems(outcome.skipped)) process.stderr.write(`lifeboat: warning: ${line}\n`);
  for (const d of outcome.groups.flatMap((g) => g.decisions.filter((x) => x.ahead))) {
    process.stderr.write(
      `lifeboat: warning: snapshot ${d.entry.id.slice(0, 8)} ${d.reasons[0]}, kept (a wrong clock or a write-only key: \`lifeboat forget ${d.entry.id.slice(0, 8)}\` removes it)\n`,
    );
  }
  const locked = new Map(outcome.retained.map((r) => [r.id, r.until]));
  if (ctx.options.json && ids.length > 0) {
    print(JSON.stringify({ removed: outcome.removed, retained: outcome.retained }, null, 2));
  } else if (ctx.options.json) {
    print(
      JSON.stringify(
        outcome.groups.map((g) => ({
          source: g.source,
          keep: g.decisions
            .filter((d) => d.keep)
            .map((d) => ({ id: d.entry.id, time: d.entry.snapshot.time, reasons: d.reasons })),
          remove: g.decisions
            .filter((d) => !d.keep && !locked.has(d.entry.id))
            .map((d) => ({ id: d.entry.id, time: d.entry.snapshot.time })),
          retained: g.decisions
            .filter((d) => !d.keep && locked.has(d.entry.id))
            .map((d) => ({ id: d.entry.id, time: d.entry.snapshot.time, until: locked.get(d.entry.id) })),
        })),
        null,
        2,
      ),
    );
  } else {
    for (const id of ids.length > 0 ? outcome.removed : []) {
      print(`${opts.dryRun ? 'would remove' : 'removed'} snapshot ${id.slice(0, 8)}`);
    }
    for (const g of outcome.groups) {
      print(`source ${g.source}:`);
      for (const d of g.decisions) {
        const until = locked.get(d.entry.id);
        const what = d.keep
          ? `keep    (${d.reasons.join(', ')})`
          : until
            ? `locked  (under retention until ${until}: kept)`
            : opts.dryRun
              ? 'would remove'
              : 'removed';
        print(
          `  ${d.entry.id.slice(0, 8)}  ${d.entry.snapshot.time.replace('T', ' ').slice(0, 19)}  ${what}`,
        );
      }
    }
    print(
      `${outcome.removed.length} snapshot${outcome.removed.length === 1 ? '' : 's'} ${opts.dryRun ? 'would be removed' : 'removed'}${outcome.retained.length ? `; ${outcome.retained.length} still locked by the storage's retention (Object Lock), kept` : ''}`,
    );
  }
  if (opts.prune && !opts.dryRun) await prune(ctx, {}, repo);
}

export async function prune(
  ctx: CliContext,
  opts: { dryRun?: boolean; grace?: string },
  openRepo?: Awaited<ReturnType<CliContext['openRepository']>>,
): Promise<void> {
  const repo = openRepo ?? (await ctx.openRepository());
  const { pruneGraceMs, runPrune } = await import('../jobs/prune.js');
  // --grace over repository.prune_grace (forget --prune gives none: the config's applies).
  const graceMs = pruneGraceMs(opts.grace, ctx.config);
  const r = await runPrune(repo, { dryRun: !!opts.dryRun, progress: progressFor(ctx.options), graceMs });
  if (ctx.options.json) print(JSON.stringify(r));
  else {
    const verb = opts.dryRun ? 'would free' : 'freed';
    const marks =
      r.packsMarked || r.packsPending || r.packsUnmarked
        ? `; ${r.packsMarked} marked for deletion, ${r.packsPending} waiting for their grace${r.packsUnmarked ? `, ${r.packsUnmarked} needed again and kept` : ''}`
        : '';
    print(
      `${r.packsDeleted} packs deleted, ${r.packsRepacked} repacked, ${r.packsKept} kept${r.walDeleted ? `, ${r.walDeleted} WAL files no base backup needs deleted` : ''}; ${verb} ${formatBytes(r.bytesFreed)}${r.packsRetained ? ` (${r.packsRetained} unused packs are under retention until ${r.retainedUntil} and stay)` : ''}${marks}`,
    );
  }
  for (const id of r.damagedSnapshots) {
    process.stderr.write(
      `lifeboat: warning: snapshot ${id} is damaged and counted as lost: what only it used ${opts.dryRun ? 'would be' : 'was'} freed (\`lifeboat forget ${id.slice(0, 8)}\` removes the file)\n`,
    );
  }
}

export async function unlock(ctx: CliContext, opts: { force?: boolean }): Promise<void> {
  const repo = await ctx.openRepository();
  const now = repo.clock.now();
  let removed = 0;
  for (const lock of await repo.listLocks()) {
    const state = lockState(lock, now);
    if (opts.force || state !== 'alive') {
      await repo.removeLock(lock.name);
      removed++;
      print(`removed ${state} lock: ${describeHolder(lock, now)}`);
    } else {
      print(`kept live lock: ${describeHolder(lock, now)} (use --force if that process is gone)`);
    }
  }
  print(`${removed} lock${removed === 1 ? '' : 's'} removed`);
}
