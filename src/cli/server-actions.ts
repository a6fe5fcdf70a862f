/**
 * @module cli/server-actions
 * serve, status, jobs, token, audit: parse, call the job queue (jobs/queue), the daemon or
 * the catalog, render. status and jobs read the catalog and the repository directly, so they
 * work without a running server. Nothing here imports server/: `serve` starts it through
 * daemon/serve-daemon.
 */

import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { formatBytes } from '../byte-size.js';
import type { JobKind, JobRecord, JobStatus } from '../catalog/catalog.js';
import { syncFromSnapshots } from '../catalog/catalog-rebuild.js';
import type { CatalogStore } from '../catalog/catalog-store.js';
import { JOB_KINDS, JOB_STATUSES } from '../catalog/job-states.js';
import { catalogPath, isPostgresLocation, openCatalog as openCatalogAt } from '../catalog/open-catalog.js';
import { isRole, ROLES } from '../catalog/tokens.js';
import { systemClock } from '../clock.js';
import { parseDuration, requireEverySource, resolveRepository } from '../config/config.js';
import { DEFAULT_LISTEN, parseListen, runDaemon } from '../daemon/serve-daemon.js';
import { describe, LifeboatError } from '../errors.js';
import { labelsText, parseLabels } from '../jobs/fleet/fleet-settings.js';
import { orderOf } from '../jobs/queue/job-kinds.js';
import { JobQueue, ownerAlive } from '../jobs/queue/job-queue.js';
import { publicJob } from '../jobs/queue/public-job.js';
import { schedulesOf } from '../jobs/queue/schedule.js';
import { sourceStatuses } from '../jobs/queue/source-status.js';
import { describeProblems } from '../jobs/snapshot-select.js';
import { formatAge } from '../notify/alert-rules.js';
import { Repository } from '../repo/repository.js';
import type { SnapshotEntry } from '../repo/snapshot.js';
import { selfArgv } from '../self-command.js';
import { sourceOfUnit } from '../sources/source-units.js';
import { openBackend } from '../storage/registry.js';
import type { CliContext } from './context.js';
import { print, table } from './shell.js';

// ---- helpers ---------------------------------------------------------------------------

function configFile(ctx: CliContext): string | undefined {
  const given = ctx.options.config || ctx.env.LIFEBOAT_CONFIG;
  if (given) return given;
  return existsSync('lifeboat.yaml') ? 'lifeboat.yaml' : undefined;
}

function openCatalog(ctx: CliContext): Promise<CatalogStore> {
  return openCatalogAt(catalogPath(ctx.config, configFile(ctx), ctx.env), systemClock);
}

function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

const shortTime = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '-');

function count(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new LifeboatError('usage', `[jobs] ${flag} "${value}" is not a positive whole number`);
  return n;
}

/**
 * Snapshots from the repository, and the catalog brought up to date with them (rebuilt jobs
 * for snapshots it does not know). Without a reachable repository: none, with a warning.
 */
async function repositorySnapshots(
  ctx: CliContext,
  catalog: CatalogStore,
): Promise<SnapshotEntry[] | undefined> {
  try {
    const repo = await ctx.openRepository();
    const { snapshots: entries, problems } = await repo.scanSnapshots();
    for (const line of describeProblems(problems)) process.stderr.write(`lifeboat: warning: ${line}\n`);
    const busy = new Set(
      (await catalog.activeJobs()).filter((j) => ownerAlive(j.owner)).map((j) => j.source),
    );
    await syncFromSnapshots(
      catalog,
      entries.filter((e) => !busy.has(sourceOfUnit(e.snapshot.source))),
    );
    return entries;
  } catch (err) {
    process.stderr.write(`lifeboat: warning: showing the catalog only: ${describe(err)}\n`);
    return undefined;
  }
}

// ---- serve -----------------------------------------------------------------------------

export async function serve(ctx: CliContext, opts: { listen?: string }): Promise<void> {
  const listen = opts.listen ?? ctx.config.server?.listen ?? DEFAULT_LISTEN;
  try {
    parseListen(listen);
  } catch (err) {
    throw new LifeboatError('usage', `[serve] --listen ${describe(err)}`);
  }
  // Checked before anything opens: a typo in a schedule fails here, naming the field.
  schedulesOf(ctx.config);
  const location = catalogPath(ctx.config, configFile(ctx), ctx.env);
  const { fleetQueueOptions, runsSource } = await import('../jobs/fleet/fleet-settings.js');
  // A PostgreSQL catalog is fleet mode: jobs go through the shared queue (docs/distributed.md).
  const fleet = isPostgresLocation(location) ? fleetQueueOptions(ctx.config, location) : undefined;
  // The server runs every source's jobs (in fleet mode, those its labels reach): a source's
  // unset ${VAR} must not wait for its first job.
  const labels = ctx.config.server?.labels ?? {};
  requireEverySource(ctx.config, 'serve', fleet ? (s) => runsSource(ctx.config, s, labels) : undefined);
  const { url, password } = await resolveRepository(ctx.config, ctx.env);
  const catalog = await openCatalog(ctx);
  await runDaemon({
    fleet,
    listen,
    config: ctx.config,
    catalog,
    repository: { url, password, options: ctx.repoOptions(), storage: ctx.storageOptions() },
    logLevel: ctx.options.debug ? 'debug' : ctx.options.quiet ? 'warn' : undefined,
    lifeboatArgv: selfArgv(ctx.options.config ?? ctx.env.LIFEBOAT_CONFIG),
    print,
    env: ctx.env,
  });
}

