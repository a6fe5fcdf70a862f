/**
 * @module server/services/restore-requests
 * Restores asked for over the API: a request names a snapshot (or "latest" of a source) and
 * a target; it is checked against the repository, the approval policy decides whether it
 * waits for a second admin (jobs/queue/restore-approval), and the queue records it. Approving
 * and rejecting go through the same policy. Each step is written to the audit log.
 */

import type { z } from 'zod';
import type { JobRecord } from '../../catalog/catalog.js';
import { isLifeboatError } from '../../errors.js';
import { restoreScopeParams } from '../../jobs/queue/job-kinds.js';
import { redactText } from '../../jobs/queue/redact.js';
import { mayReject, type Requester, restoreApproval } from '../../jobs/queue/restore-approval.js';
import { isDatabaseTarget } from '../../jobs/restore-at.js';
import { pickSnapshot, pickSnapshotAt } from '../../jobs/snapshot-select.js';
import type { SnapshotEntry } from '../../repo/snapshot.js';
import { parseTarget } from '../../sources/postgres/recovery-target.js';
import { belongsTo, sourceOfUnit } from '../../sources/source-units.js';
import { type ApiContext, sourceConfig } from '../api-context.js';
import { ApiError } from '../api-error.js';
import type { restoreRequest } from '../api-schemas.js';
import { approveAppRestore } from './app-requests.js';

type RestoreRequest = z.output<typeof restoreRequest>;

/** Records a requested restore: queued, awaiting approval, or skipped (its source is busy). */
export async function requestRestore(
  ctx: ApiContext,
  who: Requester,
  body: RestoreRequest,
): Promise<JobRecord> {
  if (body.source) configuredSourceOrRecorded(ctx, body.source);
  const at = body.at ? pointInTime(ctx, body) : undefined;
  let entry: ReturnType<typeof pickSnapshot>;
  try {
    entry =
      at?.kind === 'snapshot'
        ? at.entry
        : pickSnapshot(
            ctx.snapshots.entries(),
            body.snapshot,
            body.source,
            ctx.repositoryLocation,
            ctx.snapshots.problems(),
          );
  } catch (err) {
    if (isLifeboatError(err) && err.code === 'usage')
      throw new ApiError(400, 'invalid_request', err.message, 'snapshot');
    throw err;
  }
  const approval = await restoreApproval(ctx.config.sources, {
    snapshotSource: entry.snapshot.source,
    to: body.to,
    dryRun: !!body.dry_run,
  });
  const job = await ctx.runner.submit({
    kind: 'restore',
    source: sourceOfUnit(entry.snapshot.source),
    trigger: 'api',
    requestedBy: who.name,
    needsApproval: approval.needsApproval,
    params: {
      snapshot: entry.id,
      source: entry.snapshot.source,
      to: body.to,
      ...restoreScopeParams(body),
      overwrite: body.overwrite ?? false,
      dry_run: body.dry_run ?? false,
      ...(at?.kind === 'recover' ? { at: body.at } : {}),
    },
  });
  await ctx.catalog.audit.append({
    actor: who.name,
    action: 'restore.request',
    target: job.id,
    details: {
      snapshot: entry.id,
      source: entry.snapshot.source,
      to: redactText(body.to),
      protected: approval.reason !== undefined,
      ...(approval.reason ? { approval_reason: approval.reason } : {}),
      status: job.status,
      dry_run: body.dry_run ?? false,
      at: body.at ?? null,
    },
  });
  return job;
}

/** A second admin lets a restore (or an app restore) awaiting approval run. */
export async function approveRestore(ctx: ApiContext, who: Requester, id: string): Promise<JobRecord> {
  const pending = await ctx.catalog.getJob(id);
  if (pending?.kind === 'app_restore') return approveAppRestore(ctx, who, pending);
  if (pending?.kind !== 'restore') throw new ApiError(404, 'not_found', `[api] no restore ${id}`);
  try {
    const job = await ctx.runner.approve(id, who.name);
    await ctx.catalog.audit.append({
      actor: who.name,
      action: 'restore.approve',
      target: id,
      details: { requested_by: job.requested_by, snapshot: job.params.snapshot ?? null },
    });
    return job;
  } catch (err) {
    if (isLifeboatError(err) && err.code === 'forbidden') {
      await ctx.catalog.audit.append({
        actor: who.name,
        action: 'restore.approve_denied',
        target: id,
        details: { reason: err.message },
      });
    }
    throw err;
  }
}

