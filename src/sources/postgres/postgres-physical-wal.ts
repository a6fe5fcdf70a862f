/**
 * @module sources/postgres/postgres-physical-wal
 * WAL archiving into the repository and point-in-time restores. Each archived file (a WAL
 * segment, a .history or .backup file) is one snapshot of kind 'wal' of the physical
 * source, its name in meta.walName and its bytes as the artifact of that name; writing the
 * snapshot is the commit, so `wal-push` exits 0 only once the segment is durable.
 * PostgreSQL's rules: pushing a name already archived with the same bytes succeeds, with
 * other bytes fails; fetching a name not archived exits 1 (the end of the archive).
 */
import { createHash } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { LifeboatError } from '../../errors.js';
import { publicSourceConfig } from '../../jobs/backup.js';
import { RepoContentStore } from '../../repo/content-store.js';
import type { Repository } from '../../repo/repository.js';
import type { Snapshot, SnapshotEntry } from '../../repo/snapshot.js';
import { VERSION } from '../../version.js';
import { loadArtifacts, saveArtifacts, writeArtifactToFile } from '../artifact.js';
import { extractBaseBackup } from './postgres-physical.js';

const WAL_NAME = /^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$|^[0-9A-F]{8}\.history$/;

export function isWalName(name: string): boolean {
  return WAL_NAME.test(name);
}

function walEntries(entries: SnapshotEntry[], source: string): SnapshotEntry[] {
  return entries.filter((e) => e.snapshot.source === source && e.snapshot.kind === 'wal');
}

/** Stores the WAL file at `path` for `source`; returns 'stored' or 'already' (same bytes). */
export async function pushWal(
  repo: Repository,
  source: string,
  sourceConfig: Record<string, unknown>,
  path: string,
): Promise<{ result: 'stored' | 'already'; id: string; name: string }> {
  const name = basename(path);
  if (!isWalName(name)) {
    throw new LifeboatError(
      'usage',
      `[wal-push] "${name}" is not a WAL segment, .history or .backup file name`,
    );
  }
  const data = await readFile(path);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const lock = await repo.lock(false, `wal-push ${name}`);
  try {
    const existing = walEntries(await repo.listSnapshots(), source).find(
      (e) => e.snapshot.meta.walName === name,
    );
    if (existing) {
      if (existing.snapshot.meta.sha256 === sha256) return { result: 'already', id: existing.id, name };
      throw new LifeboatError(
        'integrity',
        `[wal-push] ${name} is already archived for source "${source}" with different content (snapshot ${existing.id.slice(0, 8)}); refusing to overwrite`,
      );
    }
    // No index load: it grows by one file per push and costs more than it saves here (WAL
    // rarely deduplicates); a blob stored twice is harmless and prune drops the copy.
    const started = repo.clock.now();
    const addedBefore = repo.bytesAdded;
    const store = new RepoContentStore(repo);
    const root = await saveArtifacts(store, [{ name, stream: once(data) }]);
    await repo.flush();
    const snapshot: Snapshot = {
      version: 1,
      time: started.toISOString(),
      source,
      engine: 'postgres',
      kind: 'wal',
      host: repo.hostname(),
      username: 'postgres',
      tags: ['wal'],
      programVersion: VERSION,
      root,
      stats: { bytes: data.length },
      meta: { walName: name, sha256, timeline: timelineOf(name) },
      sourceConfig: publicSourceConfig(sourceConfig),
      backup: {
        bytesRead: data.length,
        bytesAdded: repo.bytesAdded - addedBefore,
        durationMs: repo.clock.now().getTime() - started.getTime(),
      },
    };
    const id = await repo.saveSnapshot(snapshot);
    return { result: 'stored', id, name };
  } finally {
    await lock.release().catch(() => {});
  }
}

async function* once(data: Buffer): AsyncIterable<Buffer> {
  yield data;
}

function timelineOf(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}

