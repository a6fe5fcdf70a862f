/**
 * @module cli/wal-commands
 * wal-push (PostgreSQL's archive_command) and wal-fetch (its restore_command) for sources
 * with `method: physical`. Each call opens the repository once; exit 0 means durable
 * (push) or written (fetch); wal-fetch exits 1 when the file is not archived.
 * The options only: the handlers are in wal-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { type Action, later } from './shell.js';

const load = () => import('./wal-actions.js');

export function registerWalCommands(program: Command, action: Action): void {
  program
    .command('wal-push <path>')
    .description("archive one WAL file into the repository (archive_command = 'lifeboat wal-push %p')")
    .option(
      '--source <name>',
      'the physical postgres source (default: the only one, or $LIFEBOAT_WAL_SOURCE)',
    )
    .option('--agent', 'archive ready files until idle (started by the sh front bin/lifeboat)')
    .action(action(later(load, 'walPush')));
  program
    .command('wal-fetch <name> <path>')
    .description(
      "write an archived WAL file to PATH (restore_command = 'lifeboat wal-fetch %f %p'); exit 1 when not archived",
    )
    .option(
      '--source <name>',
      'the physical postgres source (default: the only one, or $LIFEBOAT_WAL_SOURCE)',
    )
    .option(
      '--settings <file>',
      'read the repository and how to get its password from this file (restore --at writes it into the data directory)',
    )
    .option(
      '--prefetch <n>',
      'segments to fetch ahead into pg_wal/lifeboat-prefetch (0: no fetch agent)',
      '16',
    )
    .option('--agent', 'serve fetches and prefetch after NAME until idle (started by wal-fetch itself)')
    .action(action(later(load, 'walFetch')));
}
