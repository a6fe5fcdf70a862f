/**
 * @module cli/app-commands
 * Applications on the command line: `points` lists recovery points; `backup --app`,
 * `restore --app` and `drill --app` (registered with their commands, which hand over here)
 * take a point, restore one after printing its plan, and drill one. Each parses, calls one
 * job, renders.
 * The options only: the handlers are in app-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { type Action, later } from './shell.js';

const load = () => import('./app-actions.js');

export function registerAppCommands(program: Command, action: Action): void {
  program
    .command('points')
    .description("list applications' recovery points: their sources, sizes and completeness")
    .option('--app <name>', 'only this application')
    .option('--before <time>', 'only points taken before this time ("2024-01-15 10:00")')
    .option('--complete', 'only complete points (every source saved)')
    .action(action(later(load, 'points')));
}
