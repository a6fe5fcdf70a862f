/**
 * @module cli/catalog-actions
 * `lifeboat catalog migrate`: parse the two locations, call catalog/catalog-migrate, render.
 */
import { resolve } from 'node:path';
import { migrateSqliteToPostgres } from '../catalog/catalog-migrate.js';
import { systemClock } from '../clock.js';
import { LifeboatError } from '../errors.js';
import type { CliContext } from './context.js';
import { print, table } from './shell.js';

export async function catalogMigrate(ctx: CliContext, options: { from: string; to: string }): Promise<void> {
  if (!/^sqlite:./.test(options.from)) {
    throw new LifeboatError(
      'usage',
      `[catalog] --from must be the SQLite catalog as sqlite:PATH (e.g. sqlite:/var/lib/lifeboat/lifeboat.catalog.sqlite)`,
    );
  }
  if (!/^postgres(ql)?:\/\//.test(options.to)) {
    throw new LifeboatError(
      'usage',
      '[catalog] --to must be a postgres:// URL (postgres://user@host:5432/database; the password in the URL or PGPASSWORD)',
    );
  }
  const from = resolve(options.from.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
  const done = await migrateSqliteToPostgres(from, options.to, systemClock);
  if (ctx.options.json) {
    print(JSON.stringify(done, null, 2));
    return;
  }
  print(`copied ${from} to ${done.to} (schema ${done.schema}):`);
  table(
    ['what', 'rows'],
    [
      ['jobs', String(done.copied.jobs)],
      ['job snapshots', String(done.copied.job_snapshots)],
      ['tokens', String(done.copied.tokens)],
      ['audit entries', String(done.copied.audit)],
      ['alerts', String(done.copied.alerts)],
      ['settings', String(done.copied.meta)],
    ],
  );
  const { entries, head } = done.audit;
  const headText = head ? `; head: entry ${head.seq}, ${head.hash}` : '';
  print(`audit log verified: ${entries} entr${entries === 1 ? 'y' : 'ies'}${headText}`);
}
