/**
 * @module cli/data-actions
 * backup, restore, dump: parse, call one job, render. Applications (--app) and points in
 * time (--at, the WAL machinery) are imported when asked for: a plain restore starts without.
 */

import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { formatBytes } from '../byte-size.js';
import { requireSettings } from '../config/config-load.js';
import { LifeboatError } from '../errors.js';
import { type BackupOutcome, type SourceBackupReport, stripUrlPassword } from '../jobs/backup.js';
import { backupRunError, runBackups, skippedOf } from '../jobs/backup-run.js';
import { runDump } from '../jobs/dump.js';
import { describeDamaged, partialRestoreError, runRestore } from '../jobs/restore.js';
import { describeProblems } from '../jobs/snapshot-select.js';
import { ProgressTally, teeProgress } from '../progress.js';
import type { Snapshot } from '../repo/snapshot.js';
import { preloadEngines } from '../sources/registry.js';
import { scopeValues } from '../sources/restore-scopes.js';
import { sourceFromCli } from '../sources/source-from-cli.js';
import type { CliContext } from './context.js';
import { restoreNote, setInterruptNote } from './interrupt-note.js';
import { progressFor } from './progress-bar.js';
import { print } from './shell.js';

interface BackupOptions {
  tag: string[];
  app?: string;
  type?: string;
  name?: string;
  path?: string;
  url?: string;
  exclude: string[];
  method?: string;
  command?: string;
}

export async function backup(ctx: CliContext, opts: BackupOptions, names: string[]): Promise<void> {
  if (opts.app) {
    if (names.length > 0)
      throw new LifeboatError('usage', "[backup] --app backs up the app's sources: name no sources");
    return (await import('./app-actions.js')).backupApp(ctx, opts.app, opts.tag);
  }
  const chosen: { name: string; config: Record<string, unknown> }[] = [];
  if (opts.type || opts.name || opts.path || opts.url || opts.method || opts.command) {
    if (!opts.type || !opts.name) {
      throw new LifeboatError(
        'usage',
        '[backup] a source on the command line needs --type and --name (and --path, --url or --command)',
      );
    }
    const config = sourceFromCli({
      type: opts.type,
      name: opts.name,
      path: opts.path,
      url: opts.url,
      exclude: opts.exclude,
      method: opts.method,
      command: opts.command,
    });
    chosen.push({ name: opts.name, config: config as Record<string, unknown> });
  } else {
    const all = ctx.config.sources ?? {};
    const wanted = names.length > 0 ? names : Object.keys(all);
    if (wanted.length === 0) {
      throw new LifeboatError(
        'usage',
        '[backup] no sources: add some to lifeboat.yaml, or name one with --type, --name and --path',
      );
    }
    for (const n of wanted) {
      const config = all[n];
      if (!config) {
        throw new LifeboatError(
          'usage',
          `[backup] no source "${n}" in the config (known: ${Object.keys(all).join(', ') || 'none'})`,
        );
      }
      chosen.push({ name: n, config: config as Record<string, unknown> });
    }
    // A source whose settings use an unset ${NAME} fails the run before anything is saved.
    for (const c of chosen) requireSettings(c.config);
  }
  // The engines' modules load, and the first source starts, while the repository's key is
  // derived; a password typed at the terminal comes first (a source does not wait on a person).
  preloadEngines(chosen.map((c) => String(c.config.type)));
  await ctx.promptForPassword(false);
  const repo = ctx.openRepository();
  repo.catch(() => {}); // awaited by runBackups
  const reports = await runBackups(repo, {
    sources: chosen,
    tags: opts.tag,
    progress: () => progressFor(ctx.options),
    onSource: (report) => {
      if (!ctx.options.json) for (const o of report.saved) print(savedLine(o));
    },
  });
  if (ctx.options.json) print(JSON.stringify(reports.map(reportJson), null, 2));
  const error = backupRunError(reports);
  // Each failure and each unreadable path, at the end, above the error that sums them up
  // (a lone failure is that error itself).
  for (const r of reports) {
    for (const f of r.failures) {
      if (f.error !== error) process.stderr.write(`failed: ${f.name}: ${f.error.message}\n`);
    }
    const { paths, count } = skippedOf(r);
    for (const p of paths) process.stderr.write(`skipped: ${p.path}: ${p.error}\n`);
    if (count > paths.length) {
      process.stderr.write(`skipped: ${count - paths.length} more paths of ${r.source}, not listed\n`);
    }
  }
  if (error) throw error;
}

