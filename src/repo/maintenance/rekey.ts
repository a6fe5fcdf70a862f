/**
 * @module repo/maintenance/rekey
 * Data-key rotation: start a new key epoch, re-encrypt what older epochs sealed, and retire
 * an epoch once nothing needs it. Re-encryption works in batches, each under a short
 * exclusive lock, so backups interleave with it; each batch writes new packs, then the index
 * naming them, then replaces the index files that named the old packs, then deletes the old
 * packs: a kill at any point leaves every snapshot readable, and a rerun resumes.
 */
import { describe, isLifeboatError, LifeboatError } from '../../errors.js';
import type { Progress } from '../../progress.js';
import { silentProgress } from '../../progress.js';
import { INDEX_EPOCH } from '../crypto.js';
import type { IndexedPack } from '../index-file.js';
import type { RepositoryLock } from '../lock.js';
import { resealObject } from '../object-archive.js';
import { headerLength, parsePackHeader } from '../pack.js';
import { partsOf } from '../repo-parts.js';
import type { Repository } from '../repository.js';

/** Old packs re-encrypted per batch: the extra space re-encryption needs at most. */
const BATCH_BYTES = 256 * 1024 * 1024;

export async function runRotate(repo: Repository): Promise<{ epoch: number }> {
  const lock = await repo.lock(true, 'key rotate');
  try {
    return { epoch: await repo.rotateKey() };
  } finally {
    await lock.release().catch(() => {});
  }
}

export interface ReencryptOutcome {
  epoch: number;
  packs: number;
  indexes: number;
  snapshots: number;
  wal: number;
  bytes: number;
}

export interface ReencryptOptions {
  progress?: Progress;
  /** How long to wait for running backups to release the repository between batches. */
  lockWaitMs?: number;
  batchBytes?: number;
}

/** Rewrites every pack, index, snapshot and WAL file not sealed with the current epoch. Resumable. */
export async function runReencrypt(
  repo: Repository,
  options: ReencryptOptions = {},
): Promise<ReencryptOutcome> {
  const parts = partsOf(repo);
  const progress = options.progress ?? silentProgress;
  const outcome: ReencryptOutcome = {
    epoch: parts.key.current,
    packs: 0,
    indexes: 0,
    snapshots: 0,
    wal: 0,
    bytes: 0,
  };
  const known = new Map<string, number>(); // pack -> epoch, learned once
  let total: number | undefined;
  for (;;) {
    const lock = await lockWaiting(repo, options.lockWaitMs ?? 10 * 60 * 1000);
    try {
      const current = parts.key.current;
      outcome.epoch = current;
      const stale: { name: string; size: number }[] = [];
      for await (const f of parts.backend.list('pack')) {
        let epoch = known.get(f.name);
        if (epoch === undefined) {
          epoch = await repo.epochOf('pack', f.name, f.size);
          known.set(f.name, epoch);
        }
        if (epoch !== current) stale.push(f);
      }
      if (total === undefined) {
        total = stale.reduce((n, f) => n + f.size, 0);
        progress.start(`re-encrypt to key epoch ${current}`, total);
      }
      if (stale.length === 0) {
        outcome.indexes += await reencryptFiles(repo, 'index');
        outcome.snapshots += await reencryptFiles(repo, 'snapshot');
        outcome.wal += await reencryptFiles(repo, 'wal');
        progress.done();
        return outcome;
      }
      const batch: { name: string; size: number }[] = [];
      let bytes = 0;
      for (const f of stale) {
        if (batch.length > 0 && bytes + f.size > (options.batchBytes ?? BATCH_BYTES)) break;
        batch.push(f);
        bytes += f.size;
      }
      await reencryptPacks(repo, batch, progress);
      for (const f of batch) known.delete(f.name);
      outcome.packs += batch.length;
      outcome.bytes += bytes;
    } finally {
      await lock.release().catch(() => {});
    }
  }
}

