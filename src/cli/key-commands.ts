/**
 * @module cli/key-commands
 * `lifeboat key ...`: passwords (add, list, remove, passwd), data-key epochs (rotate,
 * retire) and escrow (export, import). Parse, call the repository or a job, render.
 * The options only: the handlers are in key-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { type Action, later } from './shell.js';

const load = () => import('./key-actions.js');

export function registerKeyCommands(program: Command, action: Action): void {
  const key = program.command('key').description('manage passwords, data-key epochs and key escrow');
  key
    .command('list')
    .description('list keys (passwords) and data-key epochs')
    .action(action(later(load, 'keyList')));
  key
    .command('add')
    .description('add a password (from --new-password-file, LIFEBOAT_NEW_PASSWORD, or a prompt)')
    .option('--new-password-file <file>', 'read the new password from this file')
    .option('--write-only', 'a key that can add snapshots but not read, list, forget or prune')
    .action(action(later(load, 'keyAdd')));
  key
    .command('remove <id>')
    .description('remove a key by id or prefix')
    .action(action(later(load, 'keyRemove')));
  key
    .command('passwd')
    .description('change the password used now')
    .option('--new-password-file <file>', 'read the new password from this file')
    .action(action(later(load, 'keyPasswd')));
  key
    .command('rotate')
    .description('start a new data-key epoch; with --reencrypt, rewrite older data under it')
    .option('--reencrypt', 'rewrite packs, indexes and snapshots of older epochs (resumable)')
    .action(action(later(load, 'keyRotate')));
  key
    .command('retire <epoch>')
    .description("remove an old epoch's data key once nothing uses it")
    .action(action(later(load, 'keyRetire')));
  key
    .command('export')
    .description('write the master key sealed for an age recipient or a passphrase (escrow)')
    .option('--recipient <public-key>', 'an age public key (from age-keygen)')
    .option('--passphrase-file <file>', 'seal with the passphrase in this file instead')
    .option('--output <file>', 'write here instead of standard output')
    .action(action(later(load, 'keyExport')));
  key
    .command('import <file>')
    .description('regain access from an escrow file: adds a key for a new password')
    .option('--identity <file>', 'the age secret key file matching the export recipient')
    .option('--passphrase-file <file>', 'the passphrase the file was sealed with')
    .option('--new-password-file <file>', 'read the new password from this file')
    .action(action(later(load, 'keyImport')));
}
