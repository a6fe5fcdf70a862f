/**
 * @module cli/catalog-commands
 * `lifeboat catalog migrate`: the server's catalog moved from its SQLite file into PostgreSQL.
 * The options only: the handler is in catalog-actions.ts, loaded when the command runs.
 */
import type { Command } from 'commander';
import { type Action, later } from './shell.js';

const load = () => import('./catalog-actions.js');

export function registerCatalogCommands(program: Command, action: Action): void {
  const catalog = program
    .command('catalog')
    .description("the server's catalog (job history, tokens, audit log)");
  catalog
    .command('migrate')
    .description('copy a SQLite catalog into an empty PostgreSQL one, audit chain intact, and verify it')
    .requiredOption('--from <sqlite:PATH>', 'the SQLite catalog file, as sqlite:PATH')
    .requiredOption(
      '--to <postgres://URL>',
      'the PostgreSQL database (password in the URL or PGPASSWORD; its schema "lifeboat" must be empty)',
    )
    .action(action(later(load, 'catalogMigrate')));
}
