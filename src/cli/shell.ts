/**
 * @module cli/shell
 * The wrapper every command runs in: global options merged, context built, errors mapped
 * to messages and exit codes in one place.
 */
import type { Command } from 'commander';
import { EXIT_CODES, errorJson, isLifeboatError } from '../errors.js';
import type { CliContext, GlobalOptions } from './context.js';

// biome-ignore lint/suspicious/noExplicitAny: commander hands options as loosely typed records
export type Handler = (ctx: CliContext, options: any, ...args: any[]) => Promise<void>;
export type Action = (handler: Handler) => (...args: unknown[]) => Promise<void>;

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A plain text table, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  print(line(header));
  print(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) print(line(r));
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * The handler `name` of the module `load` imports, loaded when its command runs: a command's
 * implementation (jobs, the repository, engines, SDKs) stays unloaded for every other command
 * and for --help and --version.
 */
export function later<K extends string>(load: () => Promise<Record<K, Handler>>, name: K): Handler {
  return async (ctx, options, ...args) => (await load())[name](ctx, options, ...args);
}

export function makeAction(): Action {
  return (handler) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const options = command.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
      const positional = args.slice(0, -2);
      try {
        const { CliContext } = await import('./context.js');
        const ctx = await CliContext.create(options);
        await handler(ctx, options, ...positional);
        await ctx.close();
      } catch (err) {
        reportError(err, { debug: !!options.debug, json: !!options.json });
      }
    };
}

/**
 * The error on stderr and the exit code its code maps to: `lifeboat: message`, or with
 * --json one JSON object (`type`, `code`, `exit`, `message`, `retryable`).
 */
export function reportError(err: unknown, options: { debug?: boolean; json?: boolean } = {}): never {
  const known = isLifeboatError(err);
  const message = known
    ? err.message
    : `internal error: ${err instanceof Error ? err.message : String(err)} (rerun with --debug for details, and report it)`;
  const exit = known ? (EXIT_CODES[err.code] ?? 1) : 1;
  if (options.json) process.stderr.write(`${JSON.stringify(errorJson(err, exit))}\n`);
  else process.stderr.write(`lifeboat: ${message}\n`);
  if (options.debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(exit);
}