/** Ends a restore awaiting approval: an admin rejects it, or its requester withdraws it. */
export async function rejectRestore(
  ctx: ApiContext,
  who: Requester,
  id: string,
  reason?: string,
): Promise<JobRecord> {
  const pending = await ctx.catalog.getJob(id);
  if (pending?.kind !== 'restore' && pending?.kind !== 'app_restore')
    throw new ApiError(404, 'not_found', `[api] no restore ${id}`);
  if (!mayReject(who, pending)) {
    await ctx.catalog.audit.append({
      actor: who.name,
      action: 'restore.reject_denied',
      target: id,
      details: { requested_by: pending.requested_by },
    });
    throw new ApiError(
      403,
      'forbidden',
      `[api] ${who.name} may not reject restore ${id}: an admin or its requester (${pending.requested_by}) may`,
    );
  }
  const job = await ctx.runner.reject(id, who.name, reason);
  await ctx.catalog.audit.append({
    actor: who.name,
    action: who.name === job.requested_by ? 'restore.withdraw' : 'restore.reject',
    target: id,
    details: { requested_by: job.requested_by, reason: reason ?? null },
  });
  return job;
}

/**
 * What `at` means for the request, as for `restore --at`: a physical source is recovered to
 * the point (its whole data directory into a folder, or with tables, their rows at that time
 * into a live database); any other source restores its newest snapshot at or before a time.
 */
function pointInTime(
  ctx: ApiContext,
  body: RestoreRequest,
): { kind: 'recover' } | { kind: 'snapshot'; entry: SnapshotEntry } {
  const bad = (message: string, field = 'at') =>
    new ApiError(400, 'invalid_request', `[api] body.${field}: ${message}`, field);
  if (!body.source || body.snapshot !== 'latest') {
    throw bad(
      'a point-in-time restore needs "snapshot": "latest" and a "source" (the time chooses what is restored)',
    );
  }
  const mine = ctx.snapshots
    .entries()
    .filter((e) => belongsTo(e.snapshot.source, body.source as string) && e.snapshot.kind !== 'drill');
  if (!mine.some((e) => e.snapshot.kind === 'physical')) {
    const target = parseTarget(body.at as string);
    if (target.kind !== 'time') {
      throw bad(
        `source "${body.source}" has snapshots, not a PostgreSQL base backup with WAL, so only a time applies (its newest snapshot at or before it is restored)`,
      );
    }
    try {
      const entry = pickSnapshotAt(
        ctx.snapshots.entries(),
        body.source,
        target.time,
        ctx.repositoryLocation,
        ctx.snapshots.problems(),
      );
      return { kind: 'snapshot', entry };
    } catch (err) {
      if (isLifeboatError(err) && err.code === 'not_found')
        throw bad(err.message.replace(/^\[restore\] /, ''));
      throw err;
    }
  }
  if ((body.tables ?? []).length > 0) {
    // The rows the tables held then, loaded into existing tables (jobs/pitr-extract).
    if (!body.data_only) {
      throw bad(
        'with "at", "tables" loads the rows the tables held then into existing tables: add "data_only": true',
        'data_only',
      );
    }
    if (!isDatabaseTarget(body.to)) {
      throw bad(
        'with "at" and "tables", "to" must be postgres://USER@HOST:PORT/DATABASE, the database whose tables receive the rows',
        'to',
      );
    }
    if (body.dry_run)
      throw bad('"dry_run" does not apply to "at" with "tables" (it recovers a whole cluster)', 'dry_run');
    return { kind: 'recover' };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(body.to)) {
    throw bad(
      'a point-in-time restore of a whole PostgreSQL cluster writes a data directory: give a folder (or "tables" with "data_only" to load rows into a live database)',
      'to',
    );
  }
  return { kind: 'recover' };
}

/** A restore may name a configured source or one only the repository knows (a fresh machine). */
function configuredSourceOrRecorded(ctx: ApiContext, name: string): void {
  if (sourceConfig(ctx, sourceOfUnit(name))) return;
  if (ctx.snapshots.entries().some((e) => belongsTo(e.snapshot.source, name))) return;
  throw new ApiError(404, 'not_found', `[api] no source "${name}" in the config or the repository`, 'source');
}