/** Writes the archived WAL file `name` to `path` (atomically); false when not archived. */
export async function fetchWal(
  repo: Repository,
  source: string,
  name: string,
  path: string,
): Promise<boolean> {
  const lock = await repo.lock(false, `wal-fetch ${name}`);
  try {
    const entry = walEntries(await repo.listSnapshots(), source).find(
      (e) => e.snapshot.meta.walName === name,
    );
    if (!entry) return false;
    await repo.loadIndex();
    const store = new RepoContentStore(repo);
    const [node] = await loadArtifacts(store, entry.snapshot.root);
    if (!node)
      throw new LifeboatError('repo_corrupt', `[wal-fetch] snapshot ${entry.id.slice(0, 8)} holds no file`);
    await writeArtifactToFile(store, node, path);
    return true;
  } finally {
    await lock.release().catch(() => {});
  }
}

export interface RecoveryWindow {
  /** End of the oldest base backup: the earliest recoverable time. */
  from?: string;
  /** Time of the newest archived WAL file: the latest recoverable time (approximately). */
  to?: string;
  bases: SnapshotEntry[];
  wal: number;
}

export function recoveryWindow(entries: SnapshotEntry[], source: string): RecoveryWindow {
  const bases = entries
    .filter((e) => e.snapshot.source === source && e.snapshot.kind === 'physical')
    .sort((a, b) => String(a.snapshot.meta.endTime).localeCompare(String(b.snapshot.meta.endTime)));
  const wal = walEntries(entries, source);
  return {
    from: bases[0]?.snapshot.meta.endTime as string | undefined,
    to: wal.at(-1)?.snapshot.time,
    bases,
    wal: wal.length,
  };
}

export interface PitrRequest {
  source: string;
  /** An ISO time (or any Date.parse-able text), or "latest". */
  at: string;
  to: string;
  /** The `restore_command` to write; %f and %p are PostgreSQL's. */
  restoreCommand: string;
}

export interface PitrOutcome {
  base: SnapshotEntry;
  target: string;
  window: RecoveryWindow;
  at: string;
}

/**
 * Extracts the newest base backup that ended before the target time into `to` and sets it
 * up to recover: recovery.signal, restore_command, recovery_target_time (unless latest) and
 * recovery_target_action = 'promote'.
 */
export async function restoreToPoint(repo: Repository, req: PitrRequest): Promise<PitrOutcome> {
  const lock = await repo.lock(false, 'restore');
  try {
    const window = recoveryWindow(await repo.listSnapshots(), req.source);
    if (window.bases.length === 0) {
      throw new LifeboatError(
        'not_found',
        `[restore] source "${req.source}" has no base backup in ${repo.location} (run \`lifeboat backup ${req.source}\` with method: physical)`,
      );
    }
    const shown = `recoverable window for "${req.source}": ${window.from} .. ${window.to ?? '(no WAL archived yet)'}`;
    let base: SnapshotEntry;
    let at: string;
    if (req.at === 'latest') {
      base = window.bases.at(-1) as SnapshotEntry;
      at = 'latest';
    } else {
      const t = Date.parse(req.at);
      if (Number.isNaN(t))
        throw new LifeboatError(
          'usage',
          `[restore] --at "${req.at}" is not a time (e.g. 2026-11-24T10:15:00Z) nor "latest"`,
        );
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
    await repo.loadIndex();
    await extractBaseBackup(new RepoContentStore(repo), base.snapshot.root, req.to);
    const lines = [
      '',
      `# written by lifeboat restore --at ${at} (base backup ${base.id.slice(0, 8)})`,
      `restore_command = ${confQuote(req.restoreCommand)}`,
    ];
    if (at !== 'latest') lines.push(`recovery_target_time = ${confQuote(pgTime(at))}`);
    lines.push(`recovery_target_action = 'promote'`, '');
    await appendFile(`${req.to}/postgresql.auto.conf`, lines.join('\n'), { mode: 0o600 });
    await writeFile(`${req.to}/recovery.signal`, '', { mode: 0o600 });
    return { base, target: req.to, window, at };
  } finally {
    await lock.release().catch(() => {});
  }
}

/** An ISO time as PostgreSQL's timestamptz input accepts it: "2026-11-24 10:51:00.463+00". */
export function pgTime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '+00');
}

/** A postgresql.conf string literal. */
export function confQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}
