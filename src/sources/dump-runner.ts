/**
 * @module sources/dump-runner
 * The one way sources run engine tools (pg_dump, pg_restore, mariadb-dump, mariadb, ...):
 * spawn without a shell, stream stdout or feed stdin, keep the tail of stderr for the error,
 * check the exit status, and keep secrets in the child's environment only (never in argv,
 * where `ps` shows them, and never in messages).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { LifeboatError } from '../errors.js';

export interface ToolCommand {
  /** The engine, for messages: "postgres", "mysql". */
  engine: string;
  command: string;
  args: string[];
  /** Extra environment for the child (PGPASSWORD, MYSQL_PWD, ...). */
  env?: Record<string, string>;
  /** Debian package that provides the command, for the "not found" message. */
  packageHint?: string;
  /** What messages call the tool (default: `command`), e.g. `source "k8s": kubectl`. */
  label?: string;
  /**
   * Run the tool in its own process group and kill the whole group: a shell's children
   * (`a | b`) must not outlive it, holding the output open.
   */
  group?: boolean;
  /** Strings to blank out of any message (passwords). */
  secrets?: string[];
  /** Aborting kills the tool (SIGKILL); the run rejects with the signal's reason. */
  signal?: AbortSignal;
}

const STDERR_KEEP = 8 * 1024;

function start(cmd: ToolCommand, stdio: ['ignore' | 'pipe', 'pipe' | 'ignore', 'pipe']): ChildProcess {
  return spawn(cmd.command, cmd.args, {
    stdio,
    env: { ...process.env, ...cmd.env },
    detached: cmd.group === true,
  });
}

function kill(child: ChildProcess, cmd: ToolCommand): void {
  if (cmd.group && child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
      return;
    } catch {
      // The group is gone already; the child itself may still be reaped below.
    }
  }
  child.kill('SIGKILL');
}

/**
 * Runs a tool whose stdout is the artifact; `consume` reads it (e.g. into the repository).
 * With `input`, the tool reads that on stdin meanwhile (pg_restore turning an archive into SQL).
 */
export async function runDumpTool<T>(
  cmd: ToolCommand,
  consume: (stdout: AsyncIterable<Buffer>) => Promise<T>,
  input?: AsyncIterable<Uint8Array>,
): Promise<T> {
  cmd.signal?.throwIfAborted();
  const child = start(cmd, [input ? 'pipe' : 'ignore', 'pipe', 'pipe']);
  const watch = watchChild(child, cmd);
  try {
    const fed = input ? feed(child, cmd, watch, input) : Promise.resolve();
    const [result] = await Promise.all([consume(child.stdout as AsyncIterable<Buffer>), fed]);
    await watch.done;
    return result;
  } catch (err) {
    // The tool's own failure (it exited on its own, non-zero) explains a truncated stream
    // better than the reader's error; a tool we kill here is not the cause.
    const exitedOnItsOwn = child.exitCode !== null || child.signalCode !== null;
    kill(child, cmd);
    const toolErr = await watch.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (exitedOnItsOwn && toolErr && !watch.aborted()) throw toolErr;
    throw err;
  }
}

/** Runs a tool that reads the artifact on stdin (pg_restore, mariadb); returns its stdout. */
export async function runRestoreTool(
  cmd: ToolCommand,
  input: AsyncIterable<Uint8Array> | undefined,
): Promise<string> {
  cmd.signal?.throwIfAborted();
  const child = start(cmd, [input ? 'pipe' : 'ignore', 'pipe', 'pipe']);
  const watch = watchChild(child, cmd);
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (stdout.length < 1024 * 1024) stdout += d;
  });
  if (input) await feed(child, cmd, watch, input);
  await watch.done;
  return stdout;
}

/** Writes `input` to the tool's stdin, then closes it; a failing input kills the tool. */
async function feed(
  child: ChildProcess,
  cmd: ToolCommand,
  watch: { done: Promise<void> },
  input: AsyncIterable<Uint8Array>,
): Promise<void> {
  const stdin = child.stdin;
  if (!stdin) return;
  // EPIPE when the tool stops reading (it died, or it needed only the start of the input,
  // like `pg_restore -l`): its exit status says which.
  let closed = false;
  stdin.on('error', () => {
    closed = true;
  });
  const exited = watch.done.then(
    () => {},
    () => {},
  );
  try {
    for await (const chunk of input) {
      if (closed || child.exitCode !== null || child.signalCode !== null) break;
      if (!stdin.write(chunk)) {
        await writable(child, stdin);
      }
    }
    stdin.end();
  } catch (err) {
    kill(child, cmd);
    await exited;
    throw err;
  }
}

/** Resolves when the tool's stdin can take more, or will never again (closed, tool gone). */
function writable(child: ChildProcess, stdin: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      stdin.off('error', done);
      child.off('exit', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
    stdin.on('error', done);
    child.on('exit', done);
    if (child.exitCode !== null || child.signalCode !== null) done();
  });
}

/** Runs a tool to completion and returns its stdout (version queries, small SQL). */
export function runTool(cmd: ToolCommand): Promise<string> {
  return runRestoreTool(cmd, undefined);
}

function watchChild(child: ChildProcess, cmd: ToolCommand): { done: Promise<void>; aborted(): boolean } {
  let stderr = '';
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    kill(child, cmd);
  };
  const label = cmd.label ?? cmd.command;
  cmd.signal?.addEventListener('abort', onAbort, { once: true });
  child.once('close', () => cmd.signal?.removeEventListener('abort', onAbort));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        const hint = cmd.packageHint
          ? `install the ${cmd.packageHint} package (e.g. apt-get install ${cmd.packageHint})`
          : 'check the command name and PATH';
        reject(new LifeboatError('source_failed', `[source:${cmd.engine}] ${label} not found: ${hint}`));
      } else
        reject(
          new LifeboatError('source_failed', `[source:${cmd.engine}] cannot run ${label}: ${err.message}`),
        );
    });
    child.on('close', (code, signal) => {
      if (aborted)
        return reject(
          cmd.signal?.reason ??
            new LifeboatError('interrupted', `[source:${cmd.engine}] ${label} was stopped`),
        );
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const detail = redact(stderr.trim(), cmd.secrets);
      reject(
        new LifeboatError(
          'source_failed',
          `[source:${cmd.engine}] ${label} ${how}${detail ? `: ${detail}` : ''}`,
        ),
      );
    });
  });
  done.catch(() => {}); // observed by the caller; avoid an unhandled rejection meanwhile
  return { done, aborted: () => aborted };
}

export function redact(text: string, secrets: string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  // Passwords inside connection URLs.
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@/\s]*@/gi, '$1:***@');
}
