/**
 * @module repo/maintenance/check
 * Verification. Structure: every index, snapshot and tree readable, every referenced blob
 * indexed, every indexed pack present. With read-data (all packs or a subset): every pack
 * hashed against its name and every blob in it decrypted and checked against its id.
 * What needs a source's knowledge (names in trees a restore refuses, archived WAL chains) is
 * passed in by the caller (jobs/check.ts).
 */
import { randomInt } from 'node:crypto';
import { describe } from '../../errors.js';
import type { Progress } from '../../progress.js';
import { silentProgress } from '../../progress.js';
import { storageId, writeOnlyError } from '../crypto.js';
import { listLocks } from '../lock.js';
import { verifyObject } from '../object-archive.js';
import type { PackEntry } from '../pack.js';
import { partsOf } from '../repo-parts.js';
import type { Repository } from '../repository.js';
import type { SnapshotEntry } from '../snapshot.js';
import type { TreeNode } from '../tree.js';
import { type Affected, mapAffected, readableSnapshots, withoutCheckHint } from './damage-map.js';
import { verifyPack } from './pack-verify.js';

export interface CheckRequest {
  /** Percentage of packs to read in full (100 = --read-data, 0 = structure only). */
  readDataPercent: number;
  progress?: Progress;
}

/** What the caller checks beside the repository's own structure. */
export interface CheckHooks {
  /** Problems with the entries of one tree (each becomes an error naming the folder). */
  treeProblems?: (nodes: readonly TreeNode[]) => string[];
  /** More checks under the same lock, after the snapshots were mapped (archived WAL). */
  more?: (report: CheckReport) => Promise<void>;
}

/** One damaged (or missing) object and what it costs. */
export interface Damage {
  kind: 'pack' | 'index' | 'snapshot' | 'blob';
  /** Its storage name; for 'blob', the first blob id; for packs in no index, ''. */
  name: string;
  problem: string;
  /** Blobs that are gone with it (no longer open anywhere). */
  blobsLost: number;
  /** Snapshots that use what is gone, with the paths in them. */
  affects: Affected[];
}

export interface CheckReport {
  ok: boolean;
  errors: string[];
  warnings: string[];
  /** Each damaged object with the snapshots and paths it affects. */
  damage: Damage[];
  /** The steps that repair what was found, in order (commands, then the backups to take). */
  repair: string[];
  snapshots: number;
  packs: number;
  packsRead: number;
  blobsRead: number;
  bytesRead: number;
  /** Archived WAL files (PostgreSQL PITR), and how many were read in full. */
  walFiles: number;
  walRead: number;
}

