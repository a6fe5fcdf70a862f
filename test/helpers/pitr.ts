/**
 * @module test/helpers/pitr
 * What the PITR and physical-drill tests share: the tools they need, and the real CLI run
 * as the PostgreSQL server's user (the server's archive_command writes the repository as
 * that user, so the tests' own calls must too).
 */
import { spawn, spawnSync } from 'node:child_process';
import { postgresUnavailable, serverUserArgv } from '../../src/testing/servers/postgres.js';
import { BIN, type CliResult } from './cli.js';

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