// ---- worker ----------------------------------------------------------------------------

export async function worker(
  ctx: CliContext,
  opts: { labels?: string; concurrency?: string; server?: string },
): Promise<void> {
  const { fleetQueueOptions, runsSource } = await import('../jobs/fleet/fleet-settings.js');
  const servers = opts.server
    ?.split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  const location = catalogPath(ctx.config, configFile(ctx), ctx.env);
  if (!servers && !isPostgresLocation(location)) {
    throw new LifeboatError(
      'config_invalid',
      '[worker] a worker needs the shared PostgreSQL catalog: set server.catalog (or LIFEBOAT_CATALOG) to a postgres:// URL, the same as the serve instances use, or give --server URL with a worker token in LIFEBOAT_WORKER_TOKEN',
    );
  }
  const token = ctx.env.LIFEBOAT_WORKER_TOKEN?.trim();
  // Jobs run hooks and tools with this environment: the token stays with the worker itself.
  delete ctx.env.LIFEBOAT_WORKER_TOKEN;
  delete process.env.LIFEBOAT_WORKER_TOKEN;
  if (servers) {
    for (const u of servers) {
      if (!/^https?:\/\/[^/\s@]+/.test(u)) {
        throw new LifeboatError(
          'usage',
          `[worker] --server "${u}" is not an http:// or https:// URL (without credentials)`,
        );
      }
    }
    if (!token) {
      throw new LifeboatError(
        'usage',
        '[worker] --server needs a worker token in LIFEBOAT_WORKER_TOKEN (create one with `lifeboat token create NAME --role worker --labels k=v`)',
      );
    }
  }
  const labels = opts.labels !== undefined ? parseLabels(opts.labels) : (ctx.config.server?.labels ?? {});
  const concurrency = count(opts.concurrency, '--concurrency', ctx.config.server?.concurrency ?? 2);
  // The sources it may be handed need their settings now, not at their first job.
  requireEverySource(ctx.config, 'worker', (s) => runsSource(ctx.config, s, labels));
  const { url, password } = await resolveRepository(ctx.config, ctx.env);
  const via =
    servers && token
      ? { servers, token }
      : { catalog: await openCatalog(ctx), fleet: fleetQueueOptions(ctx.config, location) };
  const { runWorker } = await import('../daemon/worker-daemon.js');
  await runWorker({
    config: ctx.config,
    via,
    labels,
    concurrency,
    repository: { url, password, options: ctx.repoOptions(), storage: ctx.storageOptions() },
    logLevel: ctx.options.debug ? 'debug' : ctx.options.quiet ? 'warn' : undefined,
    lifeboatArgv: selfArgv(ctx.options.config ?? ctx.env.LIFEBOAT_CONFIG),
    print,
    env: ctx.env,
  });
}

// ---- status ----------------------------------------------------------------------------

export async function status(ctx: CliContext): Promise<void> {
  const catalog = await openCatalog(ctx);
  try {
    const snapshots = (await repositorySnapshots(ctx, catalog)) ?? [];
    const statuses = await sourceStatuses({
      config: ctx.config,
      snapshots,
      catalog,
      now: systemClock.now(),
      running: (await catalog.activeJobs()).filter((j) => j.status === 'running' && ownerAlive(j.owner)),
    });
    if (ctx.options.json) {
      print(JSON.stringify(statuses, null, 2));
      return;
    }
    if (statuses.length === 0) {
      print('no sources in the config');
      return;
    }
    const rows = statuses.map((s) => [
      s.name,
      s.type,
      s.last_backup ? `${shortTime(s.last_backup.time)} (${s.last_backup.snapshot.slice(0, 8)})` : 'never',
      s.last_backup ? formatAge(s.last_backup.age_seconds * 1000) : '-',
      s.rpo ? s.rpo.max_age : '-',
      s.rpo ? (s.rpo.breached ? 'BREACHED' : 'ok') : '-',
      s.schedule_error
        ? 'invalid schedule'
        : s.next_run
          ? shortTime(s.next_run)
          : s.running_job
            ? 'running'
            : '-',
      s.last_failure
        ? `${shortTime(s.last_failure.time)} ${s.last_failure.job.slice(0, 8)}: ${oneLine(s.last_failure.error, 60)}`
        : '-',
    ]);
    table(
      ['Source', 'Type', 'Last good backup (UTC)', 'Age', 'Max age', 'RPO', 'Next run (UTC)', 'Last failure'],
      rows,
    );
  } finally {
    await catalog.close();
  }
}

