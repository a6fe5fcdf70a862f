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
import { pickSnapshot } from '../../jobs/snapshot-select.js';
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
  if (body.at) {
    const physical = ctx.snapshots
      .entries()
      .some((e) => e.snapshot.source === body.source && e.snapshot.kind === 'physical');
    if (!body.source || body.snapshot !== 'latest' || !physical) {
      throw new ApiError(
        400,
        'invalid_request',
        '[api] body.at: a point-in-time restore needs "snapshot": "latest" and the "source" of a PostgreSQL physical source with a base backup',
        'at',
      );
    }
  }
  let entry: ReturnType<typeof pickSnapshot>;
  try {
    entry = pickSnapshot(
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
  const job = ctx.runner.submit({
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
      ...(body.at ? { at: body.at } : {}),
    },
  });
  ctx.catalog.audit.append({
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
  const pending = ctx.catalog.getJob(id);
  if (pending?.kind === 'app_restore') return approveAppRestore(ctx, who, pending);
  if (pending?.kind !== 'restore') throw new ApiError(404, 'not_found', `[api] no restore ${id}`);
  try {
    const job = ctx.runner.approve(id, who.name);
    ctx.catalog.audit.append({
      actor: who.name,
      action: 'restore.approve',
      target: id,
      details: { requested_by: job.requested_by, snapshot: job.params.snapshot ?? null },
    });
    return job;
  } catch (err) {
    if (isLifeboatError(err) && err.code === 'forbidden') {
      ctx.catalog.audit.append({
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
export function rejectRestore(ctx: ApiContext, who: Requester, id: string, reason?: string): JobRecord {
  const pending = ctx.catalog.getJob(id);
  if (pending?.kind !== 'restore' && pending?.kind !== 'app_restore')
    throw new ApiError(404, 'not_found', `[api] no restore ${id}`);
  if (!mayReject(who, pending)) {
    ctx.catalog.audit.append({
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
  const job = ctx.runner.reject(id, who.name, reason);
  ctx.catalog.audit.append({
    actor: who.name,
    action: who.name === job.requested_by ? 'restore.withdraw' : 'restore.reject',
    target: id,
    details: { requested_by: job.requested_by, reason: reason ?? null },
  });
  return job;
}

/** A restore may name a configured source or one only the repository knows (a fresh machine). */
function configuredSourceOrRecorded(ctx: ApiContext, name: string): void {
  if (sourceConfig(ctx, sourceOfUnit(name))) return;
  if (ctx.snapshots.entries().some((e) => belongsTo(e.snapshot.source, name))) return;
  throw new ApiError(404, 'not_found', `[api] no source "${name}" in the config or the repository`, 'source');
}
