/**
 * @module sources/drill-checks
 * What the engines' drill checks share: timing a check, a skipped outcome, finding a tool on
 * PATH and running it with its output kept.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, LifeboatError } from '../errors.js';
import type { DrillCheckResult } from './source.js';

export type CheckOutcome = { ok: boolean; detail: string; skipped?: boolean };

/** Runs one check; a throw is a failed check, never a failed drill. */
export async function timedCheck(
  name: string,
  now: () => number,
  run: () => Promise<CheckOutcome> | CheckOutcome,
): Promise<DrillCheckResult> {
  const t0 = now();
  try {
    const r = await run();
    return { name, ...r, ms: now() - t0 };
  } catch (err) {
    return { name, ok: false, detail: describe(err), ms: now() - t0 };
  }
}

/** A check that could not run here (its tool is missing), with why. */
export function skippedCheck(detail: string): CheckOutcome {
  return { ok: false, skipped: true, detail };
}

export function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** The last lines of a tool's output, short enough for a report. */
export function lastLines(text: string): string {
  return text.split('\n').slice(-6).join(' | ').slice(-600);
}

/** Runs a program to its end: its exit code and the last 64 kB of its output (both streams). */
export function runProgram(
  program: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(program, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const add = (d: string) => {
      output = (output + d).slice(-64_000);
    };
    child.stdout.setEncoding('utf8').on('data', add);
    child.stderr.setEncoding('utf8').on('data', add);
    child.on('error', (err) => resolve({ code: 127, output: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Throws, saying what is missing, when a drill's scratch server cannot run here (`why` set). */
export function needScratch(what: string, why: string | null): void {
  if (why) throw new LifeboatError('usage', `[drill] no scratch ${what}: ${why}; or set drill.scratch_url`);
}
