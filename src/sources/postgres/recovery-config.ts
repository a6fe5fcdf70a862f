/**
 * @module sources/postgres/recovery-config
 * How a restored data directory is set up to recover to a point: recovery.signal, and in
 * postgresql.auto.conf restore_command, the recovery target (recovery_target_time, _name,
 * _lsn or _xid; none for latest), recovery_target_action = 'promote' and a
 * recovery_end_command that removes what Lifeboat left (the prefetch folder, the settings
 * restore_command read). Also what a restored backup_label says recovery asks for first.
 */
import { appendFile, chown, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecoveryTarget } from './recovery-target.js';
import { PREFETCH_DIR } from './wal-dir.js';

/**
 * File (in the data directory) where a restore leaves restore_command's settings: which
 * repository to read and how to get its password (never the password). Mode 0600, owned by
 * the cluster's owner; recovery_end_command removes it.
 */
export const RECOVERY_SETTINGS = 'lifeboat-restore.json';

export interface RecoveryConfig {
  /** What `--at` resolved to (an ISO time for a time target), for the comment and the target. */
  at: string;
  target: RecoveryTarget;
  /** The base backup's snapshot id (named in a comment). */
  baseId: string;
  /** The `restore_command`; %f and %p are PostgreSQL's. */
  restoreCommand: string;
  /** The text of RECOVERY_SETTINGS, when restore_command reads it. */
  settings?: string;
}

/** Sets up the restored data directory `dataDir` to recover as `config` says. */
export async function writeRecoveryConfig(dataDir: string, config: RecoveryConfig): Promise<void> {
  const { target, at } = config;
  if (config.settings !== undefined) await writeOwned(dataDir, RECOVERY_SETTINGS, config.settings);
  const lines = [
    '',
    `# written by lifeboat restore --at ${at} (base backup ${config.baseId.slice(0, 8)})`,
    `restore_command = ${confQuote(config.restoreCommand)}`,
  ];
  if (target.kind === 'name') lines.push(`recovery_target_name = ${confQuote(target.name)}`);
  else if (target.kind === 'lsn') lines.push(`recovery_target_lsn = ${confQuote(target.lsn)}`);
  else if (target.kind === 'xid') lines.push(`recovery_target_xid = ${confQuote(target.xid)}`);
  else if (target.kind === 'time') lines.push(`recovery_target_time = ${confQuote(pgTime(at))}`);
  lines.push(
    `recovery_target_action = 'promote'`,
    // Prefetched WAL left when recovery ends is not needed any more, nor the settings of
    // restore_command (the server's cwd is DATADIR).
    `recovery_end_command = ${confQuote(`rm -rf pg_wal/${PREFETCH_DIR}${config.settings !== undefined ? ` ${RECOVERY_SETTINGS}` : ''}`)}`,
    '',
  );
  await appendFile(`${dataDir}/postgresql.auto.conf`, lines.join('\n'), { mode: 0o600 });
  await writeOwned(dataDir, 'recovery.signal', '');
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

/**
 * The segment recovery asks for first: the one the restored backup_label names as the
 * backup's start. The snapshot's startWal, read before pg_basebackup ran, may be a segment or
 * two earlier (the backup's checkpoint switches segments): seeding from it wasted the seeds.
 */
export async function firstSegment(dataDir: string, fallback: string): Promise<string> {
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
