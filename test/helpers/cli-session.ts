/**
 * @module test/helpers/cli-session
 * The bookkeeping the CLI integration suites share: every run of the real CLI is recorded, so
 * a suite's last test can check that no output shows its password(s) and no error a stack
 * trace. Builds on test/helpers/cli.ts.
 */
import assert from 'node:assert/strict';
import { type CliResult, runCli, startCli } from './cli.js';

/** A line of a JavaScript stack trace, or node's report of a crash. */
export const STACK = /^\s+at .+:\d+:\d+\)?$|Unhandled 'error' event|internal error/m;

/** One recorded run; `sweep: false` leaves it out of the final stack-trace check. */
export interface Run {
  args: string[];
  result: CliResult;
  sweep: boolean;
}

export function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Environment without any LIFEBOAT_* setting except cheap scrypt, plus `extra`. */
export function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('LIFEBOAT_')) delete env[k];
  return { ...env, LIFEBOAT_KDF_N: '1024', ...extra };
}

export interface CliSessionOptions {
  /** The suite's password, never to appear in any output. */
  password: string;
  /** Every password the suite uses, when there are several (includes `password`). */
  passwords?: string[];
}

/**
 * The runs of one suite. Methods are bound, so they can be destructured:
 * `const { cli, ok, fails } = session;`.
 */
export class CliSession {
  /** Commands run in the suite's own folder, so no ./lifeboat.yaml around the checkout is read. */
  workDir: string | undefined;
  readonly runs: Run[] = [];
  private readonly passwords: string[];

  constructor(options: CliSessionOptions) {
    this.passwords = options.passwords ?? [options.password];
  }

  /** Records a run made some other way (a spawned process), for the final sweep. */
  record = (args: string[], result: CliResult, sweep = true): void => {
    this.runs.push({ args, result, sweep });
  };

  /** Runs the CLI and records the outcome for the final sweep over every output. */
  cli = async (
    args: string[],
    env: NodeJS.ProcessEnv,
    opts: { cwd?: string; sweep?: boolean } = {},
  ): Promise<CliResult> => {
    const result = await runCli(args, env, { cwd: opts.cwd ?? this.workDir });
    this.record(args, result, opts.sweep ?? true);
    return result;
  };

  ok = async (args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<CliResult> => {
    const r = await this.cli(args, env, { cwd });
    assert.equal(r.code, 0, show(args, r));
    return r;
  };

  fails = async (
    args: string[],
    env: NodeJS.ProcessEnv,
    code: number,
    message: RegExp,
    cwd?: string,
  ): Promise<CliResult> => {
    const r = await this.cli(args, env, { cwd });
    assert.equal(r.code, code, show(args, r));
    assert.match(r.stderr, message, show(args, r));
    return r;
  };

  /** Runs the CLI keeping standard output as bytes (for `dump` to stdout). */
  cliBytes = (
    args: string[],
    env: NodeJS.ProcessEnv,
  ): Promise<{ code: number | null; bytes: Buffer; stderr: string }> => {
    return new Promise((resolve, reject) => {
      const child = startCli(args, env, this.workDir);
      const chunks: Buffer[] = [];
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => chunks.push(d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code, signal) => {
        const bytes = Buffer.concat(chunks);
        // The bytes are an artifact the tests compare with the original; only stderr is text.
        this.record(args, { code, signal, stdout: '', stderr });
        resolve({ code, bytes, stderr });
      });
    });
  };

  /** The ids of the snapshots `snapshots --json ...args` lists. */
  ids = async (env: NodeJS.ProcessEnv, ...args: string[]): Promise<string[]> => {
    const list: { id: string }[] = JSON.parse((await this.ok(['snapshots', '--json', ...args], env)).stdout);
    return list.map((s) => s.id);
  };

  /**
   * The final sweep: more than `minRuns` runs were recorded, no output shows a password, and
   * none shows a stack trace (except runs recorded with `sweep: false`, or whose arguments
   * `stackAllowed` accepts).
   */
  assertNoLeaks = (minRuns: number, stackAllowed: (args: string[]) => boolean = () => false): void => {
    assert.ok(this.runs.length > minRuns);
    const what = this.passwords.length > 1 ? 'a password' : 'password';
    for (const { args, result, sweep } of this.runs) {
      const out = result.stdout + result.stderr;
      for (const pw of this.passwords)
        assert.ok(!out.includes(pw), `${what} in the output of lifeboat ${args.join(' ')}`);
      if (sweep && !stackAllowed(args)) assert.doesNotMatch(out, STACK, show(args, result));
    }
  };
}
