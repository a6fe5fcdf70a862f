/**
 * @module jobs/check
 * `lifeboat check`: the repository's own verification (repo/maintenance/check.ts) with what
 * needs the sources' knowledge: names in trees that a files restore refuses, and archived
 * WAL chains without gaps (with read-data, every WAL file decrypted and hashed).
 */
import { describe } from '../errors.js';
import {
  type CheckReport,
  type CheckRequest,
  checkRepository,
  readWalObjects,
} from '../repo/maintenance/check.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotEntry } from '../repo/snapshot.js';
import type { TreeNode } from '../repo/tree.js';
import { checkedNameBytes } from '../sources/files/files-meta.js';
import { recoveryWindow } from './pitr.js';
import { walBySource } from './wal-chain.js';

export type { CheckReport, CheckRequest, Damage } from '../repo/maintenance/check.js';

export function runCheck(repo: Repository, req: CheckRequest): Promise<CheckReport> {
  return checkRepository(repo, req, {
    treeProblems: hostileNames,
    more: (report) => checkWal(repo, report, req.readDataPercent),
  });
}

/**
 * Names in a tree that restore refuses (empty, `.`, `..`, with `/` or NUL) or that appear
 * twice: a writer's bug, or a hostile tree from a write-only host aiming outside the target.
 */
function hostileNames(nodes: readonly TreeNode[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const node of nodes) {
    let name: Buffer;
    try {
      name = checkedNameBytes(node);
    } catch {
      out.push(
        `invalid name ${JSON.stringify(node.name)} (restore refuses this folder; \`lifeboat forget\` the snapshot)`,
      );
      continue;
    }
    const key = name.toString('latin1');
    if (seen.has(key))
      out.push(`the name ${JSON.stringify(node.name)} is listed twice (restore refuses this folder)`);
    seen.add(key);
  }
  return out;
}

/**
 * Archived WAL: each physical source's chain from its oldest base backup on has no gap (a
 * gap ends every recovery there), and with read-data every file decrypts to its SHA-256.
 */
async function checkWal(repo: Repository, report: CheckReport, readPercent: number): Promise<void> {
  let wal: Awaited<ReturnType<typeof walBySource>>;
  // Snapshot files that do not read are reported once, by checkSnapshots.
  let snapshots: SnapshotEntry[];
  try {
    snapshots = (await repo.scanSnapshots()).snapshots;
    wal = await walBySource(repo, snapshots);
  } catch (err) {
    report.errors.push(`archived WAL: ${describe(err)}`);
    return;
  }
  const files = [...wal.sources.flatMap((s) => s.files), ...wal.orphans];
  report.walFiles = files.length;
  for (const s of wal.sources) {
    if (s.files.length === 0) continue;
    let window: Awaited<ReturnType<typeof recoveryWindow>>;
    try {
      window = await recoveryWindow(repo, snapshots, s.source);
    } catch (err) {
      report.errors.push(`archived WAL of "${s.source}": ${describe(err)}`);
      continue;
    }
    for (const g of window.gaps) {
      report.errors.push(
        `archived WAL of "${s.source}" has a gap: ${g.count === 1 ? `segment ${g.first} is` : `${g.count} segments from ${g.first} are`} missing, so recovery cannot go past it (recoverable up to ${window.to ?? 'the base backup only'}; take a new base backup: \`lifeboat backup ${s.source}\`)`,
      );
    }
  }
  if (wal.orphans.length > 0) {
    report.warnings.push(
      `${wal.orphans.length} archived WAL files belong to no source with a base backup (kept; they are useless for recovery until one exists)`,
    );
  }
  await readWalObjects(
    repo,
    report,
    files.map((f) => f.object),
    readPercent,
  );
}
