/**
 * @module cli/repair-commands
 * `repair index | packs | snapshots`: parse, call one job (jobs/repair.ts), render.
 * The options only: the handlers are in repair-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { type Action, later } from './shell.js';

const load = () => import('./repair-actions.js');

export function registerRepairCommands(program: Command, action: Action): void {
  const repair = program
    .command('repair')
    .description(
      'repair a damaged repository: index, packs, snapshots (run `lifeboat check --read-data` first)',
    );
  repair
    .command('index')
    .description('rebuild the index from the pack headers; drop entries of missing packs')
    .option('--dry-run', 'only report')
    .action(action(later(load, 'index')));
  repair
    .command('packs [id...]')
    .description('copy every blob that still opens out of damaged packs, then remove them')
    .option('--dry-run', 'only report')
    .action(action(later(load, 'packs')));
  repair
    .command('snapshots')
    .description('write new snapshots without the data that is gone, cut entries marked damaged')
    .option('--forget', 'remove the original snapshots (and unreadable snapshot files)')
    .option('--dry-run', 'only report')
    .action(action(later(load, 'snapshots')));
}
