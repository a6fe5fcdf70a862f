/**
 * @module cli/repo-commands
 * init, snapshots, check, forget, prune, key, unlock: parse, call one job, render.
 * The options only: the handlers are in repo-actions.ts, loaded when their command runs.
 */

import { type Command, InvalidArgumentError } from 'commander';
import { DURATION_PATTERN } from '../config/duration.js';
import { registerCopyCommand } from './copy-command.js';
import { type Action, collect, later } from './shell.js';

const load = () => import('./repo-actions.js');

export function registerRepoCommands(program: Command, action: Action): void {
  program
    .command('init')
    .description('create the repository named by the config or LIFEBOAT_REPO')
    .action(action(later(load, 'init')));

  program
    .command('snapshots')
    .description('list snapshots, oldest first')
    .option('--source <name>', 'only this source')
    .option('--tag <tag>', 'only snapshots with this tag')
    .option('--before <time>', 'only snapshots taken before this time')
    .option('--after <time>', 'only snapshots taken after this time')
    .option('--all', "also restore drills' reports (kind drill)")
    .action(action(later(load, 'snapshots')));

  program
    .command('check')
    .description('verify the repository structure, and with --read-data every byte')
    .option('--read-data', 'read and verify every pack')
    .option('--read-data-subset <pct>', 'read and verify this percentage of packs (e.g. 10 or 10%)')
    .action(action(later(load, 'check')));

  const forget = program
    .command('forget [snapshots...]')
    .description('remove snapshots that the keep policy does not keep, or the snapshots named by id')
    .option('--source <name>', 'only this source')
    .option('--prune', 'prune unreferenced data afterwards')
    .option('--dry-run', 'show what would be removed, remove nothing')
    .option('--keep-tag <tag>', 'keep snapshots with this tag (repeatable)', collect, [])
    .option('--all', "apply the policy to restore drills' reports too");
  for (const k of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly']) {
    forget.option(
      `--keep-${k} <n>`,
      `keep the ${k === 'last' ? 'last n snapshots' : `last n ${k} snapshots`}`,
      count,
    );
  }
  forget.option(
    '--keep-within <duration>',
    'keep every snapshot younger than this (30d, 12h, 2w, 1y), counted back from the newest',
    duration,
  );
  forget.action(action(later(load, 'forgetCommand')));

  program
    .command('prune')
    .description('remove data no snapshot references')
    .option('--dry-run', 'only report')
    .option(
      '--grace <duration>',
      'mark unused packs, delete them once marked this long (like 24h); backups go on meanwhile (default: repository.prune_grace, else 0: delete at once, backups wait)',
      graceDuration,
    )
    .action(action(later(load, 'prune')));

  registerCopyCommand(program, action);

  program
    .command('unlock')
    .description('remove locks left by processes that are gone')
    .option('--force', 'remove every lock, even ones that look alive')
    .action(action(later(load, 'unlock')));
}

function count(value: string): number {
  const n = Number(value);
  // InvalidArgumentError makes commander report it as a usage error (exit 2).
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`"${value}" is not a count: give a whole number`);
  return n;
}

function graceDuration(value: string): string {
  return value === '0' ? value : duration(value);
}

function duration(value: string): string {
  if (!DURATION_PATTERN.test(value))
    throw new InvalidArgumentError(
      `"${value}" is not a duration: give a whole number and a unit, like 30d, 12h, 2w or 1y`,
    );
  return value;
}
