/**
 * @module sources/postgres/postgres-physical-wal
 * WAL archiving into the repository and point-in-time restores. Each archived file (a WAL
 * segment, a .history, .backup or .partial file) is one name-addressed object of the
 * repository (repo/wal-archive.ts). PostgreSQL's rules: pushing a name already archived
 * with the same bytes succeeds, with other bytes fails; fetching a name not archived exits 1.
 *
 * Speed: PostgreSQL runs archive_command once per file, one after another. A push also
 * stores the other files PostgreSQL has marked ready (pg_wal/archive_status/*.ready), in
 * parallel, and leaves an acknowledgement beside each (`<name>.lifeboat-ok`) once it is
 * durable; PostgreSQL's next calls find it and return at once (bin/lifeboat checks it
 * before starting Node.js). Fetches are served ahead by the fetch agent
 * (wal-fetch-agent.ts) through pg_wal/lifeboat-prefetch/.
 */
import {
  appendFile,
  chown,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { isLifeboatError, LifeboatError } from '../../errors.js';
import { RepoContentStore } from '../../repo/content-store.js';
import type { Repository } from '../../repo/repository.js';
import { SealPool } from '../../repo/seal-pool.js';
import type { SnapshotEntry } from '../../repo/snapshot.js';
import {
  buildWalObject,
  isWalName,
  listWal,
  openWalObject,
  readWalHeader,
  segmentName,
  segmentNumber,
  timelineOf,
  WAL_ZSTD_LEVEL,
  type WalObject,
  walObjectName,
} from '../../repo/wal-archive.js';
import { lsnValue, parseTarget } from './recovery-target.js';

export { isWalName };

/** Suffix of the acknowledgement a batch leaves in pg_wal/archive_status for a file it stored. */
export const ACK_SUFFIX = '.lifeboat-ok';
/** Folder (in pg_wal) where wal-fetch keeps prefetched files. */
export const PREFETCH_DIR = 'lifeboat-prefetch';
/**
 * File (in the data directory) where a restore leaves restore_command's settings: which
 * repository to read and how to get its password (never the password). Mode 0600, owned by
 * the cluster's owner; recovery_end_command removes it.
 */
export const RECOVERY_SETTINGS = 'lifeboat-restore.json';
/** Files one push stores at most besides the one asked for. */
const BATCH_FILES = 256;

export interface PushResult {
  name: string;
  result: 'stored' | 'already';
}

/** Where the acknowledgement of `walPath` lives. */
export function ackPath(walPath: string): string {
  return join(dirname(walPath), 'archive_status', `${basename(walPath)}${ACK_SUFFIX}`);
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
  const pool = others.length > 0 ? walSealPool(repo) : undefined;
  try {
    const mine = pushOne(repo, source, path, pool);
    // PostgreSQL waits for `path`; the others go alongside, a few at a time.
    const rest = pushAcknowledged(repo, source, others, pool);
    const pushed = await mine;
    return { pushed, others: (await rest).done };
  } finally {
    await pool?.close();
    await lock.release().catch(() => {});
  }
}

/** A pool for sealing WAL frames: the main thread only reads, so every core compresses. */
export function walSealPool(repo: Repository): SealPool {
  return new SealPool(repo.key.sealSpec, WAL_ZSTD_LEVEL, Math.max(1, Math.min(4, availableParallelism())));
}

/**
 * Stores `paths` (a few at a time, oldest first) and acknowledges each once durable. A file
 * that fails is not acknowledged: PostgreSQL's own call for it pushes it and reports why.
 */
export async function pushAcknowledged(
  repo: Repository,
  source: string,
  paths: readonly string[],
  pool: SealPool | undefined,
): Promise<{ done: PushResult[]; failed: { path: string; error: unknown }[] }> {
  const done: PushResult[] = [];
  const failed: { path: string; error: unknown }[] = [];
  const queue = [...paths];
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      try {
        done.push(await pushOne(repo, source, p, pool));
        await writeFile(ackPath(p), '', { flag: 'w' });
      } catch (error) {
        failed.push({ path: p, error });
      }
    }
  };
  await Promise.all(Array.from({ length: pool ? pool.size + 1 : 1 }, worker));
  return { done, failed };
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

