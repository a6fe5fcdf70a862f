/**
 * @module jobs/forget
 * Removes the snapshots a keep policy does not keep, per source. Data goes with `prune`.
 * A source saved as several units keeps N snapshots of each unit, under the source's policy.
 */
import { LifeboatError } from '../errors.js';
import { writeOnlyError } from '../repo/crypto.js';
import type { Repository } from '../repo/repository.js';
import { sourceOfUnit } from '../sources/source-units.js';
import type { KeepPolicy, RetentionDecision } from './retention.js';
import { applyPolicy, groupBySource, isEmptyPolicy } from './retention.js';
import { filterSnapshots } from './snapshot-select.js';

export interface ForgetRequest {
  /** The policy from the command line; when empty, each source's `retention` from the config. */
  policy: KeepPolicy;
  /** Each configured source's `retention`, by source name; its units share it. */
  configPolicies?: Record<string, KeepPolicy | undefined>;
  source?: string;
  dryRun: boolean;
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
}

export async function runForget(repo: Repository, req: ForgetRequest): Promise<ForgetOutcome> {
  if (repo.writeOnly) throw writeOnlyError('forget snapshots');
  const lock = await repo.lock(false, 'forget');
  try {
    // Archived WAL is not made of snapshots: prune drops what no kept base backup needs.
    const entries = filterSnapshots(await repo.listSnapshots(), { source: req.source });
    const outcome: ForgetOutcome = { groups: [], removed: [], retained: [] };
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
      const decisions = applyPolicy(group, policy);
      outcome.groups.push({ source, decisions });
      for (const d of decisions) {
        if (d.keep) continue;
        const until = await retainedUntil(repo, d.entry.id);
        if (until) {
          outcome.retained.push({ id: d.entry.id, until });
          continue;
        }
        if (!req.dryRun) {
          try {
            await repo.removeSnapshot(d.entry.id);
          } catch (err) {
            if ((err as { code?: string }).code !== 'retained') throw err;
            outcome.retained.push({ id: d.entry.id, until: 'a later date' });
            continue;
          }
        }
        outcome.removed.push(d.entry.id);
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

/** When the storage keeps objects under retention: until when this snapshot is locked, if it is. */
async function retainedUntil(repo: Repository, id: string): Promise<string | undefined> {
  const b = repo.backend;
  if (!b.capabilities.retention || !b.retentionUntil) return undefined;
  return (await b.retentionUntil({ type: 'snapshot', name: id }))?.toISOString();
}
