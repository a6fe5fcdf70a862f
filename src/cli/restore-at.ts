/**
 * @module cli/restore-at
 * `restore --at TIME`: parse, ask jobs/restore-at what the time means for the source, then
 * one call: a physical source's data directory (wal-commands restoreAt), its tables' rows at
 * TIME into a live database (jobs/pitr-extract), or, for any other source, the newest
 * snapshot at or before TIME, which the ordinary restore then takes.
 */
import { existsSync } from 'node:fs';
import { LifeboatError } from '../errors.js';
import type { PitrOutcome } from '../jobs/pitr.js';
import { isDatabaseTarget, planRestoreAt } from '../jobs/restore-at.js';
import { selfArgv } from '../self-command.js';
import { parseTarget } from '../sources/postgres/recovery-target.js';
import type { CliContext } from './context.js';
import { print } from './shell.js';
import { restoreAt } from './wal-actions.js';

export interface RestoreAtOptions {
  source?: string;
  at: string;
  to?: string;
  table: string[];
  dataOnly?: boolean;
  overwrite?: boolean;
  dryRun?: boolean;
  /** Start PostgreSQL on the restored data directory and check that it recovers (jobs/pitr-verify). */
  verify?: boolean;
}

/**
 * Does `restore --at`; returns the snapshot id the ordinary restore is to take instead when
 * the source is not physical, else undefined (done).
 */
export async function restoreAtTime(
  ctx: CliContext,
  opts: RestoreAtOptions,
  snapshotRef: string,
): Promise<string | undefined> {
  if (snapshotRef !== 'latest') {
    throw new LifeboatError(
      'usage',
      '[restore] with --at, give "latest": the base backup (or snapshot) is chosen by the time',
    );
  }
  if (!opts.source && opts.table.length > 0) {
    throw new LifeboatError('usage', '[restore] --at with --table needs --source S');
  }
  // Only a time can name a snapshot; any other form (and no --source: the only physical
  // source of the config) goes straight to recovery, which checks the recovery settings
  // before it opens the repository.
  const decide = opts.source && (parseTarget(opts.at).kind === 'time' || opts.table.length > 0);
  const plan = decide
    ? await planRestoreAt(await ctx.openRepository(), opts.source as string, opts.at)
    : undefined;
  if (plan?.kind === 'snapshot') {
    const s = plan.entry.snapshot;
    if (!ctx.options.json && !ctx.options.quiet) {
      print(
        `snapshot ${plan.entry.id.slice(0, 8)} (${s.source}, ${s.time}) is the newest at or before ${opts.at}`,
      );
    }
    return plan.entry.id;
  }
  if (opts.table.length === 0) {
    const r = await restoreAt(
      ctx,
      {
        source: opts.source,
        at: opts.at,
        to: opts.to,
        dryRun: opts.dryRun,
        json: opts.verify && !opts.dryRun ? false : undefined,
      },
      snapshotRef,
    );
    if (opts.verify && !r.dryRun) await verify(ctx, r);
    return undefined;
  }
  await extract(ctx, { ...opts, source: opts.source as string });
  return undefined;
}

const DEFAULT_CONFIG = 'lifeboat.yaml';

/** `--verify`: the restored data directory started once, recovered, checked and stopped. */
async function verify(ctx: CliContext, r: PitrOutcome): Promise<void> {
  const { verifyRecovery } = await import('../jobs/pitr-verify.js');
  const v = await verifyRecovery({
    dataDir: r.target,
    at: r.at,
    baseEnd: String(r.base.snapshot.meta.endTime ?? r.base.snapshot.time),
    configured: ctx.config.sources?.[r.base.snapshot.source] as Record<string, unknown> | undefined,
    component: 'restore',
  });
  const failed = v.checks.filter((c) => !c.ok && !c.skipped);
  if (ctx.options.json) {
    const restored = {
      snapshot: r.base.id,
      target: r.target,
      at: r.at,
      window: { from: r.window.from, to: r.window.to },
    };
    print(JSON.stringify({ ...restored, verified: failed.length === 0, ...v }, null, 2));
  } else {
    for (const c of v.checks)
      print(`  ${c.skipped ? 'skipped' : c.ok ? 'ok' : 'FAILED'} ${c.name}: ${c.detail}`);
    print(
      `recovered to ${v.recoveredTo} and stopped in ${(v.ms / 1000).toFixed(1)}s; ${r.target} is promoted, ready to start`,
    );
  }
  if (failed.length > 0) {
    throw new LifeboatError(
      'integrity',
      `[restore] ${r.target} did not pass verification: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`,
    );
  }
}

async function extract(ctx: CliContext, opts: RestoreAtOptions & { source: string }): Promise<void> {
  if (!opts.dataOnly) {
    throw new LifeboatError(
      'usage',
      '[restore] --at with --table loads the rows the tables held then into existing tables: add --data-only (and --to postgres://.../DATABASE)',
    );
  }
  if (!isDatabaseTarget(opts.to)) {
    throw new LifeboatError(
      'usage',
      '[restore] --at with --table needs --to postgres://USER@HOST:PORT/DATABASE, the database whose tables receive the rows',
    );
  }
  if (opts.dryRun) {
    throw new LifeboatError(
      'usage',
      '[restore] --dry-run does not apply to --at with --table (it recovers a whole cluster)',
    );
  }
  const config =
    ctx.options.config ??
    ctx.env.LIFEBOAT_CONFIG ??
    (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  const repo = await ctx.openRepository();
  // Loaded when used: it brings a PostgreSQL driver every other command does without.
  const { extractAtPoint } = await import('../jobs/pitr-extract.js');
  const r = await extractAtPoint(repo, {
    source: opts.source,
    at: opts.at,
    tables: opts.table,
    to: opts.to,
    overwrite: !!opts.overwrite,
    configured: ctx.config.sources?.[opts.source] as Record<string, unknown> | undefined,
    lifeboatArgv: selfArgv(config),
  });
  if (ctx.options.json) {
    print(
      JSON.stringify(
        {
          source: opts.source,
          snapshot: r.base,
          at: r.at,
          last_transaction: r.lastTransaction,
          database: r.database,
          target: r.target,
          rows: r.rows,
          wal_fetched: r.walFetched,
        },
        null,
        2,
      ),
    );
    return;
  }
  const last = r.lastTransaction
    ? `last transaction replayed ${r.lastTransaction}`
    : 'no transaction after the base backup';
  print(
    `recovered ${opts.source} to ${r.at} in a scratch cluster (base backup ${r.base.slice(0, 8)}, ${r.walFetched} WAL files; ${last})`,
  );
  for (const [table, n] of Object.entries(r.rows)) {
    print(`loaded ${table}: ${n} row${n === 1 ? '' : 's'} (from database ${r.database}) into ${r.target}`);
  }
  print('scratch cluster removed');
}
