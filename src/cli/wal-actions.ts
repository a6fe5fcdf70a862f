/**
 * @module cli/wal-actions
 * wal-push (PostgreSQL's archive_command) and wal-fetch (its restore_command) for sources
 * with `method: physical`. Each call opens the repository once; exit 0 means durable
 * (push) or written (fetch); wal-fetch exits 1 when the file is not archived.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describe, LifeboatError } from '../errors.js';
import { type PitrOutcome, pointRestoreCommand, restoreToPoint } from '../jobs/pitr.js';
import { fetchWal } from '../jobs/wal-fetch.js';
import { AGENT_PID, agentAlive, runFetchAgent } from '../jobs/wal-fetch-agent.js';
import { pushWal } from '../jobs/wal-push.js';
import { pushAgentAlive, runPushAgent } from '../jobs/wal-push-agent.js';
import { selfArgv } from '../self-command.js';
import { RECOVERY_SETTINGS } from '../sources/postgres/recovery-config.js';
import { PREFETCH_DIR } from '../sources/postgres/wal-dir.js';
import { engineDeclaration } from '../sources/registry.js';
import type { CliContext } from './context.js';
import { readRecoverySettings, settingsContext } from './recovery-settings.js';
import { print } from './shell.js';

/** The config file every command reads when none is named (config/config.ts). */
const DEFAULT_CONFIG = 'lifeboat.yaml';

/** The physical postgres source WAL belongs to: --source, $LIFEBOAT_WAL_SOURCE, or the only one. */
export function walSource(
  ctx: CliContext,
  wanted: string | undefined,
): { name: string; config: Record<string, unknown> } {
  const all = (ctx.config.sources ?? {}) as Record<string, Record<string, unknown>>;
  const name = wanted ?? ctx.env.LIFEBOAT_WAL_SOURCE;
  if (name) {
    const config = all[name];
    if (config) return { name, config };
    // A restore on a machine without the source configured still knows its name.
    return { name, config: { type: 'postgres', method: 'physical' } };
  }
  const physical = Object.entries(all).filter(
    ([, c]) => typeof c?.type === 'string' && !!engineDeclaration(c.type)?.archivesLog?.(c),
  );
  if (physical.length === 1) return { name: physical[0][0], config: physical[0][1] };
  throw new LifeboatError(
    'usage',
    physical.length === 0
      ? '[wal] no postgres source with method: physical in the config: add one, or give --source NAME'
      : `[wal] several physical postgres sources (${physical.map(([n]) => n).join(', ')}): give --source NAME or set LIFEBOAT_WAL_SOURCE`,
  );
}

export async function walPush(
  ctx: CliContext,
  opts: { source?: string; agent?: boolean },
  path: string,
): Promise<void> {
  const source = walSource(ctx, opts.source);
  const repo = await ctx.openRepository();
  const pgWal = dirname(resolve(path));
  if (opts.agent) {
    const config = ctx.options.config ?? ctx.env.LIFEBOAT_CONFIG ?? 'lifeboat.yaml';
    await runPushAgent(repo, source.name, pgWal, { config });
    return;
  }
  // A running agent stores the other ready files; this call only stores its own.
  const r = await pushWal(repo, source.name, path, { batch: !(await pushAgentAlive(pgWal)) });
  if (ctx.options.json) print(JSON.stringify({ ...r.pushed, batch: r.others }));
  else if (!ctx.options.quiet) {
    const more = r.others.length > 0 ? ` (and ${r.others.length} more ready files)` : '';
    process.stderr.write(
      `lifeboat: ${r.pushed.name} ${r.pushed.result === 'stored' ? 'archived' : 'already archived'}${more}\n`,
    );
  }
}

/**
 * Exit status for a wal-fetch that failed for another reason than "not archived" (wrong
 * password, repository unreachable, damaged data). PostgreSQL reads any status up to 125 as
 * "not in the archive" and would end recovery early (and, with --at latest, promote); above
 * 125 it aborts recovery instead, which is what a broken archive warrants.
 */
export const WAL_FETCH_FAILED = 200;