function savedLine({ id, snapshot, bytesReused }: BackupOutcome): string {
  const b = snapshot.backup;
  const skipped = snapshot.skippedCount
    ? `; ${snapshot.skippedCount} unreadable path${snapshot.skippedCount === 1 ? '' : 's'} left out`
    : '';
  // What was unchanged was processed, not read: "read" alone would overstate the work.
  const total = b?.bytesRead ?? 0;
  const reused = Math.min(bytesReused ?? 0, total);
  const amount =
    reused > 0
      ? `${formatBytes(total)} processed (${formatBytes(total - reused)} read, ${formatBytes(reused)} unchanged)`
      : `${formatBytes(total)} read`;
  return `snapshot ${id.slice(0, 8)} saved: ${snapshot.source} (${snapshot.engine}), ${amount}, ${formatBytes(b?.bytesAdded ?? 0)} added, ${((b?.durationMs ?? 0) / 1000).toFixed(1)}s${skipped}`;
}

/** One source in `backup --json`: its status, its snapshots (ids, and in full), what failed or was left out. */
function reportJson(r: SourceBackupReport): Record<string, unknown> {
  const { paths, count } = skippedOf(r);
  return {
    source: r.source,
    status: r.status,
    snapshots: r.saved.map((o) => o.id),
    error: r.failures.length > 0 ? r.failures.map((f) => `${f.name}: ${f.error.message}`).join('; ') : null,
    failures: r.failures.map((f) => ({ name: f.name, code: f.error.code, error: f.error.message })),
    skipped: paths,
    skippedCount: count,
    saved: r.saved.map((o) => ({ id: o.id, ...o.snapshot })),
  };
}

interface RestoreCliOptions {
  source?: string;
  to?: string;
  at?: string;
  dataOnly?: boolean;
  /** false with --no-privileges. */
  privileges?: boolean;
  devices?: boolean;
  overwrite?: boolean;
  dryRun?: boolean;
  /** true with --verify, false with --no-verify. */
  verify?: boolean;
  app?: string;
  point?: string;
  env?: string;
  only: string[];
}