async function lockWaiting(repo: Repository, waitMs: number): Promise<RepositoryLock> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await repo.lock(true, 'key rotate --reencrypt');
    } catch (err) {
      if (!isLifeboatError(err) || err.code !== 'locked' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

async function reencryptPacks(
  repo: Repository,
  batch: { name: string; size: number }[],
  progress: Progress,
): Promise<void> {
  const parts = partsOf(repo);
  const names = new Set(batch.map((f) => f.name));
  parts.writer.deferIndex = true;
  try {
    for (const { name } of batch) {
      const data = await parts.backend.load({ type: 'pack', name });
      const n = headerLength(data, data.length, name);
      const entries = parsePackHeader(
        parts.key,
        data.subarray(data.length - 4 - n, data.length - 4),
        data.length,
        name,
      );
      for (const e of entries) {
        const plain = parts.reader.openEntry(
          { ...e, pack: name },
          data.subarray(e.offset, e.offset + e.length),
        );
        await parts.writer.rewriteBlob(e.type, e.id, plain);
      }
      progress.advance(data.length);
    }
    await repo.flush();
  } finally {
    parts.writer.deferIndex = false;
  }
  const fresh = parts.writer.takeUnindexed();
  const written = await parts.writer.writeIndexFiles(fresh);
  // Index files that name an old pack are replaced by ones without it (under the new key).
  for await (const f of parts.backend.list('index')) {
    if (written.includes(f.name)) continue;
    const packs = await parts.reader.loadIndexFile(f.name);
    if (!packs.some((p) => names.has(p.pack))) continue;
    const keep: IndexedPack[] = packs.filter((p) => !names.has(p.pack));
    if (keep.length > 0) await parts.writer.writeIndexFiles(keep);
    await parts.removeFile('index', f.name);
  }
  for (const { name } of batch) await parts.removeFile('pack', name);
}

/** Rewrites index or snapshot files sealed with an older epoch; returns how many. */
async function reencryptFiles(repo: Repository, type: 'index' | 'snapshot' | 'wal'): Promise<number> {
  const parts = partsOf(repo);
  let count = 0;
  const names: string[] = [];
  for await (const f of parts.backend.list(type)) names.push(f.name);
  for (const name of names) {
    const epoch = await repo.epochOf(type, name);
    // Index files are sealed with the index key, not a data key: rotation leaves them be.
    if (epoch === parts.key.current || epoch === INDEX_EPOCH) continue;
    if (type === 'wal') {
      // Name-addressed: replaced in place (atomically), not written anew and removed.
      const data = await parts.backend.load({ type, name });
      await parts.backend.save({ type, name }, resealObject(parts.key, name, data));
      count++;
      continue;
    }
    if (type === 'index') {
      await parts.writer.writeIndexFiles(await parts.reader.loadIndexFile(name));
    } else {
      const { snapshot, writeOnly } = await repo.readSnapshot(name);
      snapshot.previousIds = [...(snapshot.previousIds ?? []), name];
      // Re-sealed under a data key, it still counts as written with a write-only key.
      if (writeOnly) snapshot.writeOnly = true;
      await repo.saveSnapshot(snapshot);
    }
    await parts.removeFile(type, name);
    count++;
  }
  return count;
}

export interface EpochUse {
  epoch: number;
  packs: number;
  indexes: number;
  snapshots: number;
  wal: number;
  locks: number;
}

/** Removes an old epoch's key after proving that no stored file is sealed with it. */
export async function runRetire(repo: Repository, epoch: number): Promise<EpochUse> {
  const lock = await repo.lock(true, 'key retire');
  try {
    const use: EpochUse = { epoch, packs: 0, indexes: 0, snapshots: 0, wal: 0, locks: 0 };
    for (const [type, field] of [
      ['pack', 'packs'],
      ['index', 'indexes'],
      ['snapshot', 'snapshots'],
      ['wal', 'wal'],
      ['lock', 'locks'],
    ] as const) {
      for await (const f of partsOf(repo).backend.list(type)) {
        if (type === 'lock' && f.name === lock.info.name) continue;
        try {
          if ((await repo.epochOf(type, f.name, f.size)) === epoch) use[field]++;
        } catch (err) {
          throw new LifeboatError(
            'repo_corrupt',
            `[key] cannot tell the key epoch of ${type} ${f.name.slice(0, 8)}: ${describe(err)} (run \`lifeboat check\`)`,
          );
        }
      }
    }
    const inUse = use.packs + use.indexes + use.snapshots + use.wal + use.locks;
    if (inUse > 0) {
      throw new LifeboatError(
        'usage',
        `[key] key epoch ${epoch} still seals ${use.packs} packs, ${use.indexes} index files, ${use.snapshots} snapshots, ${use.wal} WAL files and ${use.locks} locks; run \`lifeboat key rotate --reencrypt\` first`,
      );
    }
    await repo.retireEpoch(epoch);
    return use;
  } finally {
    await lock.release().catch(() => {});
  }
}