async function pushOne(repo: Repository, source: string, path: string, pool?: SealPool): Promise<PushResult> {
  const name = basename(path);
  const object = walObjectName(repo.key, source, name);
  if (await exists(repo, object)) {
    // PostgreSQL pushes a file again when it crashed before recording the push: fine when
    // the bytes are the same. Write-only credentials cannot read the archive to compare.
    if (repo.writeOnly || (await sameContent(repo, object, path))) return { name, result: 'already' };
    throw new LifeboatError(
      'integrity',
      `[wal-push] ${name} is already archived for source "${source}" with different content; refusing to overwrite`,
    );
  }
  const built = await buildWalObject(repo.key, source, name, path, repo.clock.now(), pool);
  await repo.backend.save({ type: 'wal', name: object }, built.data);
  return { name, result: 'stored' };
}

async function exists(repo: Repository, object: string): Promise<boolean> {
  try {
    await repo.backend.stat({ type: 'wal', name: object });
    return true;
  } catch (err) {
    if (isLifeboatError(err) && err.code === 'not_found') return false;
    throw err;
  }
}

/** True when the archived object holds exactly the bytes of the file at `path`. */
async function sameContent(repo: Repository, object: string, path: string): Promise<boolean> {
  const data = await repo.backend.load({ type: 'wal', name: object });
  const fh = await open(path, 'r');
  try {
    let offset = 0;
    for (const frame of openWalObject(repo.key, object, data)) {
      const mine = Buffer.allocUnsafe(frame.length);
      const { bytesRead } = await fh.read(mine, 0, frame.length, offset);
      if (bytesRead !== frame.length || !mine.equals(frame)) return false;
      offset += frame.length;
    }
    return (await fh.stat()).size === offset;
  } finally {
    await fh.close();
  }
}

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
  options: { durable?: boolean; pool?: SealPool } = {},
): Promise<boolean> {
  const object = walObjectName(repo.key, source, name);
  const data = await loadObject(repo, object);
  if (!data) return false;
  // Opened in a worker (`pool`, which needs keys) or here, frame by frame.
  const file = options.pool
    ? [await options.pool.openWal(object, data)]
    : openWalObject(repo.key, object, data);
  await writeWalFile(file, path, options.durable !== false || (await bootId()) === '');
  return true;
}

/** File in the prefetch folder naming the boot its files were written in. */
export const BOOT_FILE = 'boot';

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

