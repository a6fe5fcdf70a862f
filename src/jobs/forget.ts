/**
 * @module jobs/forget
 * Removes the snapshots a keep policy does not keep, per source. Data goes with `prune`.
 */
import { LifeboatError } from '../errors.js';
import { writeOnlyError } from '../repo/crypto.js';
import type { Repository } from '../repo/repository.js';
import type { KeepPolicy, RetentionDecision } from './retention.js';
import { applyPolicy, groupBySource, isEmptyPolicy } from './retention.js';
import { filterSnapshots } from './snapshot-select.js';

export interface ForgetRequest {
  /** The policy from the command line; when empty, each source's `retention` from the config. */
  policy: KeepPolicy;
  configPolicies?: Record<string, KeepPolicy | undefined>;
  source?: string;
  dryRun: boolean;
}

export interface ForgetGroup {
  source: string;
  decisions: RetentionDecision[];
}

export interface ForgetOutcome {
  groups: ForgetGroup[];
  removed: string[];
}

export async function runForget(repo: Repository, req: ForgetRequest): Promise<ForgetOutcome> {
  if (repo.writeOnly) throw writeOnlyError('forget snapshots');
  const lock = await repo.lock(false, 'forget');
  try {
    const entries = filterSnapshots(await repo.listSnapshots(), { source: req.source });
    const outcome: ForgetOutcome = { groups: [], removed: [] };
    for (const [source, group] of groupBySource(entries)) {
      const policy = isEmptyPolicy(req.policy) ? req.configPolicies?.[source] : req.policy;
      if (!policy || isEmptyPolicy(policy)) {
        if (!isEmptyPolicy(req.policy) || req.source) {
          throw new LifeboatError(
            'usage',
            `[forget] no keep policy for source "${source}": pass --keep-* options or set its retention in the config`,
          );
        }
        continue; // sources without a policy are left alone
      }
      const decisions = applyPolicy(group, policy);
      outcome.groups.push({ source, decisions });
      for (const d of decisions) {
        if (d.keep) continue;
        if (!req.dryRun) await repo.removeSnapshot(d.entry.id);
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
