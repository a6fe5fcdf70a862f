/**
 * @module sources/postgres/wal-dir
 * What Lifeboat leaves in a PostgreSQL pg_wal folder, and the files PostgreSQL leaves there
 * for it: the archive_status `.ready` marks and Lifeboat's acknowledgements beside them
 * (`<name>.lifeboat-ok`, read by the sh front bin/lifeboat), and the prefetch folder the fetch
 * agent fills (`pg_wal/lifeboat-prefetch/`, stamped with the boot it was written in).
 */
import { readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isWalName, segmentNumber } from './wal-names.js';

/** Suffix of the acknowledgement a batch leaves in pg_wal/archive_status for a file it stored. */
export const ACK_SUFFIX = '.lifeboat-ok';
/** Folder (in pg_wal) where wal-fetch keeps prefetched files. */
export const PREFETCH_DIR = 'lifeboat-prefetch';
/** File in the prefetch folder naming the boot its files were written in. */
export const BOOT_FILE = 'boot';
/** Files one push stores at most besides the one asked for. */
const BATCH_FILES = 256;

/** Where the acknowledgement of `walPath` lives. */
export function ackPath(walPath: string): string {
  return join(dirname(walPath), 'archive_status', `${basename(walPath)}${ACK_SUFFIX}`);
}

/**
 * Files in `pgWal` PostgreSQL has marked ready to archive and no push has acknowledged,
 * oldest first (history files first), at most BATCH_FILES, without `except`.
 */
export async function readyFiles(pgWal: string, except?: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(join(pgWal, 'archive_status'));
  } catch {
    return [];
  }
  const acked = new Set(names.filter((n) => n.endsWith(ACK_SUFFIX)));
  return names
    .filter((n) => n.endsWith('.ready'))
    .map((n) => n.slice(0, -'.ready'.length))
    .filter((n) => n !== except && isWalName(n) && !acked.has(`${n}${ACK_SUFFIX}`))
    .sort((a, b) => Number(b.endsWith('.history')) - Number(a.endsWith('.history')) || a.localeCompare(b))
    .slice(0, BATCH_FILES)
    .map((n) => join(pgWal, n));
}

/**
 * Removes acknowledgements PostgreSQL will not ask for (the file is no longer .ready:
 * archive_command changed, or the file was archived some other way), and forgets them.
 */
export async function sweepAcknowledgements(pgWal: string, acknowledged: Set<string>): Promise<void> {
  const status = join(pgWal, 'archive_status');
  const names = new Set(await readdir(status).catch(() => [] as string[]));
  for (const name of acknowledged) if (!names.has(`${name}.ready`)) acknowledged.delete(name);
  for (const n of names) {
    if (!n.endsWith(ACK_SUFFIX)) continue;
    const name = n.slice(0, -ACK_SUFFIX.length);
    if (!names.has(`${name}.ready`)) await unlink(join(status, n)).catch(() => {});
  }
}

/** PostgreSQL removes recovery.signal (or standby.signal) when it leaves recovery. */
export async function recovering(pgWal: string): Promise<boolean> {
  const data = dirname(pgWal);
  return (await exists(join(data, 'recovery.signal'))) || (await exists(join(data, 'standby.signal')));
}

let boot: Promise<string> | undefined;
/** The kernel's boot id ('' where there is none): it changes when the machine restarts. */
export function bootId(): Promise<string> {
  boot ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (s) => s.trim(),
    () => '',
  );
  return boot;
}

/** Marks a prefetch folder as written in this boot. */
export async function stampBoot(dir: string): Promise<void> {
  await writeFile(join(dir, BOOT_FILE), `${await bootId()}\n`);
}

/**
 * True when the prefetch folder's files were written in this boot. Written without fsync,
 * they may be torn after a crash of the machine: a folder from an earlier boot is removed.
 */
async function prefetchTrusted(dir: string): Promise<boolean> {
  const [mine, stamped] = await Promise.all([
    bootId(),
    readFile(join(dir, BOOT_FILE), 'utf8').then(
      (s) => s.trim(),
      () => undefined,
    ),
  ]);
  if (stamped === undefined) return false;
  // Without a boot id (not Linux) the agent writes durably: its files are good.
  if (stamped === mine) return true;
  await rm(dir, { recursive: true, force: true });
  return false;
}

/** Moves a prefetched copy into place; drops prefetched files older than `name`. */
export async function takePrefetched(name: string, path: string): Promise<boolean> {
  const dir = join(dirname(path), PREFETCH_DIR);
  if (!(await prefetchTrusted(dir))) return false;
  try {
    await rename(join(dir, name), path);
    return true;
  } catch {
    return false;
  } finally {
    const pos = segmentNumber(name);
    if (pos !== undefined) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const n of names) {
        const p = segmentNumber(n);
        if (p !== undefined && p < pos && isWalName(n)) await unlink(join(dir, n)).catch(() => {});
      }
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