function oneLine(text: string | null, max: number): string {
  const t = (text ?? '').replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

// ---- jobs ------------------------------------------------------------------------------

interface JobsOptions {
  source?: string;
  status?: string;
  kind?: string;
  since?: string;
  limit?: string;
}

function parseSince(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/^(\d+[smhdw])+$/.test(value)) return new Date(Date.now() - parseDuration(value)).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new LifeboatError(
      'usage',
      `[jobs] --since "${value}" is neither a time (2026-01-01T00:00:00Z) nor a duration (24h, 7d)`,
    );
  }
  return new Date(t).toISOString();
}

export async function jobsList(ctx: CliContext, opts: JobsOptions): Promise<void> {
  if (opts.status && !(JOB_STATUSES as readonly string[]).includes(opts.status)) {
    throw new LifeboatError(
      'usage',
      `[jobs] --status "${opts.status}" is not one of ${JOB_STATUSES.join(', ')}`,
    );
  }
  if (opts.kind && !(JOB_KINDS as readonly string[]).includes(opts.kind)) {
    throw new LifeboatError('usage', `[jobs] --kind "${opts.kind}" is not one of ${JOB_KINDS.join(', ')}`);
  }
  const since = parseSince(opts.since);
  const limit = count(opts.limit, '--limit', 50);
  const catalog = await openCatalog(ctx);
  try {
    await repositorySnapshots(ctx, catalog);
    const list = await catalog.listJobs({
      source: opts.source,
      status: opts.status as JobStatus | undefined,
      kind: opts.kind as JobKind | undefined,
      since,
      limit,
    });
    if (ctx.options.json) {
      print(JSON.stringify(list.map(publicJob), null, 2));
      return;
    }
    table(
      [
        'ID',
        'Kind',
        'Source',
        'Trigger',
        'Status',
        'Started (UTC)',
        'Took',
        'Read',
        'Stored',
        'Snapshot',
        'Error',
      ],
      list.map((j) => [
        j.id.slice(0, 8),
        j.kind,
        j.source ?? '-',
        j.trigger,
        j.status,
        shortTime(j.started_at ?? j.created_at),
        took(j),
        j.bytes_read === null ? '-' : formatBytes(j.bytes_read),
        j.bytes_stored === null ? '-' : formatBytes(j.bytes_stored),
        j.snapshot ? j.snapshot.slice(0, 8) : '-',
        oneLine(j.error, 60) || '-',
      ]),
    );
    print(`${list.length} job${list.length === 1 ? '' : 's'}`);
  } finally {
    await catalog.close();
  }
}

function took(j: JobRecord): string {
  if (!j.started_at || !j.finished_at) return '-';
  const ms = new Date(j.finished_at).getTime() - new Date(j.started_at).getTime();
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : formatAge(ms);
}

export async function jobsRetry(ctx: CliContext, _opts: unknown, ref: string): Promise<void> {
  const catalog = await openCatalog(ctx);
  try {
    const original = await catalog.findJob(ref);
    if (!original) {
      throw new LifeboatError(
        'not_found',
        `[jobs] no job "${ref}" in ${catalog.location} (list them with \`lifeboat jobs\`)`,
      );
    }
    if (original.kind === 'restore' || original.kind === 'drill') {
      throw new LifeboatError(
        'usage',
        `[jobs] ${original.kind} jobs are not retried: request a new one (lifeboat restore, or POST /api/restores)`,
      );
    }
    const actor = cliActor();
    const { url, password } = await resolveRepository(ctx.config, ctx.env);
    const runner = new JobQueue({
      catalog,
      clock: systemClock,
      config: ctx.config,
      log: quietLog,
      concurrency: 1,
      openRepository: async () =>
        Repository.open(await openBackend(url, ctx.storageOptions()), password, ctx.repoOptions()),
    });
    const job = await runner.submit({
      ...orderOf(original),
      source: original.source,
      trigger: 'retry',
      requestedBy: actor,
      retryOf: original.id,
    });
    await catalog.audit.append({
      actor,
      action: 'job.retry',
      target: original.id,
      details: { job: job.id, kind: job.kind, source: job.source, status: job.status },
    });
    const done = job.status === 'skipped' ? job : await runner.wait(job.id);
    await runner.idle();
    if (ctx.options.json) print(JSON.stringify(publicJob(done), null, 2));
    else {
      const what = `${done.kind}${done.source ? ` of ${done.source}` : ''}`;
      const facts = [
        done.snapshot ? `snapshot ${done.snapshot.slice(0, 8)}` : '',
        done.bytes_read !== null ? `${formatBytes(done.bytes_read)} read` : '',
        done.bytes_stored !== null ? `${formatBytes(done.bytes_stored)} stored` : '',
        took(done) !== '-' ? took(done) : '',
      ].filter(Boolean);
      print(
        `job ${done.id.slice(0, 8)} (retry of ${original.id.slice(0, 8)}): ${what} ${done.status}${facts.length ? `: ${facts.join(', ')}` : ''}`,
      );
    }
    if (done.status !== 'succeeded') {
      throw new LifeboatError(
        'source_failed',
        `[jobs] retry ${done.id.slice(0, 8)} ${done.status}: ${done.error ?? 'no reason recorded'}`,
      );
    }
  } finally {
    await catalog.close();
  }
}

