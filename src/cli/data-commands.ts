/**
 * @module cli/data-commands
 * backup, restore, dump: parse, call one job, render.
 * The options only: the handlers are in data-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { knownSourceTypes, restoreScopes } from '../sources/registry.js';
import { type Action, collect, later } from './shell.js';

const load = () => import('./data-actions.js');

export function registerDataCommands(program: Command, action: Action): void {
  program
    .command('backup [sources...]')
    .description('back up the named sources (default: all in the config)')
    .option('--tag <tag>', 'tag the snapshots (repeatable)', collect, [])
    .option('--app <name>', 'one recovery point of an application: all its sources (apps: in the config)')
    .option(
      '--type <type>',
      `a source given on the command line: its engine (${knownSourceTypes().join(', ')})`,
    )
    .option('--name <name>', 'a source given on the command line: its name')
    .option('--path <path>', 'a source given on the command line: its path')
    .option('--url <url>', 'a source given on the command line: its URL')
    .option('--exclude <glob>', 'a source given on the command line: exclude glob (repeatable)', collect, [])
    .option('--method <method>', 'a postgres source given on the command line: logical (default) or physical')
    .option(
      '--command <command>',
      'a command source given on the command line: what prints the data (run by /bin/sh -c)',
    )
    .action(action(later(load, 'backup')));

  const restoreCommand = program
    .command('restore [snapshot]')
    .description('restore a snapshot (an id, a unique prefix, or "latest"), or an application (--app)')
    .option('--source <name>', 'the source whose snapshot to restore')
    .option('--to <target>', 'restore here instead of the original location');
  // The scopes are the engines' declarations (sources/restore-scopes): the API takes the same.
  for (const scope of restoreScopes()) {
    const flag = `--${scope.flag} <${scope.value}>`;
    if (scope.type === 'names') restoreCommand.option(flag, scope.help, collect, []);
    else restoreCommand.option(flag, scope.help);
  }
  restoreCommand
    .option(
      '--at <time>',
      'point in time: PostgreSQL physical sources TIME, latest, name:POINT, lsn:X/Y or xid:N (with --table: its rows then, into --to DATABASE); other sources TIME (the newest snapshot at or before it)',
    )
    .option(
      '--data-only',
      'with --table or --schema (PostgreSQL): replace only the rows, in one transaction; definitions and what depends on the tables stay',
    )
    .option(
      '--no-privileges',
      'files: drop setuid/setgid bits and refuse device nodes (always so for a snapshot a write-only key wrote)',
    )
    .option('--devices', 'files, without privileges: create device nodes all the same')
    .option('--overwrite', 'replace what is at the target')
    .option('--dry-run', 'show what would be restored, write nothing')
    .option(
      '--verify',
      'with --at and --to DATADIR (PostgreSQL physical): start PostgreSQL on it, let it recover and promote, check it, stop it (default with --app)',
    )
    .option('--no-verify', 'with --app: set point-in-time sources to recover without starting them')
    .option(
      '--app <name>',
      'restore an application: a plan first, then every source (with --point or --at, --env)',
    )
    .option('--point <id>', 'with --app: the recovery point to restore')
    .option('--env <name>', "with --app: the environment to restore into (the app's targets there)")
    .option('--only <sources>', 'with --app: only these sources (comma-separated; repeatable)', collect, [])
    .action(action(later(load, 'restore')));

  program
    .command('dump <snapshot>')
    .description('write the native artifact of a snapshot (pg_dump archive, SQLite file, ...)')
    .option('--source <name>', 'the source whose snapshot to dump')
    .option('--output <file>', 'write here instead of standard output')
    .option('--path <path>', 'the file inside the snapshot, when it holds several')
    .action(action(later(load, 'dump')));
}
