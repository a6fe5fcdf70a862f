/**
 * @module jobs/hooks
 * Hook commands around backup and restore, the same for every source type: `before_*`
 * failing aborts the job with the hook's output in the error; `after_*` always runs and
 * learns the outcome from LIFEBOAT_STATUS.
 */
import { spawn } from 'node:child_process';
import { parseDuration } from '../config/duration.js';
import { LifeboatError } from '../errors.js';

export interface HooksConfig {
  before_backup?: string;
  after_backup?: string;
  before_restore?: string;
  after_restore?: string;
  timeout?: string;
}

export type HookName = keyof Omit<HooksConfig, 'timeout'>;

/** The job's context, passed to hooks as LIFEBOAT_* environment variables. */
export interface HookContext {
  source: string;
  type: string;
  job: 'backup' | 'restore';
  status?: 'success' | 'failure';
  snapshot?: string;
  error?: string;
  target?: string;
}

const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;
const OUTPUT_LIMIT = 4000;

export interface HookResult {
  code: number | null;
  output: string;
  timedOut: boolean;
}

export async function runHook(
  hooks: HooksConfig | undefined,
  name: HookName,
  ctx: HookContext,
): Promise<void> {
  const command = hooks?.[name];
  if (!command) return;
  const timeoutMs = hooks?.timeout ? parseDuration(hooks.timeout) : DEFAULT_TIMEOUT_MS;
  const r = await execHook(command, hookEnv(ctx, name), timeoutMs);
  if (r.code === 0 && !r.timedOut) return;
  const why = r.timedOut ? `timed out after ${Math.round(timeoutMs / 1000)}s` : `exited with code ${r.code}`;
  const output = r.output.trim() ? `; output: ${r.output.trim()}` : '';
  throw new LifeboatError(
    'source_failed',
    `[hooks] ${name} hook of source "${ctx.source}" ${why}${output} (fix the command in the source's hooks, or raise hooks.timeout)`,
  );
}

function hookEnv(ctx: HookContext, name: HookName): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LIFEBOAT_HOOK: name,
    LIFEBOAT_JOB: ctx.job,
    LIFEBOAT_SOURCE: ctx.source,
    LIFEBOAT_SOURCE_TYPE: ctx.type,
  };
  // The repository password is not the hook's business.
  delete env.LIFEBOAT_PASSWORD;
  delete env.LIFEBOAT_NEW_PASSWORD;
  if (ctx.status) env.LIFEBOAT_STATUS = ctx.status;
  if (ctx.snapshot) env.LIFEBOAT_SNAPSHOT = ctx.snapshot;
  if (ctx.error) env.LIFEBOAT_ERROR = ctx.error;
  if (ctx.target) env.LIFEBOAT_TARGET = ctx.target;
  return env;
}

function execHook(command: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<HookResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const take = (d: Buffer) => {
      if (output.length < OUTPUT_LIMIT) output += d.toString('utf8').slice(0, OUTPUT_LIMIT - output.length);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole process group: a hook's own children must not outlive it.
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, output: String(err), timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

/** Runs `body` between before and after hooks; the after hook runs whatever happens. */
export async function withHooks<T>(
  hooks: HooksConfig | undefined,
  phase: 'backup' | 'restore',
  ctx: Omit<HookContext, 'job'>,
  body: () => Promise<T>,
  describeResult: (result: T) => Partial<HookContext> = () => ({}),
): Promise<T> {
  const base: HookContext = { ...ctx, job: phase };
  let result: T;
  try {
    await runHook(hooks, `before_${phase}`, base);
    result = await body();
  } catch (err) {
    await runHook(hooks, `after_${phase}`, {
      ...base,
      status: 'failure',
      error: err instanceof Error ? err.message : String(err),
    }).catch(() => {}); // the job's own error is the one to report
    throw err;
  }
  await runHook(hooks, `after_${phase}`, { ...base, status: 'success', ...describeResult(result) });
  return result;
}
