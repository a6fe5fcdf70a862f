/**
 * @module cli/copy-command
 * `lifeboat copy SNAPSHOT|--all --to REPO_URL [--older-than DURATION]`: parse, open both
 * repositories, call the copy job once, render.
 * The options only: the handlers are in copy-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { type Action, later } from './shell.js';

const load = () => import('./copy-actions.js');

export function registerCopyCommand(program: Command, action: Action): void {
  program
    .command('copy [snapshots...]')
    .description('copy snapshots to another repository (an offsite copy); only missing data is sent')
    .requiredOption('--to <url>', 'the destination repository (created beforehand with `lifeboat init`)')
    .option('--all', 'copy every snapshot')
    .option('--older-than <duration>', 'only snapshots older than this (e.g. 1d, 12h)')
    .option(
      '--to-password-file <file>',
      "the destination's password (else LIFEBOAT_TO_PASSWORD, else the source's)",
    )
    .action(action(later(load, 'copy')));
}
