/**
 * @module sources/lmdb/lmdb-env
 * What the LMDB engine needs from an environment: its data format, a consistent compacted
 * copy taken while writers go on, and the number of entries in each database.
 *
 * Two data formats are in use. Format 1 is LMDB 0.9 (C programs, py-lmdb, OpenLDAP); Debian's
 * lmdb-utils (mdb_copy, mdb_stat) read it. Format 2 is LMDB 1.0 as the `lmdb` npm package
 * (lmdb-js) builds it by default; 0.9 tools call it invalid, and lmdb-js cannot open format 1
 * (it crashes), so the format is read from the meta page first and each format goes to the
 * library that speaks it. Both copy from a read transaction: a snapshot that writers, which
 * never block readers, do not disturb.
 */
import { open as openFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, LifeboatError } from '../../errors.js';
import { runRestoreTool } from '../dump-runner.js';

export type LmdbFormat = 1 | 2;

/** Entries per database: "(main)" for plain keys of the unnamed database, else the name. */
export type EntryCounts = Record<string, number>;

export const MAIN_DB = '(main)';

const MAGIC = 0xbeefc0de;

/** The data format of the environment in `dir`, from the first meta page of data.mdb. */
export async function detectFormat(dir: string): Promise<LmdbFormat> {
  const file = join(dir, 'data.mdb');
  let head: Buffer;
  try {
    const fh = await openFile(file, 'r');
    try {
      head = Buffer.alloc(64);
      const { bytesRead } = await fh.read(head, 0, 64, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new LifeboatError(
      'source_unreadable',
      `[source:lmdb] cannot read ${file}: ${describe(err)} (path must be the folder of an LMDB environment, holding data.mdb)`,
      { cause: err },
    );
  }
  // Format 1 pages have a 16-byte header, format 2 a 24-byte one; the meta starts with the magic.
  if (head.length >= 24 && head.readUInt32LE(16) === MAGIC && head.readUInt32LE(20) === 1) return 1;
  if (head.length >= 32 && head.readUInt32LE(24) === MAGIC && head.readUInt32LE(28) === 2) return 2;
  throw new LifeboatError(
    'source_unreadable',
    `[source:lmdb] ${file} is not an LMDB environment of a known data format (1: LMDB 0.9, 2: lmdb-js / LMDB 1.0)`,
  );
}

/** A consistent, compacted copy of the environment in `dir` into the empty folder `to`. */
export async function copyEnvironment(dir: string, to: string, format: LmdbFormat): Promise<void> {
  if (format === 1) {
    await runRestoreTool(
      { engine: 'lmdb', command: 'mdb_copy', args: ['-c', dir, to], packageHint: 'lmdb-utils' },
      undefined,
    );
    return;
  }
  const env = await openJs(dir);
  try {
    await env.backup(to, true);
  } catch (err) {
    throw new LifeboatError('source_failed', `[source:lmdb] copying ${dir} failed: ${describe(err)}`, {
      cause: err,
    });
  } finally {
    await env.close();
  }
}

/** Entries of each database of the environment in `dir` (opened read-only). */
export async function countEntries(dir: string, format: LmdbFormat): Promise<EntryCounts> {
  return format === 1 ? countWithMdbStat(dir) : countWithLmdbJs(dir);
}

async function countWithMdbStat(dir: string): Promise<EntryCounts> {
  const out = await runRestoreTool(
    { engine: 'lmdb', command: 'mdb_stat', args: ['-a', dir], packageHint: 'lmdb-utils' },
    undefined,
  );
  const counts: EntryCounts = {};
  let current: string | undefined;
  let named = 0;
  for (const line of out.split('\n')) {
    const status = /^Status of (.*)$/.exec(line);
    if (status) {
      current = status[1] === 'Main DB' ? MAIN_DB : status[1];
      if (current !== MAIN_DB) named++;
      continue;
    }
    const entries = /^\s+Entries: (\d+)$/.exec(line);
    if (entries && current !== undefined) counts[current] = Number(entries[1]);
  }
  if (counts[MAIN_DB] === undefined) {
    throw new LifeboatError('source_failed', `[source:lmdb] mdb_stat printed no statistics for ${dir}`);
  }
  // The main database also holds one record per named database.
  counts[MAIN_DB] -= named;
  return counts;
}

interface JsEnv {
  backup(path: string, compact: boolean): Promise<void>;
  getKeys(): Iterable<Buffer>;
  getStats(): { entryCount: number };
  openDB(options: Record<string, unknown>): { getStats(): { entryCount: number } } | undefined;
  close(): Promise<void>;
}

async function openJs(dir: string): Promise<JsEnv> {
  // Loaded on demand: a native addon that other commands have no use for.
  const lmdb = (await import('lmdb')) as unknown as { open(options: Record<string, unknown>): JsEnv };
  try {
    return lmdb.open({
      path: dir,
      readOnly: true,
      maxDbs: 10_000,
      keyEncoding: 'binary',
      encoding: 'binary',
    });
  } catch (err) {
    throw new LifeboatError('source_unreadable', `[source:lmdb] cannot open ${dir}: ${describe(err)}`, {
      cause: err,
    });
  }
}

async function countWithLmdbJs(dir: string): Promise<EntryCounts> {
  const env = await openJs(dir);
  try {
    const counts: EntryCounts = {};
    let named = 0;
    // The names first: opening a database while getKeys() still holds its read transaction
    // failed now and then with MDB_BAD_TXN ("has a child, or is invalid").
    for (const key of [...env.getKeys()]) {
      // lmdb-js stores database names with their terminating NUL.
      const name = key.toString('utf8').replace(/\0$/, '');
      const db =
        name === ''
          ? undefined
          : env.openDB({ name, encoding: 'binary', keyEncoding: 'binary', create: false });
      if (!db) continue;
      counts[name] = db.getStats().entryCount;
      named++;
    }
    counts[MAIN_DB] = env.getStats().entryCount - named;
    return counts;
  } finally {
    await env.close();
  }
}

/** Size of data.mdb in `dir`, or undefined when there is none. */
export async function dataFileSize(dir: string): Promise<number | undefined> {
  return stat(join(dir, 'data.mdb')).then(
    (s) => s.size,
    () => undefined,
  );
}
