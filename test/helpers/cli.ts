/**
 * @module test/helpers/cli
 * Runs the real `lifeboat` CLI (bin/lifeboat.js) in a child process, for integration tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../../bin/lifeboat.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment for a test repository: cheap scrypt so tests stay fast. */
export function repoEnv(repo: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LIFEBOAT_REPO: repo,
    LIFEBOAT_PASSWORD: 'test-password',
    LIFEBOAT_KDF_N: '1024',
    ...extra,
  };
  delete env.LIFEBOAT_CONFIG;
  return env;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv, cwd?: string): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startCli(args, env, options.cwd);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Like runCli, but throws with the output when the exit code is not 0. */
export async function lifeboat(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<CliResult> {
  const r = await runCli(args, env, { cwd });
  if (r.code !== 0) {
    throw new Error(`lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r;
}

/** A temporary folder removed by the returned cleanup. */
export async function tempDir(
  prefix = 'lifeboat-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