export async function checkRepository(
  repo: Repository,
  req: CheckRequest,
  hooks: CheckHooks = {},
): Promise<CheckReport> {
  const parts = partsOf(repo);
  const report: CheckReport = {
    ok: true,
    errors: [],
    warnings: [],
    damage: [],
    repair: [],
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
    for (const lock of await listLocks(parts.backend, parts.key)) {
      if (lock.damaged)
        report.errors.push(
          `lock ${lock.name} is damaged (if no lifeboat command is running, \`lifeboat unlock\` removes it)`,
        );
    }
    const damage = new DamageBook(report);
    // Index files, each on its own so one damaged file is named and the rest still load.
    for await (const f of parts.backend.list('index')) {
      try {
        for (const p of await parts.reader.loadIndexFile(f.name)) {
          if (p.markedAt === undefined) parts.index.addPack(p.pack, p.entries);
          else parts.index.addMarked(p.pack, p.entries, p.markedAt);
        }
      } catch (err) {
        const problem = withoutCheckHint(err);
        report.errors.push(`index ${f.name}: ${problem}`);
        damage.indexFile(f.name, problem);
      }
    }
    const stored = new Map<string, number>();
    for await (const f of parts.backend.list('pack')) stored.set(f.name, f.size);
    report.packs = stored.size;
    for (const pack of parts.index.packs) {
      if (!stored.has(pack)) {
        report.errors.push(`pack ${pack} is named by the index but missing from storage`);
        damage.packLost(pack, 'is named by the index but missing from storage', parts.index.entries());
      }
    }
    // Packs no index names: a killed backup's leftovers, or the packs of a lost index file.
    const unindexed = new Map<string, string>();
    const orphans = [...stored.keys()].filter((p) => !parts.index.hasPack(p) && !parts.index.isMarked(p));
    for (const pack of orphans) {
      try {
        const entries = await parts.reader.readPackHeader(pack, stored.get(pack));
        for (const e of entries) if (!parts.index.has(e.id)) unindexed.set(hex(e.id), pack);
        // Indexed for this check only, so the walk reads the trees they hold (as restores do).
        parts.index.addPack(pack, entries);
      } catch {
        // Unreadable and unindexed: nothing can use it; read-data names it.
      }
    }
    await checkCopies(repo, report);
    for await (const f of parts.backend.listUnfinished?.() ?? []) {
      report.warnings.push(
        `${f.name} (${f.size} bytes) is an unfinished write left by an interrupted save (\`lifeboat prune\` removes it)`,
      );
    }
    if (req.readDataPercent > 0)
      await readPacks(repo, report, damage, stored, req.readDataPercent, req.progress ?? silentProgress);
    const snapshots = await readableSnapshots(repo, (id, err) => {
      const problem = withoutCheckHint(err);
      report.errors.push(`snapshot ${id}: ${problem}`);
      damage.snapshotFile(id, problem);
      report.snapshots++;
    });
    report.snapshots += snapshots.length;
    await damage.map(repo, snapshots, unindexed, hooks.treeProblems);
    const needed = new Set(damage.packsInNoIndex);
    for (const pack of orphans) {
      if (!needed.has(pack))
        report.warnings.push(
          `pack ${pack} is not in any index (left by an interrupted backup; \`lifeboat prune\` removes it)`,
        );
    }
    report.repair = damage.repairCommands();
    await hooks.more?.(report);
  } finally {
    // It holds packs no index file names: a later job must not take it for the stored index.
    parts.resetIndex();
    await lock.release().catch(() => {});
  }
  report.ok = report.errors.length === 0;
  return report;
}

function hex(id: Buffer): string {
  return id.toString('hex');
}

/**
 * The damage found, by object. Blobs are classified as lost (their pack is missing or they do
 * not open), in no index but in a stored pack (an index file is missing or damaged), or gone
 * without a trace; then one walk of the snapshots maps them to paths.
 */
class DamageBook {
  private readonly packs = new Map<string, Damage>();
  private readonly indexes: Damage[] = [];
  /** Blob id (hex) -> the damage that took it. */
  private readonly lost = new Map<string, Damage>();
  private readonly snapshotFiles: Damage[] = [];
  private inNoIndex: Damage | undefined;
  private untraced: Damage | undefined;
  private readonly untracedIds = new Set<string>();
  /** Packs in no index whose blobs a snapshot uses. */
  readonly packsInNoIndex = new Set<string>();

  constructor(private readonly report: CheckReport) {}

  indexFile(name: string, problem: string): void {
    this.indexes.push({ kind: 'index', name, problem, blobsLost: 0, affects: [] });
  }

  snapshotFile(name: string, problem: string): void {
    this.snapshotFiles.push({
      kind: 'snapshot',
      name,
      problem,
      blobsLost: 0,
      affects: [{ snapshot: name, source: '(unreadable)', time: '', paths: [], pathCount: 0 }],
    });
  }

  pack(name: string, problem: string): Damage {
    let d = this.packs.get(name);
    if (!d) {
      d = { kind: 'pack', name, problem, blobsLost: 0, affects: [] };
      this.packs.set(name, d);
    }
    return d;
  }

  /** A blob of `pack` that does not open: lost when no other copy of it does. */
  blobLost(pack: string, problem: string, id: Buffer, lost: boolean): void {
    const d = this.pack(pack, problem);
    if (!lost) return;
    if (!this.lost.has(hex(id))) d.blobsLost++;
    this.lost.set(hex(id), d);
  }

  /** Every blob the index places in `pack` (a missing pack). */
  packLost(pack: string, problem: string, entries: Iterable<{ id: Buffer; pack: string }>): void {
    const d = this.pack(pack, problem);
    for (const e of entries) {
      if (e.pack !== pack) continue;
      d.blobsLost++;
      this.lost.set(hex(e.id), d);
    }
  }

