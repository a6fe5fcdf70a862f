/**
 * @module jobs/wal-fetch
 * WAL fetching (PostgreSQL's restore_command): writes an archived WAL file where recovery
 * asks for it, from the prefetch folder when the fetch agent (wal-fetch-agent.ts) put it
 * there, else from the repository. A name not archived is `false` (wal-fetch exits 1).
 */
import { open, rename, rm } from 'node:fs/promises';
import type { ObjectOpener } from '../repo/object-archive.js';
import type { Repository } from '../repo/repository.js';
import { bootId, takePrefetched } from '../sources/postgres/wal-dir.js';
import { walArchive } from './wal-push.js';

/**
 * Writes the archived WAL file `name` to `path` (atomically: temporary name, rename), from
 * the prefetch folder when the fetch agent put it there; false when not archived.
 */
export async function fetchWal(
  repo: Repository,
  source: string,
  name: string,
  path: string,
): Promise<boolean> {
  return (await takePrefetched(name, path)) || fetchToFile(repo, source, name, path);
}

/**
 * Fetches `name` from the repository into `path`; false when not archived. PostgreSQL
 * does not need what restore_command writes to be durable (it fsyncs what it keeps), so
 * `durable: false` skips the fsync where the machine's boot id guards the file instead
 * (the prefetch folder).
 */
export async function fetchToFile(
  repo: Repository,
  source: string,
  name: string,
  path: string,
  options: { durable?: boolean; pool?: ObjectOpener } = {},
): Promise<boolean> {
  // Opened in a worker (`pool`, which needs keys) or here, frame by frame.
  const file = await walArchive(repo, source).get(name, options.pool);
  if (!file) return false;
  await writeWalFile(file, path, options.durable !== false || (await bootId()) === '');
  return true;
}

async function writeWalFile(file: Iterable<Buffer>, path: string, durable: boolean): Promise<void> {
  const tmp = `${path}.lifeboat-${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    for (const frame of file) await fh.write(frame);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
}
