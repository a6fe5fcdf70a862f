/**
 * @module test/helpers/terminal
 * Runs the real CLI on a pseudo-terminal (util-linux `script`), answering prompts as they
 * appear, for tests of what a person at a terminal sees: password prompts, the progress bar.
 */
import { spawn, spawnSync } from 'node:child_process';
import { BIN } from './cli.js';

/** Why terminal tests cannot run here, or undefined when they can. */
export function terminalUnavailable(): string | undefined {
  const r = spawnSync('script', ['-qec', 'true', '/dev/null'], { stdio: 'ignore' });
  return r.status === 0
    ? undefined
    : 'util-linux `script` is not installed (it provides the pseudo-terminal)';
}

export interface TerminalResult {
  code: number | null;
  /** Everything the terminal showed (stdout and stderr together), without carriage returns. */
  screen: string;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `lifeboat args` on a terminal; each answer is typed (with Enter) once the screen ends with
 * a prompt (a line ending in ": ") not answered yet.
 */
export function runOnTerminal(
  args: string[],
  env: NodeJS.ProcessEnv,
  answers: string[] = [],
  options: { cwd?: string; columns?: number } = {},
): Promise<TerminalResult> {
  const command = `stty cols ${options.columns ?? 120} 2>/dev/null; exec ${quote(process.execPath)} ${quote(BIN)} ${args.map(quote).join(' ')}`;
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  let prompts = 0;
  const queue = [...answers];
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      screen += d.replace(/\r/g, '');
      const seen = screen.match(/: $/gm)?.length ?? 0;
      if (/: $/.test(screen) && seen > prompts && queue.length > 0) {
        prompts = seen;
        const answer = queue.shift() as string;
        // Typed a moment later, as a person would: raw mode is set by then.
        setTimeout(() => child.stdin.write(`${answer}\r`), 30);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      screen += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      child.stdin.destroy();
      resolve({ code, screen });
    });
  });
}
