/**
 * @module jobs/check
 * Verification. Structure: every index, snapshot and tree readable, every referenced blob
 * indexed, every indexed pack present. With read-data (all packs or a subset): every pack
 * hashed against its name and every blob in it decrypted and checked against its id.
 * Archived WAL: no gaps in any chain; with read-data, every file decrypted and hashed.
 */
import { randomInt } from 'node:crypto';
import { describe } from '../errors.js';
import type { Progress } from '../progress.js';
import { silentProgress } from '../progress.js';
import { RepoContentStore } from '../repo/content-store.js';
import { storageId, writeOnlyError } from '../repo/crypto.js';
import { listLocks } from '../repo/lock.js';
import { headerLength, parsePackHeader } from '../repo/pack.js';
import type { Repository } from '../repo/repository.js';
import { verifyWalObject } from '../repo/wal-archive.js';
import { recoveryWindow } from '../sources/postgres/postgres-physical-wal.js';
import type { TreeNode } from '../sources/source.js';
import { walBySource } from './wal-chain.js';

export interface CheckRequest {
  /** Percentage of packs to read in full (100 = --read-data, 0 = structure only). */
  readDataPercent: number;
  progress?: Progress;
}

export interface CheckReport {
  ok: boolean;
  errors: string[];
  warnings: string[];
  snapshots: number;
  packs: number;
  packsRead: number;
  blobsRead: number;
  bytesRead: number;
  /** Archived WAL files (PostgreSQL PITR), and how many were read in full. */
  walFiles: number;
  walRead: number;
}

export async function runCheck(repo: Repository, req: CheckRequest): Promise<CheckReport> {
  const report: CheckReport = {
    ok: true,
    errors: [],
    warnings: [],
    snapshots: 0,
    packs: 0,
    packsRead: 0,
    blobsRead: 0,
    bytesRead: 0,
    walFiles: 0,
    walRead: 0,
  };
  if (repo.writeOnly) throw writeOnlyError('check the repository');
  const lock = await repo.lock(false, 'check');
  try {
    await checkFileNames(repo, report);
    for (const lock of await listLocks(repo.backend, repo.key)) {
      if (lock.damaged)
        report.errors.push(
          `lock ${lock.name} is damaged (if no lifeboat command is running, \`lifeboat unlock\` removes it)`,
        );
    }
    // Index files, each on its own so one damaged file is named and the rest still load.
    for await (const f of repo.backend.list('index')) {
      try {
        for (const p of await repo.loadIndexFile(f.name)) repo.index.addPack(p.pack, p.entries);
      } catch (err) {
        report.errors.push(`index ${f.name}: ${describe(err)}`);
      }
    }
    const stored = new Map<string, number>();
    for await (const f of repo.backend.list('pack')) stored.set(f.name, f.size);
    report.packs = stored.size;
    for (const pack of repo.index.packs) {
      if (!stored.has(pack))
        report.errors.push(`pack ${pack} is named by the index but missing from storage`);
    }
    for (const pack of stored.keys()) {
      if (!repo.index.hasPack(pack)) {
        report.warnings.push(
          `pack ${pack} is not in any index (left by an interrupted backup; \`lifeboat prune\` removes it)`,
        );
      }
    }
    await checkSnapshots(repo, report);
    if (req.readDataPercent > 0)
      await readPacks(repo, report, stored, req.readDataPercent, req.progress ?? silentProgress);
    await checkWal(repo, report, req.readDataPercent);
  } finally {
    await lock.release().catch(() => {});
  }
  report.ok = report.errors.length === 0;
  return report;
}

/** Key files must hash to their names (snapshots and indexes are checked as they load). */
async function checkFileNames(repo: Repository, report: CheckReport): Promise<void> {
  for await (const f of repo.backend.list('key')) {
    const data = await repo.backend.load({ type: 'key', name: f.name });
    if (storageId(data) !== f.name) {
      report.errors.push(`key file ${f.name} is damaged: content does not match its name`);
    }
  }
}

/**
 * Archived WAL: each physical source's chain from its oldest base backup on has no gap (a
 * gap ends every recovery there), and with read-data every file decrypts to its SHA-256.
 */