async function loadObject(repo: Repository, object: string): Promise<Buffer | undefined> {
  try {
    return await repo.backend.load({ type: 'wal', name: object });
  } catch (err) {
    if (isLifeboatError(err) && err.code === 'not_found') return undefined;
    throw err;
  }
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

export interface WalGap {
  /** The first missing segment (on the timeline of the segment before it). */
  first: string;
  /** How many consecutive segment positions are missing. */
  count: number;
}

export interface RecoveryWindow {
  /** End of the oldest base backup: the earliest recoverable time. */
  from?: string;
  /**
   * When the newest WAL file reachable without a gap was archived: the latest recoverable
   * time (an upper bound of the last commit it holds).
   */
  to?: string;
  bases: SnapshotEntry[];
  /** Archived WAL files of the source. */
  wal: number;
  /** Holes in the chain after the oldest base backup's start: recovery cannot pass them. */
  gaps: WalGap[];
}

/** Segments per 4 GiB "log" for a segment size (256 for PostgreSQL's default 16 MiB). */
function segmentsPerLog(segmentSize: number): number {
  return segmentSize > 0 ? Math.max(1, Math.round(2 ** 32 / segmentSize)) : 256;
}

/**
 * Gaps in the archived chain from `start` on. A position counts as present when some
 * timeline has it (a timeline switch archives the old timeline's part as .partial and the
 * new one's whole segment under the new timeline).
 */
export function walGaps(files: readonly WalObject[], start: string, perLog = 256): WalGap[] {
  const byPos = new Map<number, string>();
  for (const f of files) {
    const base = f.name.replace(/\.partial$/, '');
    if (base.length !== 24) continue;
    const pos = segmentNumber(base, perLog) as number;
    const had = byPos.get(pos);
    if (!had || had < base) byPos.set(pos, base);
  }
  const from = segmentNumber(start, perLog);
  if (from === undefined || byPos.size === 0) return [];
  const last = Math.max(...byPos.keys());
  const gaps: WalGap[] = [];
  let prev = start;
  for (let pos = from; pos <= last; pos++) {
    const here = byPos.get(pos);
    if (here) {
      prev = here;
      continue;
    }
    let end = pos;
    while (end + 1 <= last && !byPos.has(end + 1)) end++;
    gaps.push({ first: segmentName(timelineOf(prev), pos, perLog), count: end - pos + 1 });
    pos = end;
  }
  return gaps;
}

/** Base backups, archived WAL and the recoverable window of a physical source. */
export async function recoveryWindow(
  repo: Repository,
  entries: SnapshotEntry[],
  source: string,
): Promise<RecoveryWindow> {
  const bases = entries
    .filter((e) => e.snapshot.source === source && e.snapshot.kind === 'physical')
    .sort((a, b) => String(a.snapshot.meta.endTime).localeCompare(String(b.snapshot.meta.endTime)));
  const wal = await listWal(repo.backend, repo.key, source);
  const window: RecoveryWindow = {
    from: bases[0]?.snapshot.meta.endTime as string | undefined,
    bases,
    wal: wal.length,
    gaps: [],
  };
  const segments = wal.filter((f) => f.name.length === 24);
  if (segments.length === 0) return window;
  const newest = segments.reduce((a, b) => (positionKey(b.name) > positionKey(a.name) ? b : a));
  const header = await readWalHeader(repo.backend, repo.key, newest.object);
  const perLog = segmentsPerLog(header.size);
  const start = bases
    .map((b) => String(b.snapshot.meta.startWal ?? ''))
    .filter((n) => n.length === 24)
    .sort((a, b) => positionKey(a).localeCompare(positionKey(b)))[0];
  window.gaps = start ? walGaps(wal, start, perLog) : [];
  if (window.gaps.length === 0) {
    window.to = header.archived;
  } else {
    // The window ends where the chain breaks: at the segment before the first gap.
    const before = segmentNumber(window.gaps[0].first, perLog) as number;
    const last = segments.filter((f) => segmentNumber(f.name, perLog) === before - 1).at(-1);
    if (last) window.to = (await readWalHeader(repo.backend, repo.key, last.object)).archived;
  }
  return window;
}

/** Sort key by position, then timeline. */
function positionKey(name: string): string {
  return name.slice(8, 24) + name.slice(0, 8);
}

export interface PitrRequest {
  source: string;
  /** An ISO time (or any Date.parse-able text), "latest", "name:NAME" (a restore point), "lsn:X/Y" or "xid:N". */
  at: string;
  to: string;
  /** The `restore_command` to write; %f and %p are PostgreSQL's. */
  restoreCommand: string;
  /** What restore_command reads from RECOVERY_SETTINGS in the data directory (no secret). */
  settings?: string;
  /** Choose the base backup and check the target, write nothing. */
  dryRun?: boolean;
}

export interface PitrOutcome {
  base: SnapshotEntry;
  target: string;
  window: RecoveryWindow;
  at: string;
  dryRun: boolean;
}

/**
 * Extracts the newest base backup that ended before the target into `to` and sets it up to
 * recover: recovery.signal, restore_command, the recovery target (recovery_target_time,
 * _name, _lsn or _xid; none for latest) and recovery_target_action = 'promote'. A dry run
 * stops after choosing the base backup and checking that `to` is missing or empty.
 */
export async function restoreToPoint(repo: Repository, req: PitrRequest): Promise<PitrOutcome> {
  const lock = await repo.lock(false, 'restore');
  try {
    const window = await recoveryWindow(repo, (await repo.scanSnapshots()).snapshots, req.source);
    if (window.bases.length === 0) {
      throw new LifeboatError(
        'not_found',
        `[restore] source "${req.source}" has no base backup in ${repo.location} (run \`lifeboat backup ${req.source}\` with method: physical)`,
      );
    }
    const gaps =
      window.gaps.length > 0
        ? ` (the archive has a gap at ${window.gaps[0].first}: run \`lifeboat check\`)`
        : '';
    const shown = `recoverable window for "${req.source}": ${window.from} .. ${window.to ?? '(no WAL archived yet)'}${gaps}`;
    let base: SnapshotEntry;
    let at: string;
    const target = parseTarget(req.at);
    if (target.kind === 'lsn') {
      // The newest base backup that ended at or before the LSN (stopLsn is read after the
      // backup ended: an upper bound of where it is consistent).
      base = window.bases
        .filter((e) => lsnValue(String(e.snapshot.meta.stopLsn)) <= target.value)
        .at(-1) as SnapshotEntry;
      if (!base) {
        const first = String(window.bases[0].snapshot.meta.stopLsn);
        throw new LifeboatError(
          'usage',
          `[restore] --at ${req.at} is before the end of the oldest base backup (LSN ${first}); the ${shown}`,
        );
      }
      at = req.at;
    } else if (target.kind !== 'time') {
      // A named point, a transaction or the end of the archive is found by replaying: start
      // from the newest base backup.
      base = window.bases.at(-1) as SnapshotEntry;
      at = req.at;
    } else {
      const t = target.time;
      if (t < Date.parse(window.from as string) || !window.to || t > Date.parse(window.to)) {
        throw new LifeboatError(
          'usage',
          `[restore] --at ${new Date(t).toISOString()} is outside the ${shown}`,
        );
      }
      base = window.bases
        .filter((e) => Date.parse(String(e.snapshot.meta.endTime)) <= t)
        .at(-1) as SnapshotEntry;
      at = new Date(t).toISOString();
    }
    // Loaded here: the base backup's module brings pg and tar, which wal-push and wal-fetch
    // (a process each, started by PostgreSQL) do without.
    const { checkDataDir, extractBaseBackup } = await import('./postgres-physical.js');
    if (req.dryRun) {
      await checkDataDir(req.to);
      return { base, target: req.to, window, at, dryRun: true };
    }
    await repo.loadIndex();
    await extractBaseBackup(new RepoContentStore(repo), base.snapshot.root, req.to);
    await seedPrefetch(repo, req.source, base, req.to);
    if (req.settings !== undefined) await writeOwned(req.to, RECOVERY_SETTINGS, req.settings);
    const lines = [
      '',
      `# written by lifeboat restore --at ${at} (base backup ${base.id.slice(0, 8)})`,
      `restore_command = ${confQuote(req.restoreCommand)}`,
    ];
    if (target.kind === 'name') lines.push(`recovery_target_name = ${confQuote(target.name)}`);
    else if (target.kind === 'lsn') lines.push(`recovery_target_lsn = ${confQuote(target.lsn)}`);
    else if (target.kind === 'xid') lines.push(`recovery_target_xid = ${confQuote(target.xid)}`);
    else if (target.kind === 'time') lines.push(`recovery_target_time = ${confQuote(pgTime(at))}`);
    lines.push(
      `recovery_target_action = 'promote'`,
      // Prefetched WAL left when recovery ends is not needed any more, nor the settings of
      // restore_command (the server's cwd is DATADIR).
      `recovery_end_command = ${confQuote(`rm -rf pg_wal/${PREFETCH_DIR}${req.settings !== undefined ? ` ${RECOVERY_SETTINGS}` : ''}`)}`,
      '',
    );
    await appendFile(`${req.to}/postgresql.auto.conf`, lines.join('\n'), { mode: 0o600 });
    await writeOwned(req.to, 'recovery.signal', '');
    return { base, target: req.to, window, at, dryRun: false };
  } finally {
    await lock.release().catch(() => {});
  }
}

/**
 * Writes `name` in the data directory, mode 0600, owned (when restoring as root) by the
 * cluster's owner: the owner of PG_VERSION, as the base backup gave it.
 */
async function writeOwned(dataDir: string, name: string, text: string): Promise<void> {
  const path = join(dataDir, name);
  await writeFile(path, text, { mode: 0o600 });
  if (process.getuid?.() !== 0) return;
  const owner = await stat(join(dataDir, 'PG_VERSION')).catch(() => undefined);
  if (owner) await chown(path, owner.uid, owner.gid);
}

/** Segments a restore writes into the prefetch folder (see seedPrefetch). */
const SEED_SEGMENTS = 8;

/**
 * Writes what recovery asks for first into the restored pg_wal/lifeboat-prefetch: the
 * answer to its probe for a newer timeline (the history files, then `.absent-` for the
 * first one not archived) and the first SEED_SEGMENTS segments from the base backup's
 * start. The sh front serves them in milliseconds while the fetch agent starts (about a
 * second: without this, recovery waited for it).
 */
async function seedPrefetch(repo: Repository, source: string, base: SnapshotEntry, dataDir: string) {
  const start = await firstSegment(dataDir, String(base.snapshot.meta.startWal ?? ''));
  if (!isWalName(start) || start.length !== 24) return;
  const dir = join(dataDir, 'pg_wal', PREFETCH_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await stampBoot(dir);
  const archived = await listWal(repo.backend, repo.key, source);
  const names = new Set(archived.map((w) => w.name));
  const timeline = timelineOf(start);
  const fetches: string[] = [];
  for (let t = timeline + 1; ; t++) {
    const history = `${t.toString(16).toUpperCase().padStart(8, '0')}.history`;
    if (!names.has(history)) {
      await writeFile(join(dir, `.absent-${history}`), '');
      break;
    }
    fetches.push(history);
  }
  const from = positionKey(start);
  fetches.push(
    ...archived
      .filter((w) => w.name.length === 24 && timelineOf(w.name) === timeline && positionKey(w.name) >= from)
      .map((w) => w.name)
      .sort((a, b) => positionKey(a).localeCompare(positionKey(b)))
      .slice(0, SEED_SEGMENTS),
  );
  // The restore's workers are idle now: they open segments while this thread opens others.
  const pool = repo.openers();
  const lanes = [undefined, ...Array.from({ length: pool.size }, () => pool)];
  await Promise.all(
    lanes.map(async (lane) => {
      for (let name = fetches.shift(); name; name = fetches.shift())
        await fetchToFile(repo, source, name, join(dir, name), { durable: false, pool: lane });
    }),
  );
}

/**
 * The segment recovery asks for first: the one the restored backup_label names as the
 * backup's start. The snapshot's startWal, read before pg_basebackup ran, may be a segment or
 * two earlier (the backup's checkpoint switches segments): seeding from it wasted the seeds.
 */
async function firstSegment(dataDir: string, fallback: string): Promise<string> {
  const label = await readFile(join(dataDir, 'backup_label'), 'utf8').catch(() => '');
  return /^START WAL LOCATION: .*\(file ([0-9A-F]{24})\)$/m.exec(label)?.[1] ?? fallback;
}

/** An ISO time as PostgreSQL's timestamptz input accepts it: "2026-11-24 10:51:00.463+00". */
export function pgTime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '+00');
}

/** A postgresql.conf string literal. */
export function confQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}
