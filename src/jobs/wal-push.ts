/**
 * @module jobs/wal-push
 * WAL archiving (PostgreSQL's archive_command): each archived file (a WAL segment, a
 * .history, .backup or .partial file) is one named object of the repository's object archive
 * (repo/object-archive.ts). PostgreSQL's rules: pushing a name already archived with the
 * same bytes succeeds, with other bytes fails.
 *
 * Speed: PostgreSQL runs archive_command once per file, one after another. A push also
 * stores the other files PostgreSQL has marked ready (pg_wal/archive_status/*.ready), in
 * parallel, and leaves an acknowledgement beside each (`<name>.lifeboat-ok`) once it is
 * durable; PostgreSQL's next calls find it and return at once (bin/lifeboat checks it
 * before starting Node.js). The push agent (wal-push-agent.ts) does the same ahead of the
 * calls.
 */
import { stat, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { LifeboatError } from '../errors.js';
import type { FrameSealer, ObjectArchive } from '../repo/object-archive.js';
import type { ObjectSealers } from '../repo/object-sealers.js';
import type { Repository } from '../repo/repository.js';
import { ackPath, readyFiles } from '../sources/postgres/wal-dir.js';
import { isWalName, MAX_WAL_SIZE } from '../sources/postgres/wal-names.js';

export interface PushResult {
  name: string;
  result: 'stored' | 'already';
}

/** The archive of `source`'s WAL in `repo`. */
export function walArchive(repo: Repository, source: string): ObjectArchive {
  return repo.objectArchive(source);
}

/**
 * Stores the WAL file at `path` for `source` and, unless `batch` is false, the other files
 * PostgreSQL has marked ready; acknowledges each of those once durable. Resolves once
 * `path` is durable (other files may have failed: PostgreSQL will ask for them again).
 */
export async function pushWal(
  repo: Repository,
  source: string,
  path: string,
  options: { batch?: boolean } = {},
): Promise<{ pushed: PushResult; others: PushResult[] }> {
  const name = basename(path);
  if (!isWalName(name)) {
    throw new LifeboatError(
      'usage',
      `[wal-push] "${name}" is not a WAL segment, .history or .backup file name`,
    );
  }
  const others = options.batch === false ? [] : await readyFiles(dirname(path), name);
  const lock = await repo.lock(false, `wal-push ${name}`, { scope: 'wal' });
  const sealers = others.length > 0 ? walSealers(repo) : undefined;
  try {
    const mine = pushOne(repo, source, path, sealers);
    // PostgreSQL waits for `path`; the others go alongside, a few at a time.
    const rest = pushAcknowledged(repo, source, others, sealers);
    const pushed = await mine;
    return { pushed, others: (await rest).done };
  } finally {
    await sealers?.close();
    await lock.release().catch(() => {});
  }
}

/** Worker threads sealing WAL frames: the main thread only reads, so every core compresses. */
export function walSealers(repo: Repository): ObjectSealers {
  return repo.objectSealers();
}

/**
 * Stores `paths` (a few at a time, oldest first) and acknowledges each once durable. A file
 * that fails is not acknowledged: PostgreSQL's own call for it pushes it and reports why.
 */
export async function pushAcknowledged(
  repo: Repository,
  source: string,
  paths: readonly string[],
  sealers: FrameSealer | undefined,
): Promise<{ done: PushResult[]; failed: { path: string; error: unknown }[] }> {
  const done: PushResult[] = [];
  const failed: { path: string; error: unknown }[] = [];
  const queue = [...paths];
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      try {
        done.push(await pushOne(repo, source, p, sealers));
        await writeFile(ackPath(p), '', { flag: 'w' });
      } catch (error) {
        failed.push({ path: p, error });
      }
    }
  };
  await Promise.all(Array.from({ length: sealers ? sealers.size + 1 : 1 }, worker));
  return { done, failed };
}

async function pushOne(
  repo: Repository,
  source: string,
  path: string,
  sealers?: FrameSealer,
): Promise<PushResult> {
  const name = basename(path);
  const archive = walArchive(repo, source);
  if (await archive.has(name)) {
    // PostgreSQL pushes a file again when it crashed before recording the push: fine when
    // the bytes are the same. Write-only credentials cannot read the archive to compare.
    if (repo.writeOnly || (await archive.matchesFile(name, path))) return { name, result: 'already' };
    throw new LifeboatError(
      'integrity',
      `[wal-push] ${name} is already archived for source "${source}" with different content; refusing to overwrite`,
    );
  }
  const { size } = await stat(path);
  if (size > MAX_WAL_SIZE) {
    throw new LifeboatError('usage', `[wal-push] ${name} is ${size} bytes: larger than any WAL file can be`);
  }
  await archive.put(name, path, repo.clock.now(), sealers);
  return { name, result: 'stored' };
}