async function checkWal(repo: Repository, report: CheckReport, readPercent: number): Promise<void> {
  let wal: Awaited<ReturnType<typeof walBySource>>;
  try {
    wal = await walBySource(repo, await repo.listSnapshots());
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
      window = await recoveryWindow(repo, await repo.listSnapshots(), s.source);
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
  for (const f of files) {
    if (readPercent < 100 && randomInt(100) >= readPercent) continue;
    try {
      const data = await repo.backend.load({ type: 'wal', name: f.object });
      verifyWalObject(repo.key, f.object, data);
      report.walRead++;
      report.bytesRead += data.length;
    } catch (err) {
      report.errors.push(`wal ${f.object}: ${describe(err)}`);
    }
  }
}

async function checkSnapshots(repo: Repository, report: CheckReport): Promise<void> {
  const store = new RepoContentStore(repo);
  const seenTrees = new Set<string>();
  const names: string[] = [];
  for await (const f of repo.backend.list('snapshot')) names.push(f.name);
  for (const id of names) {
    report.snapshots++;
    try {
      const snap = await repo.loadSnapshot(id);
      await walkTree(store, repo, snap.root, `snapshot ${id.slice(0, 8)}`, seenTrees, report);
    } catch (err) {
      report.errors.push(`snapshot ${id}: ${describe(err)}`);
    }
  }
}

async function walkTree(
  store: RepoContentStore,
  repo: Repository,
  treeId: string,
  where: string,
  seen: Set<string>,
  report: CheckReport,
): Promise<void> {
  if (seen.has(treeId)) return;
  seen.add(treeId);
  let nodes: TreeNode[];
  try {
    nodes = (await store.loadTree(treeId)).nodes;
  } catch (err) {
    report.errors.push(`${where}: tree ${treeId.slice(0, 8)}: ${describe(err)}`);
    return;
  }
  for (const node of nodes) {
    for (const c of node.content ?? []) {
      if (!repo.index.has(Buffer.from(c, 'hex'))) {
        report.errors.push(`${where}: ${node.name}: data blob ${c.slice(0, 8)} is missing from the index`);
      }
    }
    if (node.subtree) await walkTree(store, repo, node.subtree, `${where}/${node.name}`, seen, report);
  }
}

async function readPacks(
  repo: Repository,
  report: CheckReport,
  stored: Map<string, number>,
  percent: number,
  progress: Progress,
): Promise<void> {
  let packs = [...stored.keys()].filter((p) => repo.index.hasPack(p) || percent >= 100);
  if (percent < 100) {
    const want = Math.max(1, Math.ceil((packs.length * percent) / 100));
    for (let i = packs.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [packs[i], packs[j]] = [packs[j], packs[i]];
    }
    packs = packs.slice(0, want);
  }
  const indexed = new Map<string, { id: Buffer; offset: number; length: number }[]>();
  for (const e of repo.index.entries()) {
    const list = indexed.get(e.pack) ?? [];
    list.push(e);
    indexed.set(e.pack, list);
  }
  progress.start(
    'check --read-data',
    packs.reduce((n, p) => n + (stored.get(p) ?? 0), 0),
  );
  for (const name of packs) {
    const data = await repo.backend.load({ type: 'pack', name });
    report.packsRead++;
    report.bytesRead += data.length;
    progress.advance(data.length);
    if (storageId(data) !== name) {
      report.errors.push(`pack ${name} is damaged: content does not match its name`);
    }
    try {
      const n = headerLength(data, data.length, name);
      const entries = parsePackHeader(
        repo.key,
        data.subarray(data.length - 4 - n, data.length - 4),
        data.length,
        name,
      );
      for (const e of entries) {
        try {
          repo.openEntry({ ...e, pack: name }, data.subarray(e.offset, e.offset + e.length));
          report.blobsRead++;
        } catch (err) {
          report.errors.push(describe(err));
        }
      }
      const byId = new Map(entries.map((x) => [x.id.toString('hex'), x]));
      for (const e of indexed.get(name) ?? []) {
        const h = byId.get(e.id.toString('hex'));
        if (!h || h.offset !== e.offset || h.length !== e.length) {
          report.errors.push(
            `pack ${name}: index entry for blob ${e.id.toString('hex').slice(0, 8)} does not match the pack header`,
          );
        }
      }
    } catch (err) {
      report.errors.push(`pack ${name}: ${describe(err)}`);
    }
  }
  progress.done();
}
