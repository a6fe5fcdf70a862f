/**
 * @module jobs/forget
 * Removes the snapshots a keep policy does not keep, per source. Data goes with `prune`.
 * A source saved as several units keeps N snapshots of each unit, under the source's policy.
 * Snapshots claiming a time from the future are kept and counted by no rule (retention.ts).
 */
import { LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotProblem, SnapshotScan } from '../repo/snapshot.js';
import { sourceOfUnit } from '../sources/source-units.js';
import type { KeepPolicy, RetentionDecision } from './retention.js';
import { applyPolicy, groupBySource, isEmptyPolicy } from './retention.js';
import { filterSnapshots, pickSnapshot } from './snapshot-select.js';

export interface ForgetRequest {
  /** The policy from the command line; when empty, each source's `retention` from the config. */
  policy: KeepPolicy;
  /** Each configured source's `retention`, by source name; its units share it. */
  configPolicies?: Record<string, KeepPolicy | undefined>;
  source?: string;
  dryRun: boolean;
  /**
   * Snapshots to remove by id (or unique prefix of 8+ characters), instead of a policy:
   * also those whose files are damaged, which no policy can judge.
   */
  ids?: string[];
  /** Apply the policy to restore drills' reports too (`--all`; or name a drill source). */
  includeDrills?: boolean;
}

export interface ForgetGroup {
  source: string;
  decisions: RetentionDecision[];
}

/** A snapshot the policy would remove, still under the storage's retention lock. */
export interface RetainedSnapshot {
  id: string;
  until: string;
}

export interface ForgetOutcome {
  groups: ForgetGroup[];
  removed: string[];
  /** Snapshots kept because the storage refuses to delete them yet (S3 Object Lock). */
  retained: RetainedSnapshot[];
  /** Snapshot files that did not read: a policy leaves them alone (forget them by id). */
  skipped: SnapshotProblem[];
}

export async function runForget(repo: Repository, req: ForgetRequest): Promise<ForgetOutcome> {
  repo.requireFullKey('forget snapshots');
  const lock = await repo.lock(false, 'forget');
  try {
    const scan = await repo.scanSnapshots();
    if (req.ids && req.ids.length > 0) return await forgetIds(repo, scan, req.ids, req.dryRun);
    // Archived WAL is not made of snapshots: prune drops what no kept base backup needs.
    // A snapshot file that does not read has no source or time to judge it by: it is skipped
    // (and named), never counted among what a policy keeps.
    const entries = filterSnapshots(scan.snapshots, { source: req.source, hideDrills: !req.includeDrills });
    const outcome: ForgetOutcome = { groups: [], removed: [], retained: [], skipped: scan.problems };
    for (const [source, group] of groupBySource(entries)) {
      const configured = sourceOfUnit(source);
      const policy = isEmptyPolicy(req.policy) ? req.configPolicies?.[configured] : req.policy;
      if (!policy || isEmptyPolicy(policy)) {
        if (!isEmptyPolicy(req.policy) || req.source) {
          throw new LifeboatError(
            'usage',
            `[forget] no keep policy for source "${configured}": pass --keep-* options or set its retention in the config`,
          );
        }
        continue; // sources without a policy are left alone
      }
      const decisions = applyPolicy(group, policy, repo.clock.now());
      outcome.groups.push({ source, decisions });
      for (const d of decisions) {
        if (d.keep) continue;
        const until = await retainedUntil(repo, d.entry.id);
        if (until) {
          outcome.retained.push({ id: d.entry.id, until });
          continue;
        }
        await removeOne(repo, d.entry.id, req.dryRun, outcome);
      }
    }
    if (outcome.groups.length === 0 && isEmptyPolicy(req.policy)) {
      throw new LifeboatError(
        'usage',
        '[forget] no keep policy given: pass --keep-last N (or another --keep-* option), or set retention for the sources in the config',
      );
    }
    return outcome;
  } finally {
    await lock.release().catch(() => {});
  }
}

/** Removes `id` (unless a dry run), or records it as retained when the storage refuses. */
async function removeOne(
  repo: Repository,
  id: string,
  dryRun: boolean,
  outcome: ForgetOutcome,
): Promise<void> {
  if (!dryRun) {
    try {
      await repo.removeSnapshot(id);
    } catch (err) {
      if ((err as { code?: string }).code !== 'retained') throw err;
      outcome.retained.push({ id, until: 'a later date' });
      return;
    }
  }
  outcome.removed.push(id);
}

/** `forget ID...`: each id names one snapshot file, readable or not. */
async function forgetIds(
  repo: Repository,
  scan: SnapshotScan,
  ids: string[],
  dryRun: boolean,
): Promise<ForgetOutcome> {
  const outcome: ForgetOutcome = { groups: [], removed: [], retained: [], skipped: [] };
  const targets = new Set<string>();
  for (const ref of ids) {
    if (ref === 'latest') {
      throw new LifeboatError('usage', '[forget] name snapshots by id to forget them, not "latest"');
    }
    const bad = scan.problems.filter((p) => /^[0-9a-f]{8,64}$/.test(ref) && p.id.startsWith(ref));
    const good = bad.length > 0 ? [] : [pickSnapshot(scan.snapshots, ref, undefined, repo.location)];
    if (bad.length > 1) {
      throw new LifeboatError(
        'usage',
        `[forget] prefix ${ref} matches ${bad.length} snapshots; give more characters`,
      );
    }
    targets.add(bad[0]?.id ?? good[0].id);
  }
  for (const id of targets) {
    const until = await retainedUntil(repo, id);
    if (until) outcome.retained.push({ id, until });
    else await removeOne(repo, id, dryRun, outcome);
  }
  return outcome;
}

/** When the storage keeps objects under retention: until when this snapshot is locked, if it is. */
async function retainedUntil(repo: Repository, id: string): Promise<string | undefined> {
  return (await repo.snapshotRetainedUntil(id))?.toISOString();
}
