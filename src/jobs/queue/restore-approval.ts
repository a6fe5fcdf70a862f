/**
 * @module jobs/queue/restore-approval
 * The approval policy for restores, in one place for the API and the queue: a restore that
 * writes onto a protected source, or to a target that reaches one, waits for a second admin;
 * a dry run writes nothing and needs none; the requester never approves their own; an admin
 * or the requester (withdrawing it) may reject it; an unapproved restore is checked again
 * just before it runs; the files of a protected source download to admins only.
 */
import type { JobRecord } from '../../catalog/catalog.js';
import type { Role } from '../../catalog/tokens.js';
import type { ConfiguredSource } from '../../config/config-schema.js';
import { LifeboatError } from '../../errors.js';
import type { RestoreParams } from './job-kinds.js';
import { restoreApprovalReason } from './target-match.js';

/** Who asks: a token's name and role. */
export interface Requester {
  name: string;
  role: Role;
}

export interface ApprovalDecision {
  /** Why a second admin must approve (the source is protected, the target reaches one). */
  reason?: string;
  /** Whether the restore waits for approval: a reason, and not a dry run. */
  needsApproval: boolean;
}

/** What a requested restore of a snapshot of `snapshotSource` to `to` needs. */
export async function restoreApproval(
  sources: Record<string, ConfiguredSource>,
  request: { snapshotSource: string; to: string; dryRun: boolean },
): Promise<ApprovalDecision> {
  const reason = await restoreApprovalReason(sources, request.snapshotSource, request.to);
  // A dry run writes nothing, so it needs no second admin: the wizard runs one before asking.
  return {
    ...(reason !== undefined ? { reason } : {}),
    needsApproval: reason !== undefined && !request.dryRun,
  };
}

/** Throws `forbidden` when `approver` may not approve `job` (they requested it). */
export function checkApprover(job: JobRecord, approver: string): void {
  if (job.requested_by === approver) {
    throw new LifeboatError(
      'forbidden',
      `[jobs] ${approver} requested restore ${job.id} and cannot approve it: a second admin must`,
    );
  }
}

/** Whether `who` may reject (or, as its requester, withdraw) a restore awaiting approval. */
export function mayReject(who: Requester, job: JobRecord): boolean {
  return who.role === 'admin' || who.name === job.requested_by;
}

/** Whether `role` may download files of a snapshot (a download is a restore to the caller's machine). */
export function mayDownload(role: Role, protectedSource: boolean): boolean {
  return !protectedSource || role === 'admin';
}

/**
 * Why an unapproved restore may not run now, or undefined. The target was checked when the
 * restore was requested; a symlink made since must not carry it onto a protected source.
 */
export async function unapprovedRunReason(
  sources: Record<string, ConfiguredSource>,
  job: JobRecord,
  params: RestoreParams,
): Promise<string | undefined> {
  if (job.approved_by || params.dry_run || typeof params.to !== 'string') return undefined;
  return restoreApprovalReason(sources, params.source ?? job.source ?? '', params.to);
}
