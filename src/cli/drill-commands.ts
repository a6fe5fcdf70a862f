/**
 * @module cli/drill-commands
 * `lifeboat drill [SOURCE] [--snapshot ID]`: run a restore drill (one per unit of a source
 * that backs up as several); `--list [SOURCE]`: the drill reports kept in the repository;
 * `--show ID`: one report, as Markdown or (--json) JSON.
 * The options only: the handlers are in drill-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { type Action, later } from './shell.js';

const load = () => import('./drill-actions.js');

export function registerDrillCommands(program: Command, action: Action): void {
  program
    .command('drill [source]')
    .description('restore a snapshot into a scratch target, check it, and keep the report')
    .option('--snapshot <id>', 'the snapshot to drill (default: the latest of SOURCE)')
    .option('--list', 'list the drill reports kept in the repository')
    .option('--show <id>', 'print one kept drill report (Markdown; with --json, the JSON report)')
    .option('--app <name>', 'drill a whole application: every source of its newest complete point, at once')
    .option('--point <id>', 'with --app: the recovery point to drill')
    .action(action(later(load, 'drill')));
}
