/**
 * @module self-command
 * How this program runs itself again (restore_command, fetch agents, drill relays): the
 * same node and entry script, with the same config file.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** argv that runs this Lifeboat again with the given config file. */
export function selfArgv(config?: string): string[] {
  const argv = [process.execPath, resolve(process.argv[1])];
  if (config) argv.push('--config', resolve(config));
  return argv;
}

/**
 * `argv` (from selfArgv) as a shell command line: through the sh front bin/lifeboat when it
 * is there (it answers prefetched WAL fetches without starting Node.js), told which node
 * to use.
 */
export function shellCommand(argv: readonly string[]): string {
  const [node, js, ...rest] = argv;
  const front = join(dirname(js), 'lifeboat');
  const head = existsSync(front)
    ? [`LIFEBOAT_NODE=${shQuote(node)}`, shQuote(front)]
    : [node, js].map(shQuote);
  return [...head, ...rest.map(shQuote)].join(' ');
}

export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
