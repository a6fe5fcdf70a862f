/**
 * @module bench/lifeboat-command
 * How the benchmarks start Lifeboat: as users do, through the `lifeboat` command (the sh
 * front bin/lifeboat, which starts Node with the program's flags), or `node FILE` for an
 * entry script given as a `.js` file (e.g. another build's bin/lifeboat.js).
 */
import { fileURLToPath } from 'node:url';

/** This checkout's `lifeboat` command. */
export const LIFEBOAT_COMMAND = fileURLToPath(new URL('../../bin/lifeboat', import.meta.url));

/** The program and arguments that run `entry` with `args`. */
export function lifeboatArgv(entry: string, args: readonly string[]): [string, string[]] {
  return entry.endsWith('.js') ? [process.execPath, [entry, ...args]] : [entry, [...args]];
}
