/**
 * @module sources/dump-runner
 * The one way sources run engine tools (pg_dump, pg_restore, mariadb-dump, mariadb, ...):
 * spawn without a shell, stream stdout or feed stdin, keep the tail of stderr for the error,
 * check the exit status, and keep secrets in the child's environment only (never in argv,
 * where `ps` shows them, and never in messages).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { LifeboatError } from '../errors.js';

export interface ToolCommand {
  /** The engine, for messages: "postgres", "mysql". */
  engine: string;
  command: string;
  args: string[];
  /** Extra environment for the child (PGPASSWORD, MYSQL_PWD, ...). */
  env?: Record<string, string>;
  /** Debian package that provides the command, for the "not found" message. */
  packageHint: string;
  /** Strings to blank out of any message (passwords). */
  secrets?: string[];
}

const STDERR_KEEP = 8 * 1024;

function start(cmd: ToolCommand, stdio: ['ignore' | 'pipe', 'pipe' | 'ignore', 'pipe']): ChildProcess {
  return spawn(cmd.command, cmd.args, {
    stdio,
    env: { ...process.env, ...cmd.env },
  });
}

/** Runs a tool whose stdout is the artifact; `consume` reads it (e.g. into the repository). */
export async function runDumpTool<T>(
  cmd: ToolCommand,
  consume: (stdout: AsyncIterable<Buffer>) => Promise<T>,
): Promise<T> {
  const child = start(cmd, ['ignore', 'pipe', 'pipe']);
  const watch = watchChild(child, cmd);
  try {
    const result = await consume(child.stdout as AsyncIterable<Buffer>);
    await watch.done;
    return result;
  } catch (err) {
    child.kill('SIGKILL');
    // The tool's own failure explains a truncated stream better than the reader's error.
    await watch.done.catch((toolErr) => {
      throw toolErr;
    });
    throw err;
  }
}

/** Runs a tool that reads the artifact on stdin (pg_restore, mariadb); returns its stdout. */
export async function runRestoreTool(
  cmd: ToolCommand,
  input: AsyncIterable<Uint8Array> | undefined,
): Promise<string> {
  const child = start(cmd, [input ? 'pipe' : 'ignore', 'pipe', 'pipe']);
  const watch = watchChild(child, cmd);
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (stdout.length < 1024 * 1024) stdout += d;
  });
  if (input && child.stdin) {
    const stdin = child.stdin;
    stdin.on('error', () => {}); // EPIPE when the tool dies; its exit status tells why
    try {
      for await (const chunk of input) {
        if (!stdin.write(chunk)) await Promise.race([once(stdin, 'drain'), watch.done]);
        if (child.exitCode !== null) break;
      }
      stdin.end();
    } catch (err) {
      child.kill('SIGKILL');
      await watch.done.catch(() => {});
      throw err;
    }
  }
  await watch.done;
  return stdout;
}

/** Runs a tool to completion and returns its stdout (version queries, small SQL). */
export function runTool(cmd: ToolCommand): Promise<string> {
  return runRestoreTool(cmd, undefined);
}

function watchChild(child: ChildProcess, cmd: ToolCommand): { done: Promise<void> } {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        reject(
          new LifeboatError(
            'source_failed',
            `[source:${cmd.engine}] ${cmd.command} not found: install the ${cmd.packageHint} package (e.g. apt-get install ${cmd.packageHint})`,
          ),
        );
      } else
        reject(
          new LifeboatError(
            'source_failed',
            `[source:${cmd.engine}] cannot run ${cmd.command}: ${err.message}`,
          ),
        );
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const detail = redact(stderr.trim(), cmd.secrets);
      reject(
        new LifeboatError(
          'source_failed',
          `[source:${cmd.engine}] ${cmd.command} ${how}${detail ? `: ${detail}` : ''}`,
        ),
      );
    });
  });
  done.catch(() => {}); // observed by the caller; avoid an unhandled rejection meanwhile
  return { done };
}

export function redact(text: string, secrets: string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  // Passwords inside connection URLs.
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@/\s]*@/gi, '$1:***@');
}
