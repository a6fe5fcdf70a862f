/**
 * @module test/helpers/fleet
 * Helpers for fleet tests that run `lifeboat serve` and `lifeboat worker` as real processes:
 * start one and wait for its ready line, stop one with a signal, wait for a condition, and
 * read the pid out of a catalog job's owner (`host:pid:...`), and the shape of a catalog job row.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { systemClock } from '../../src/clock.js';
import { type CliResult, startCli } from './cli.js';

export interface CliProc {
  child: ChildProcess;
  /** Everything the process wrote so far, stdout and stderr. */
  out: () => string;
  /** The ready line's match (its groups, e.g. the listen address). */
  match: RegExpExecArray;
}

/** A started process as a test keeps it: the child, its output, and its ready line's first group. */
export interface FleetProc {
  child: ChildProcess;
  out: () => string;
  base?: string;
}

/** Starts `lifeboat args` and resolves once its output matches `ready`; rejects if it exits first. */
export function startUntil(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  ready: RegExp,
  procs?: Set<ChildProcess>,
): Promise<CliProc> {
  const child = startCli(args, env, cwd);
  procs?.add(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d) => {
    out += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const match = ready.exec(out);
      if (match) {
        clearInterval(timer);
        resolve({ child, out: () => out, match });
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`${args[0]} exited ${child.exitCode}:\n${out}`));
      }
    }, 50);
  });
}

/** Stops a process with `signal`; resolves with its exit code (null when a signal ended it). */
export async function stopProc(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  procs?: Set<ChildProcess>,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  const code = await exited;
  procs?.delete(child);
  return code;
}

/** Polls `ok` until it holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await systemClock.sleep(100);
  }
}

/** The config's repository and server parts for fleet tests: a short lease, quick polls. */
export function fleetConfigHead(repo: string, catalog: string): string {
  return `
repository:
  url: ${repo}
server:
  catalog: ${catalog}
  concurrency: 2
  shutdown_grace: 2s
  fleet: { lease: 2s, poll: 1s, retry_delay: 1s, retries: 2 }
`;
}

/** A job row of the PostgreSQL catalog (`lifeboat.jobs`), as the fleet tests read it. */
export interface CatalogJobRow {
  id: string;
  kind: string;
  source: string | null;
  status: string;
  trigger: string;
  owner: string | null;
  error: string | null;
  created_at: string;
  bytes_stored: number | null;
  snapshots: string[];
}

/** The pid in a catalog job's owner. */
export const pidOf = (owner: string | null): number => Number(owner?.split(':')[1]);

/** The test's environment for Lifeboat processes: none of the caller's LIFEBOAT_ settings, cheap scrypt, warnings only. */
export function fleetEnv(password: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
  return {
    ...env,
    LIFEBOAT_PASSWORD: password,
    LIFEBOAT_KDF_N: '1024',
    LIFEBOAT_LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** `lifeboat init`, then an operator token named `op`; returns the token. */
export async function initWithOperator(cli: (args: string[]) => Promise<CliResult>): Promise<string> {
  const init = await cli(['init']);
  assert.equal(init.code, 0, init.stderr);
  const t = await cli(['token', 'create', 'op', '--role', 'operator']);
  assert.equal(t.code, 0, t.stderr);
  return t.stdout.trim();
}

/** SIGKILLs the processes still running (after a failed test). */
export function killLeft(procs: Set<ChildProcess>): void {
  for (const c of procs) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
