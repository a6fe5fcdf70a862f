/**
 * @module jobs/restore-at
 * What `restore --at TIME` means for a source, decided from what the repository holds: a
 * source with base backups (physical PostgreSQL) is recovered to the point (jobs/pitr,
 * jobs/pitr-extract); any other restores its newest snapshot taken at or before TIME.
 */
import { LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotEntry } from '../repo/snapshot.js';
import { parseTarget } from '../sources/postgres/recovery-target.js';
import { filterSnapshots, findSnapshotAt } from './snapshot-select.js';

export type RestoreAtPlan = { kind: 'recover' } | { kind: 'snapshot'; entry: SnapshotEntry };

export async function planRestoreAt(repo: Repository, source: string, at: string): Promise<RestoreAtPlan> {
  const { snapshots } = await repo.scanSnapshots();
  const mine = filterSnapshots(snapshots, { source }).filter((e) => e.snapshot.kind !== 'drill');
  if (mine.length === 0) {
    throw new LifeboatError(
      'not_found',
      `[restore] source "${source}" has no snapshot or base backup in ${repo.location} (run \`lifeboat backup ${source}\` first)`,
    );
  }
  if (mine.some((e) => e.snapshot.kind === 'physical')) return { kind: 'recover' };
  const target = parseTarget(at);
  if (target.kind !== 'time') {
    throw new LifeboatError(
      'usage',
      `[restore] --at ${at}: source "${source}" has snapshots, not base backups with WAL, so only a time applies (its newest snapshot at or before it is restored)`,
    );
  }
  return { kind: 'snapshot', entry: await findSnapshotAt(repo, source, target.time) };
}

/** A target that extraction loads rows into: postgres://USER@HOST:PORT/DATABASE. */
export function isDatabaseTarget(to: string | undefined): to is string {
  return !!to && /^postgres(ql)?:\/\/[^/]*\/[^/?]+/.test(to);
}
