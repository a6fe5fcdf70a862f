/**
 * @module test/helpers/pitr
 * What the PITR and physical-drill tests share: the tools they need, and the real CLI run
 * as the PostgreSQL server's user (the server's archive_command writes the repository as
 * that user, so the tests' own calls must too).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, chown, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  type PostgresServer,
  postgresUnavailable,
  serverUserArgv,
} from '../../src/testing/servers/postgres.js';
import { sql } from '../postgres/pg-helpers.js';
import { BIN, type CliResult } from './cli.js';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A new folder the server's user (nobody, when root) can use. */
export async function sharedDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (isRoot) await chown(dir, 65534, 65534);
  await chmod(dir, 0o755);
  return dir;
}

/**
 * Server settings for archiving every WAL file with Lifeboat through the sh front, as
 * installed (it answers batch-acknowledged pushes itself); the repository comes from the
 * server's environment.
 */
export function archivingSettings(): Record<string, string> {
  return {
    wal_level: 'replica',
    archive_mode: 'on',
    archive_command: `LIFEBOAT_NODE='${process.execPath}' '${join(dirname(BIN), 'lifeboat')}' --quiet wal-push %p`,
    archive_timeout: '2s',
    max_wal_senders: '4',
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Switches WAL and waits until the server has archived the segment it closed. */
export async function archived(server: PostgresServer): Promise<void> {
  // Something to switch away from: pg_switch_wal() on an idle server switches nothing.
  await sql(server.url, 'CREATE TABLE IF NOT EXISTS ticks (t timestamptz); INSERT INTO ticks VALUES (now())');
  const [{ wal }] = await sql<{ wal: string }>(
    server.url,
    'SELECT pg_walfile_name(pg_current_wal_lsn()) AS wal FROM (SELECT pg_switch_wal()) s',
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    const stat: { last: string | null; failed: string; err: string | null }[] = await sql<{
      last: string | null;
      failed: string;
      err: string | null;
    }>(
      server.url,
      'SELECT last_archived_wal AS last, failed_count::text AS failed, last_failed_wal AS err FROM pg_stat_archiver',
    );
    const s = stat[0];
    if (s.last && s.last >= wal) return;
    if (Date.now() > deadline) assert.fail(`WAL ${wal} not archived in time: ${JSON.stringify(s)}`);
    await sleep(200);
  }
}

/** Waits until a restored server has finished recovery and promoted. */
export async function promoted(server: PostgresServer): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const [{ rec }] = await sql<{ rec: boolean }>(server.url, 'SELECT pg_is_in_recovery() AS rec').catch(
      () => [{ rec: true }],
    );
    if (!rec) return;
    if (Date.now() > until) assert.fail('recovery did not finish within 60 s');
    await sleep(200);
  }
}

/** Why a physical-PostgreSQL suite cannot run here, or null. */
export function pitrUnavailable(): string | null {
  const pg = postgresUnavailable();
  if (pg) return pg;
  if (spawnSync('pg_basebackup', ['--version']).status !== 0) return 'pg_basebackup not found';
  if (spawnSync('tar', ['--version']).status !== 0) return 'tar not found';
  return null;
}

/** The real CLI as the PostgreSQL server's user. */
export function asServerUser(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const [cmd, argv] = serverUserArgv(process.execPath, [BIN, ...args]);
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
