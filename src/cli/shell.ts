/**
 * @module cli/shell
 * The wrapper every command runs in: global options merged, context built, errors mapped
 * to messages and exit codes in one place.
 */
import type { Command } from 'commander';
import { EXIT_CODES, isLifeboatError } from '../errors.js';
import { CliContext, type GlobalOptions } from './context.js';

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

export function makeAction(): Action {
  return (handler) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const options = command.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
      const positional = args.slice(0, -2);
      try {
        const ctx = await CliContext.create(options);
        await handler(ctx, options, ...positional);
        await ctx.close();
      } catch (err) {
        reportError(err, !!options.debug);
      }
    };
}

export function reportError(err: unknown, debug: boolean): never {
  if (isLifeboatError(err)) {
    process.stderr.write(`lifeboat: ${err.message}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exit(EXIT_CODES[err.code] ?? 1);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    `lifeboat: internal error: ${message} (rerun with --debug for details, and report it)\n`,
  );
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