  async map(
    repo: Repository,
    snapshots: SnapshotEntry[],
    unindexed: Map<string, string>,
    treeProblems: CheckHooks['treeProblems'],
  ): Promise<void> {
    const affected = await mapAffected<Damage>(repo, snapshots, {
      classify: (blob) => {
        const lost = this.lost.get(blob);
        if (lost) return lost;
        const pack = unindexed.get(blob);
        if (pack !== undefined) {
          if (!this.packsInNoIndex.has(pack))
            this.report.errors.push(`pack ${pack} is in no index, but snapshots use its blobs`);
          this.packsInNoIndex.add(pack);
          // One damaged index file: its packs are the ones no index names any more.
          this.inNoIndex ??=
            this.indexes.length === 1
              ? this.indexes[0]
              : {
                  kind: 'index',
                  name: '',
                  problem: 'packs that snapshots use are named by no index file (an index file is missing)',
                  blobsLost: 0,
                  affects: [],
                };
          return this.inNoIndex;
        }
        if (partsOf(repo).index.locations(Buffer.from(blob, 'hex')).length > 0) return undefined;
        this.untraced ??= {
          kind: 'blob',
          name: blob,
          problem: 'blobs that snapshots use are in no index and in no pack',
          blobsLost: 0,
          affects: [],
        };
        if (!this.untracedIds.has(blob)) this.untraced.blobsLost++;
        this.untracedIds.add(blob);
        return this.untraced;
      },
      readable: (d) => d.kind === 'index',
      unreadableTree: (treeId, path, err) => {
        const entry = partsOf(repo).index.get(Buffer.from(treeId, 'hex'));
        const problem = withoutCheckHint(err);
        this.report.errors.push(`tree ${treeId.slice(0, 8)} (${path}): ${problem}`);
        const d = this.pack(entry?.pack ?? '', problem);
        d.blobsLost++;
        this.lost.set(treeId, d); // once: other snapshots meet it as lost
        return d;
      },
      tree: (nodes, dir, where) => {
        for (const problem of treeProblems?.(nodes) ?? [])
          this.report.errors.push(`${where}: ${dir || '/'}: ${problem}`);
      },
      found: (d, blob, where) => {
        // A pack's own error names it, and a pack in no index has its one line above.
        if (d.kind === 'blob')
          this.report.errors.push(`${where}: blob ${blob.slice(0, 8)} is missing from the index`);
      },
    });
    for (const [d, list] of affected) d.affects = list;
    for (const d of this.all()) this.report.damage.push(d);
  }

  private all(): Damage[] {
    const out = [...this.indexes];
    if (this.inNoIndex && !out.includes(this.inNoIndex)) out.push(this.inNoIndex);
    out.push(...this.packs.values(), ...this.snapshotFiles);
    if (this.untraced) out.push(this.untraced);
    return out;
  }

  /** What to run, in order: the index first, then packs, then snapshots, then new backups. */
  repairCommands(): string[] {
    const all = this.all();
    const out: string[] = [];
    const missingPack = [...this.packs.values()].some((d) => /missing from storage/.test(d.problem));
    if (this.indexes.length > 0 || this.inNoIndex || missingPack) out.push('lifeboat repair index');
    const damagedPacks = [...this.packs.values()].filter((d) => !/missing from storage/.test(d.problem));
    if (damagedPacks.length > 0)
      out.push(`lifeboat repair packs ${damagedPacks.map((d) => d.name.slice(0, 8) || '').join(' ')}`.trim());
    const lostSomething = all.some((d) => d.kind !== 'index' && d.affects.length > 0);
    if (lostSomething) out.push('lifeboat repair snapshots --forget');
    const sources = [
      ...new Set(
        all
          .filter((d) => d.kind === 'pack' || d.kind === 'blob')
          .flatMap((d) => d.affects.map((a) => a.source)),
      ),
    ];
    if (sources.length > 0) out.push(`back up again what the sources still hold: ${sources.join(', ')}`);
    return out;
  }
}

/** Key files must hash to their names (snapshots and indexes are checked as they load). */
async function checkFileNames(repo: Repository, report: CheckReport): Promise<void> {
  for await (const f of partsOf(repo).backend.list('key')) {
    const data = await partsOf(repo).backend.load({ type: 'key', name: f.name });
    if (storageId(data) !== f.name) {
      report.errors.push(`key file ${f.name} is damaged: content does not match its name`);
    }
  }
}

/**
 * Archived WAL files read in full, `readPercent` of them at random: each must decrypt to its
 * recorded SHA-256. Counted into `report` (walRead, bytesRead), failures as errors.
 */