export async function walFetch(
  given: CliContext,
  opts: { source?: string; prefetch: string; agent?: boolean; settings?: string },
  name: string,
  path: string,
): Promise<void> {
  let ctx = given;
  const ahead = Number.parseInt(opts.prefetch, 10);
  if (!Number.isInteger(ahead) || ahead < 0 || ahead > 1024) {
    throw new LifeboatError(
      'usage',
      `[wal-fetch] --prefetch ${opts.prefetch}: give a whole number from 0 to 1024`,
    );
  }
  const pgWal = dirname(resolve(path));
  if (opts.agent) {
    if (opts.settings) ctx = settingsContext(ctx, await readRecoverySettings(opts.settings));
    const source = walSource(ctx, opts.source);
    await runFetchAgent(await ctx.openRepository(), source.name, pgWal, { ahead, first: name });
    return;
  }
  let found: boolean;
  try {
    if (opts.settings) ctx = settingsContext(ctx, await readRecoverySettings(opts.settings));
    const source = walSource(ctx, opts.source);
    const repo = await ctx.openRepository();
    found = await fetchWal(repo, source.name, name, path);
    if (ahead > 0 && !(await agentAlive(pgWal))) {
      await mkdir(join(pgWal, PREFETCH_DIR), { recursive: true, mode: 0o700 });
      await startAgent(name, path, source.name, ahead, opts.settings);
    }
  } catch (err) {
    process.stderr.write(`lifeboat: wal-fetch ${name}: ${describe(err)}\n`);
    await ctx.close();
    process.exit(WAL_FETCH_FAILED);
  }
  if (!found) {
    await ctx.close();
    process.exit(1);
  }
}

/**
 * Starts the fetch agent (jobs/wal-fetch-agent.ts), detached: it serves the next
 * calls and fetches ahead while PostgreSQL replays. Its failures only cost speed.
 */
async function startAgent(
  name: string,
  path: string,
  source: string,
  ahead: number,
  settings: string | undefined,
): Promise<void> {
  const args = process.argv.slice(1);
  const at = args.indexOf('wal-fetch');
  const global = at > 0 ? args.slice(1, at) : [];
  const own = [
    '--source',
    source,
    '--prefetch',
    String(ahead),
    ...(settings ? ['--settings', resolve(settings)] : []),
  ];
  const child = spawn(process.execPath, [args[0], ...global, 'wal-fetch', ...own, '--agent', name, path], {
    detached: true,
    stdio: 'ignore',
  });
  child.on('error', () => {});
  child.unref();
  // Named at once, so the next call waits for this agent instead of starting another (the
  // agent names itself too: a failure here only costs speed).
  if (child.pid)
    await writeFile(join(dirname(resolve(path)), PREFETCH_DIR, AGENT_PID), `${child.pid}\n`).catch(() => {});
}

/** `--at TIME --to DATADIR` for a physical source: base backup plus recovery settings. */
export async function restoreAt(
  ctx: CliContext,
  opts: { source?: string; at: string; to?: string; dryRun?: boolean; json?: boolean },
  snapshotRef: string,
): Promise<PitrOutcome> {
  if (snapshotRef !== 'latest') {
    throw new LifeboatError(
      'usage',
      '[restore] with --at, give "latest": the base backup is chosen by the time',
    );
  }
  if (!opts.to) throw new LifeboatError('usage', '[restore] --at needs --to DATADIR (a new data directory)');
  const source = walSource(ctx, opts.source);
  const config =
    ctx.options.config ??
    ctx.env.LIFEBOAT_CONFIG ??
    (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  // The repository read here and how to get its password go into the data directory:
  // recovery reads the same one, whatever the server's config and environment say.
  const { settings, restoreCommand } = pointRestoreCommand(
    selfArgv(config),
    source.name,
    ctx.config,
    ctx.env,
  );
  // The base backup's code loads while the key's scrypt runs on the thread pool.
  if (!opts.dryRun) void import('../sources/postgres/postgres-physical.js').catch(() => {});
  const repo = await ctx.openRepository();
  const r = await restoreToPoint(repo, {
    source: source.name,
    at: opts.at,
    to: resolve(opts.to),
    restoreCommand,
    settings,
    dryRun: opts.dryRun,
  });
  // opts.json false: the caller prints the JSON (restore --at --verify --json adds to it).
  if (ctx.options.json && opts.json === false) return r;
  if (ctx.options.json) {
    const window = { from: r.window.from, to: r.window.to };
    const out = {
      snapshot: r.base.id,
      target: r.target,
      at: r.at,
      window,
      ...(r.dryRun ? { dryRun: true } : {}),
    };
    print(JSON.stringify(out, null, 2));
    return r;
  }
  const base = `base backup ${r.base.id.slice(0, 8)} (${source.name}, ended ${String(r.base.snapshot.meta.endTime)})`;
  const point = r.at === 'latest' ? 'the end of the archive' : r.at;
  const window = `recoverable window ${r.window.from} .. ${r.window.to ?? '?'}`;
  if (r.dryRun) {
    print(`would restore ${base} to ${r.target}, set to recover to ${point} (${window}); nothing written`);
    return r;
  }
  const password = settings.password_file
    ? `the password file ${settings.password_file}`
    : settings.password_command
      ? 'the password command'
      : `repository.password in ${settings.password_in_config}`;
  print(`restored ${base} to ${r.target}`);
  print(
    `restore_command reads WAL from ${settings.repository} with ${password} (noted in ${join(r.target, RECOVERY_SETTINGS)}: the server's OS user must be able to read them)`,
  );
  print(`recovery set to ${point}; start PostgreSQL on ${r.target} to replay WAL (${window})`);
  return r;
}
