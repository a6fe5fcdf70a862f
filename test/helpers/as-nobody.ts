/**
 * @module test/helpers/as-nobody
 * Runs the real CLI as the unprivileged user nobody, so files can be made unreadable to it
 * (root reads everything): through the first of runuser or setpriv that works here.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { BIN } from './cli.js';
import { collect, type Exit } from './repo-files.js';

export interface Nobody {
  uid: number;
  gid: number;
  /** The wrapper used, e.g. "runuser". */
  via: string;
  start(args: string[], env: NodeJS.ProcessEnv, cwd: string): ChildProcess;
  run(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Exit>;
}

// setpriv first: it execs the command, so signals reach it (runuser relays them late).
const WRAPPERS = [
  ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'],
  ['setpriv', '--reuid=nobody', '--regid=nobody', '--clear-groups'],
  ['runuser', '-u', 'nobody', '--'],
];

function wrapped(prefix: string[]) {
  const start = (args: string[], env: NodeJS.ProcessEnv, cwd: string) =>
    spawn(prefix[0], [...prefix.slice(1), process.execPath, BIN, ...args], {
      env,
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  return {
    start,
    run: (args: string[], env: NodeJS.ProcessEnv, cwd: string) => collect(start(args, env, cwd)),
  };
}

/** A way to run the CLI as nobody, or why there is none (for `t.skip`). */
export async function asNobody(env: NodeJS.ProcessEnv, cwd: string): Promise<Nobody | string> {
  if (process.getuid?.() !== 0) return 'needs root to run the CLI as nobody';
  const reasons: string[] = [];
  for (const w of WRAPPERS) {
    const { start, run } = wrapped(w);
    const probe = await run(['--version'], env, cwd).catch((err: Error) => ({
      code: -1,
      signal: null,
      stdout: '',
      stderr: err.message,
    }));
    if (probe.code === 0) {
      const uid = Number(execFileSync('id', ['-u', 'nobody']).toString());
      const gid = Number(execFileSync('id', ['-g', 'nobody']).toString());
      return { uid, gid, via: w[0], start, run };
    }
    reasons.push(`${w.join(' ')}: ${probe.stderr.trim()}`);
  }
  return `cannot run as nobody: ${reasons.join('; ')}`;
}