export async function readWalObjects(
  repo: Repository,
  report: CheckReport,
  objects: readonly string[],
  readPercent: number,
): Promise<void> {
  for (const object of objects) {
    if (readPercent < 100 && randomInt(100) >= readPercent) continue;
    try {
      const data = await partsOf(repo).backend.load({ type: 'wal', name: object });
      verifyObject(partsOf(repo).key, object, data);
      report.walRead++;
      report.bytesRead += data.length;
    } catch (err) {
      report.errors.push(`wal ${object}: ${describe(err)}`);
    }
  }
}

async function readPacks(
  repo: Repository,
  report: CheckReport,
  damage: DamageBook,
  stored: Map<string, number>,
  percent: number,
  progress: Progress,
): Promise<void> {
  const parts = partsOf(repo);
  let packs = [...stored.keys()].filter(
    (p) => parts.index.hasPack(p) || parts.index.isMarked(p) || percent >= 100,
  );
  if (percent < 100) {
    const want = Math.max(1, Math.ceil((packs.length * percent) / 100));
    for (let i = packs.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [packs[i], packs[j]] = [packs[j], packs[i]];
    }
    packs = packs.slice(0, want);
  }
  const indexed = new Map<string, PackEntry[]>();
  for (const e of parts.index.entries()) {
    const list = indexed.get(e.pack) ?? [];
    list.push(e);
    indexed.set(e.pack, list);
  }
  // A pack marked for deletion is still read (a snapshot that raced the prune may use it).
  for (const [pack, m] of parts.index.markedPacks())
    if (!indexed.has(pack)) indexed.set(pack, [...m.entries]);
  progress.start(
    'check --read-data',
    packs.reduce((n, p) => n + (stored.get(p) ?? 0), 0),
  );
  /** Blob id (hex) -> the packs where it did not open, with the pack's problem. */
  const failed = new Map<string, Map<string, string>>();
  for (const name of packs) {
    const data = await parts.backend.load({ type: 'pack', name });
    report.packsRead++;
    report.bytesRead += data.length;
    progress.advance(data.length);
    const v = verifyPack(repo, name, data, indexed.get(name) ?? []);
    report.blobsRead += v.opened;
    report.errors.push(...v.findings);
    if (v.problem === '') continue;
    damage.pack(name, v.problem);
    for (const id of v.failed) {
      const at = failed.get(hex(id)) ?? new Map<string, string>();
      at.set(name, v.problem);
      failed.set(hex(id), at);
    }
  }
  // A blob is lost only when no copy of it opens (a copy in a pack not read is trusted).
  for (const [blob, at] of failed) {
    const id = Buffer.from(blob, 'hex');
    const good = parts.index.locations(id).find((l) => !at.has(l.pack));
    for (const [pack, problem] of at) {
      damage.blobLost(pack, problem, id, !good);
      if (good)
        report.errors.push(
          `blob ${blob.slice(0, 8)}: the copy in pack ${pack} does not verify, the copy in pack ${good.pack} does (\`lifeboat prune\` keeps only the good copy)`,
        );
    }
  }
  progress.done();
}

/**
 * Blobs stored more than once with different kinds of key (a data key and a write-only
 * host's sealed box): two backups racing can do that, and so can a write-only host storing
 * a false copy under a known id to make restores fail or prune drop the genuine one.
 * Readers and prune prefer the copy that verifies; check --read-data names a bad one.
 */
async function checkCopies(repo: Repository, report: CheckReport): Promise<void> {
  for (const copies of partsOf(repo).index.copies()) {
    const kinds = await Promise.all(
      copies.map(async (c) => {
        try {
          return (await partsOf(repo).reader.isSealedBox(c)) ? 'sealed box' : 'data key';
        } catch {
          return 'unreadable';
        }
      }),
    );
    if (new Set(kinds).size < 2) continue;
    const where = copies.map((c, i) => `pack ${c.pack} (${kinds[i]})`).join(', ');
    report.errors.push(
      `blob ${hex(copies[0].id).slice(0, 8)} is stored ${copies.length} times with different keys: ${where} (a write-only host may have stored a false copy; \`lifeboat check --read-data\` names a copy that does not verify, and \`lifeboat prune\` keeps only one that does)`,
    );
  }
}
