/**
 * @module self-command
 * How this program runs itself again (restore_command, fetch agents, drill relays): the
 * same node and entry script, with the same config file.
 */
import { resolve } from 'node:path';

/** argv that runs this Lifeboat again with the given config file. */
export function selfArgv(config?: string): string[] {
  const argv = [process.execPath, resolve(process.argv[1])];
  if (config) argv.push('--config', resolve(config));
  return argv;
}