export async function restore(ctx: CliContext, opts: RestoreCliOptions, given?: string): Promise<void> {
  if (opts.app) {
    if (given)
      throw new LifeboatError('usage', '[restore] --app takes --point ID or --at TIME, not a snapshot');
    return (await import('./app-actions.js')).restoreAppCli(ctx, { ...opts, app: opts.app });
  }
  if (!given) throw new LifeboatError('usage', "[restore] missing required argument 'snapshot'");
  // --at: a physical source is recovered to the point; any other restores the snapshot it names.
  const snapshotRef = opts.at
    ? await (await import('./restore-at.js')).restoreAtTime(
        ctx,
        {
          ...opts,
          at: opts.at,
          table: scopeValues(opts as unknown as Record<string, unknown>, 'flag').tables ?? [],
        },
        given,
      )
    : given;
  if (snapshotRef === undefined) return;
  const repo = await ctx.openRepository();
  // What was written so far, for what an interruption says (interrupt-note.ts).
  const tally = new ProgressTally();
  const progress = teeProgress(progressFor(ctx.options), tally);
  let found: { id: string; snapshot: Snapshot; target?: string } | undefined;
  if (!opts.dryRun) setInterruptNote(restoreNote(tally, () => found));
  const result = await runRestore(repo, {
    snapshot: snapshotRef,
    source: opts.source,
    configured: (ctx.config.sources ?? {}) as Record<string, Record<string, unknown>>,
    options: {
      to: opts.to,
      ...scopeValues(opts as unknown as Record<string, unknown>, 'flag'),
      dataOnly: !!opts.dataOnly,
      noPrivileges: opts.privileges === false,
      devices: !!opts.devices,
      overwrite: !!opts.overwrite,
      dryRun: !!opts.dryRun,
    },
    progress,
    returnPartial: true,
    onSnapshot: (id, snapshot) => {
      const recorded = typeof snapshot.meta.path === 'string' ? snapshot.meta.path : undefined;
      const to =
        opts.to && (/^[a-z][a-z0-9+.-]*:\/\//i.test(opts.to) ? stripUrlPassword(opts.to) : resolve(opts.to));
      found = { id, snapshot, target: to || recorded };
    },
  }).finally(() => setInterruptNote(undefined));
  progress.done();
  // `latest` passed over snapshot files that do not read: say so, the newest may be among them.
  for (const line of [...describeProblems(result.skipped), ...result.future]) {
    process.stderr.write(`lifeboat: warning: ${line}\n`);
  }
  const damaged = result.damaged ?? [];
  if (ctx.options.json) {
    print(
      JSON.stringify(
        {
          snapshot: result.snapshotId,
          target: result.target,
          items: result.items,
          stats: result.stats,
          ...(result.targetHolds ? { target_holds: result.targetHolds } : {}),
          ...(damaged.length > 0 ? { damaged } : {}),
        },
        null,
        2,
      ),
    );
  } else {
    const verb = opts.dryRun ? 'would restore' : 'restored';
    if (opts.dryRun) for (const item of result.items) print(item);
    const holds = result.targetHolds;
    if (holds) {
      print(`target ${holds.target} holds now: ${holds.summary}`);
      for (const item of (holds.items ?? []).slice(0, 20)) print(`  ${item}`);
    }
    // Skipped entries, and files a repair cut (they restore with what remains).
    for (const w of (result.stats.warnings as string[] | undefined) ?? []) print(`warning: ${w}`);
    print(
      `${verb} snapshot ${result.snapshotId.slice(0, 8)} (${result.snapshot.source}) to ${result.target}: ${summary(result.stats)}`,
    );
    // The path alone on its line (a script can take it), then why, indented.
    for (const d of damaged) print(`not restored: ${describeDamaged(d)}\n  ${d.reason}`);
  }
  if (damaged.length > 0) throw partialRestoreError(damaged, result.target);
}

function summary(stats: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof stats.files === 'number') parts.push(`${stats.files} files`);
  if (typeof stats.dirs === 'number') parts.push(`${stats.dirs} dirs`);
  if (typeof stats.tables === 'number') parts.push(`${stats.tables} tables`);
  if (typeof stats.keysTotal === 'number') parts.push(`${stats.keysTotal} keys`);
  if (typeof stats.expired === 'number' && stats.expired > 0)
    parts.push(`${stats.expired} expired keys skipped`);
  if (typeof stats.documentsTotal === 'number') parts.push(`${stats.documentsTotal} documents`);
  if (typeof stats.entriesTotal === 'number') parts.push(`${stats.entriesTotal} entries`);
  if (typeof stats.bytes === 'number') parts.push(formatBytes(stats.bytes));
  return parts.join(', ') || 'done';
}

export async function dump(
  ctx: CliContext,
  opts: { source?: string; output?: string; path?: string },
  snapshotRef: string,
): Promise<void> {
  const repo = await ctx.openRepository();
  if (!opts.output) {
    await runDump(repo, {
      snapshot: snapshotRef,
      source: opts.source,
      path: opts.path,
      output: process.stdout,
    });
    return;
  }
  // Write beside the target and rename, so a failed dump never leaves a truncated file.
  const tmp = `${opts.output}.lifeboat-partial`;
  const out = createWriteStream(tmp);
  // An unwritable output (missing folder, full disk) surfaces through the write, not as a crash.
  const failed = new Promise<never>((_, reject) =>
    out.once('error', (err) =>
      reject(
        new LifeboatError('output_failed', `[dump] cannot write ${opts.output}: ${err.message}`, {
          cause: err,
        }),
      ),
    ),
  );
  failed.catch(() => {});
  try {
    const r = await Promise.race([
      failed,
      runDump(repo, {
        snapshot: snapshotRef,
        source: opts.source,
        path: opts.path,
        output: out,
      }),
    ]);
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
    await rename(tmp, opts.output);
    if (!ctx.options.json)
      process.stderr.write(`wrote ${r.name} (${formatBytes(r.bytes)}) to ${opts.output}\n`);
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}
