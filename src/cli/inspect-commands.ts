/**
 * @module cli/inspect-commands
 * ls, find, diff, stats, tag: look inside snapshots without restoring. Parse, call
 * jobs/snapshot-walk, jobs/repo-stats or jobs/snapshot-tag, render. Listings stream (a
 * --json listing is one JSON array written entry by entry).
 * The options only: the handlers are in inspect-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { type Action, collect, later } from './shell.js';

const load = () => import('./inspect-actions.js');

export function registerInspectCommands(program: Command, action: Action): void {
  program
    .command('ls <snapshot> [path]')
    .description('list what a snapshot holds (below PATH); for dumps, its artifacts and row counts')
    .option('--source <name>', 'with "latest": the source')
    .option('--long', 'mode, owner, size and time, like ls -l')
    .action(action(later(load, 'ls')));

  program
    .command('find <pattern>')
    .description('find files by glob (base name or full path) in every snapshot')
    .option('--source <name>', 'only snapshots of this source')
    .action(action(later(load, 'find')));

  program
    .command('diff <a> <b>')
    .description('files added, removed and changed between two snapshots; for dumps, row counts')
    .option('--source <name>', 'with "latest": the source')
    .action(action(later(load, 'diff')));

  program
    .command('stats')
    .description('repository size, compression and deduplication, restore size per source')
    .option('--mode <mode>', 'raw (what is stored) or restore-size (what restores write); default both')
    .option('--source <name>', 'restore sizes of this source only')
    .action(action(later(load, 'stats')));

  program
    .command('tag <snapshot>')
    .description('add or remove tags of a snapshot (it is rewritten; the old id still finds it)')
    .option('--add <tag>', 'add this tag (repeatable)', collect, [])
    .option('--remove <tag>', 'remove this tag (repeatable)', collect, [])
    .option('--source <name>', 'with "latest": the source')
    .action(action(later(load, 'tag')));
}