/** The runner's log in a one-shot command: the command prints the outcome itself. */
const quietLog = { info() {}, warn() {}, error() {} };

// ---- tokens ----------------------------------------------------------------------------

export async function tokenCreate(
  ctx: CliContext,
  opts: { role: string; labels?: string },
  name: string,
): Promise<void> {
  if (!isRole(opts.role)) {
    throw new LifeboatError('usage', `[token] --role "${opts.role}" is not one of ${ROLES.join(', ')}`);
  }
  const labels = opts.labels !== undefined ? parseLabels(opts.labels) : null;
  const catalog = await openCatalog(ctx);
  try {
    const { token, info } = await catalog.tokens.create(name, opts.role, cliActor(), labels);
    if (ctx.options.json) print(JSON.stringify({ ...info, token }));
    else {
      const scope = info.labels ? ` for labels ${labelsText(info.labels)}` : '';
      process.stderr.write(
        `created token "${info.name}" with role ${info.role}${scope}; it is shown only now, store it safely:\n`,
      );
      print(token);
    }
  } finally {
    await catalog.close();
  }
}

export async function tokenList(ctx: CliContext): Promise<void> {
  const catalog = await openCatalog(ctx);
  try {
    const tokens = await catalog.tokens.list();
    if (ctx.options.json) {
      print(JSON.stringify(tokens, null, 2));
      return;
    }
    table(
      ['Name', 'Role', 'Labels', 'Created (UTC)', 'Created by', 'Last used (UTC)'],
      tokens.map((t) => [
        t.name,
        t.role,
        t.labels ? labelsText(t.labels) : '-',
        shortTime(t.created_at),
        t.created_by,
        shortTime(t.last_used_at),
      ]),
    );
  } finally {
    await catalog.close();
  }
}

export async function tokenRevoke(ctx: CliContext, _opts: unknown, name: string): Promise<void> {
  const catalog = await openCatalog(ctx);
  try {
    await catalog.tokens.revoke(name, cliActor());
    print(`revoked token "${name}"`);
  } finally {
    await catalog.close();
  }
}

// ---- audit -----------------------------------------------------------------------------

export async function auditVerify(ctx: CliContext): Promise<void> {
  const catalog = await openCatalog(ctx);
  try {
    const v = await catalog.audit.verify();
    if (ctx.options.json) print(JSON.stringify(v, null, 2));
    if (!v.ok && v.firstBad) {
      throw new LifeboatError(
        'integrity',
        `[audit] the audit log in ${catalog.location} is broken at entry ${v.firstBad.seq}: ${v.firstBad.reason}; the ${v.entries} entries before it verify`,
      );
    }
    if (!ctx.options.json) {
      const head = v.head ? `; head: entry ${v.head.seq}, ${v.head.hash}` : '';
      print(`audit log verified: ${v.entries} entr${v.entries === 1 ? 'y' : 'ies'}${head}`);
    }
  } finally {
    await catalog.close();
  }
}

export async function auditList(ctx: CliContext, opts: { action?: string; limit?: string }): Promise<void> {
  const catalog = await openCatalog(ctx);
  try {
    const entries = await catalog.audit.list({
      action: opts.action,
      limit: count(opts.limit, '--limit', 50),
    });
    if (ctx.options.json) {
      print(JSON.stringify(entries, null, 2));
      return;
    }
    table(
      ['Seq', 'Time (UTC)', 'Actor', 'Action', 'Target', 'Details'],
      entries.map((e) => [
        String(e.seq),
        shortTime(e.time),
        e.actor,
        e.action,
        e.target ?? '-',
        oneLine(JSON.stringify(e.details), 70),
      ]),
    );
  } finally {
    await catalog.close();
  }
}
