/**
 * @module jobs/pitr
 * Point-in-time recovery of physical PostgreSQL sources, once for every caller (`restore
 * --at` on the command line, the server's restore jobs with `at`, physical drills): the
 * recoverable window of a source (its base backups and archived WAL), choosing the base
 * backup for a target, and restoring to a point. The engine (sources/postgres) gives what is
 * PostgreSQL's: WAL names, recovery targets, how a data directory is set up to recover.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LifeboatConfig } from '../config/config.js';
import { LifeboatError } from '../errors.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotEntry } from '../repo/snapshot.js';
import { shellCommand, shQuote } from '../self-command.js';
import { firstSegment, RECOVERY_SETTINGS, writeRecoveryConfig } from '../sources/postgres/recovery-config.js';
import { lsnValue, parseTarget } from '../sources/postgres/recovery-target.js';
import { PREFETCH_DIR, stampBoot } from '../sources/postgres/wal-dir.js';
import {
  historyName,
  isWalName,
  positionKey,
  segmentNumber,
  segmentsPerLog,
  timelineOf,
  type WalGap,
  walGaps,
} from '../sources/postgres/wal-names.js';
import { type RecoverySettings, recoverySettings, settingsText } from './pitr-settings.js';
import { fetchToFile } from './wal-fetch.js';
import { walArchive } from './wal-push.js';

export type { WalGap };

export interface RecoveryWindow {
  /** End of the oldest base backup: the earliest recoverable time. */
  from?: string;
  /**
   * When the newest WAL file reachable without a gap was archived: the latest recoverable
   * time (an upper bound of the last commit it holds).
   */
  to?: string;
  bases: SnapshotEntry[];
  /** When the newest WAL file was archived, gaps or not (the end of the archive). */
  archiveEnd?: string;
  /** Archived WAL files of the source. */
  wal: number;
  /** Holes in the chain after the oldest base backup's start: recovery cannot pass them. */
  gaps: WalGap[];
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
  const archive = walArchive(repo, source);
  const wal = await archive.list();
  const window: RecoveryWindow = {
    from: bases[0]?.snapshot.meta.endTime as string | undefined,
    bases,
    wal: wal.length,
    gaps: [],
  };
  const segments = wal.filter((f) => f.name.length === 24);
  if (segments.length === 0) return window;
  const newest = segments.reduce((a, b) => (positionKey(b.name) > positionKey(a.name) ? b : a));
  const header = await archive.header(newest.object);
  window.archiveEnd = header.archived;
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
    if (last) window.to = (await archive.header(last.object)).archived;
  }
  return window;
}

export interface PitrRequest {
  source: string;
  /** An ISO time (or any Date.parse-able text), "latest", "name:NAME" (a restore point), "lsn:X/Y" or "xid:N". */
  at: string;
  to: string;
  /** The `restore_command` to write; %f and %p are PostgreSQL's (walFetchCommand makes one). */
  restoreCommand: string;
  /** What restore_command reads from RECOVERY_SETTINGS in the data directory (no secret). */
  settings?: RecoverySettings;
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
 * The restore_command that runs this Lifeboat (`argv`: [node, bin, --config FILE]) as
 * `wal-fetch` for `source`, reading the repository from RECOVERY_SETTINGS when `settings`.
 */
export function walFetchCommand(
  argv: readonly string[],
  source: string,
  options: { settings?: boolean } = {},
): string {
  const settings = options.settings ? ` --settings ${RECOVERY_SETTINGS}` : '';
  return `${shellCommand(argv)} --quiet wal-fetch${settings} --source ${shQuote(source)} %f %p`;
}

/**
 * What a restore to a point made by `argv` (selfArgv: [node, bin, --config FILE]) with
 * `config` and `env` writes for recovery: restore_command reading RECOVERY_SETTINGS, and those
 * settings (the repository and where its password comes from). The command line and the
 * server's restore jobs both take it, so PostgreSQL reads the repository the restore read,
 * never whatever the server's own config or environment name.
 */
export function pointRestoreCommand(
  argv: readonly string[],
  source: string,
  config: Pick<LifeboatConfig, 'repository'>,
  env: NodeJS.ProcessEnv,
): { restoreCommand: string; settings: RecoverySettings } {
  const at = argv.indexOf('--config');
  const configFile = at >= 0 ? argv[at + 1] : undefined;
  return {
    restoreCommand: walFetchCommand(argv, source, { settings: true }),
    settings: recoverySettings(config, env, configFile),
  };
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
      const cut = window.gaps[0];
      if (
        cut &&
        window.archiveEnd &&
        t >= Date.parse(window.from as string) &&
        t <= Date.parse(window.archiveEnd) &&
        (!window.to || t > Date.parse(window.to))
      ) {
        // The archive spans the time but a hole before it stops replay there.
        throw new LifeboatError(
          'not_found',
          `[restore] WAL ${cut.first} of "${req.source}" is missing from ${repo.location}${cut.count > 1 ? ` (and the ${cut.count - 1} segment(s) after it)` : ''}: recovery to ${new Date(t).toISOString()} cannot pass it, the archive goes on to ${window.archiveEnd} (run \`lifeboat check\`)`,
        );
      }
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
    const { checkDataDir, extractBaseBackup } = await import('../sources/postgres/postgres-physical.js');
    if (req.dryRun) {
      await checkDataDir(req.to);
      return { base, target: req.to, window, at, dryRun: true };
    }
    await repo.loadIndex();
    await extractBaseBackup(new RepoContentStore(repo), base.snapshot.root, req.to);
    await seedPrefetch(repo, req.source, base, req.to);
    await writeRecoveryConfig(req.to, {
      at,
      target,
      baseId: base.id,
      restoreCommand: req.restoreCommand,
      settings: req.settings && settingsText(req.settings),
    });
    return { base, target: req.to, window, at, dryRun: false };
  } finally {
    await lock.release().catch(() => {});
  }
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
  const archived = await walArchive(repo, source).list();
  const names = new Set(archived.map((w) => w.name));
  const timeline = timelineOf(start);
  const fetches: string[] = [];
  for (let t = timeline + 1; ; t++) {
    const history = historyName(t);
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
