/**
 * @module cli/server-commands
 * serve, worker, status, jobs, token, audit: parse, call the job queue (jobs/queue), the daemon or
 * the catalog, render. status and jobs read the catalog and the repository directly, so they
 * work without a running server. Nothing here imports server/: `serve` starts it through
 * daemon/serve-daemon.
 * The options only: the handlers are in server-actions.ts, loaded when their command runs.
 */

import type { Command } from 'commander';
import { JOB_KINDS, JOB_STATUSES } from '../catalog/job-states.js';
import { ROLES } from '../catalog/tokens.js';
import { DEFAULT_LISTEN } from '../daemon/serve-daemon.js';
import { type Action, later } from './shell.js';

const load = () => import('./server-actions.js');

export function registerServerCommands(program: Command, action: Action): void {
  program
    .command('serve')
    .description('run the schedules, the HTTP API, alerts and metrics (stops cleanly on SIGTERM)')
    .option('--listen <host:port>', `address to listen on (default: server.listen or ${DEFAULT_LISTEN})`)
    .action(action(later(load, 'serve')));

  program
    .command('worker')
    .description(
      'run jobs from the shared queue and nothing else (needs a PostgreSQL catalog, or --server and a worker token; stops cleanly on SIGTERM)',
    )
    .option(
      '--server <url,...>',
      'serve instances to ask instead of holding the catalog: the worker token is read from LIFEBOAT_WORKER_TOKEN',
    )
    .option(
      '--labels <k=v,...>',
      'labels this worker offers (default: server.labels); it runs sources whose runs_on it carries',
    )
    .option('--concurrency <n>', 'jobs run at once (default: server.concurrency or 2)')
    .action(action(later(load, 'worker')));

  program
    .command('status')
    .description('per source: last good backup, its age against max_age, next run, last failure')
    .action(action(later(load, 'status')));

  const jobs = program
    .command('jobs')
    .description('job history from the catalog, newest first')
    .option('--source <name>', 'only this source')
    .option('--status <status>', `only this status (${JOB_STATUSES.join(', ')})`)
    .option('--kind <kind>', `only this kind (${JOB_KINDS.join(', ')})`)
    .option('--since <time>', 'only jobs created since a time (ISO 8601) or a duration ago (24h, 7d)')
    .option('--limit <n>', 'at most this many jobs (default 50)')
    .action(action(later(load, 'jobsList')));
  jobs
    .command('retry <id>')
    .description('run a backup, forget, prune or check job again, here and now')
    .action(action(later(load, 'jobsRetry')));

  const token = program.command('token').description('API tokens for `lifeboat serve`');
  token
    .command('create <name>')
    .description('create a token; it is printed once, on standard output')
    .requiredOption('--role <role>', `${ROLES.join(' | ')}`)
    .option(
      '--labels <k=v,...>',
      'worker tokens only (required for them): the labels its `lifeboat worker --server` may claim jobs for',
    )
    .action(action(later(load, 'tokenCreate')));
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(action(later(load, 'tokenList')));
  token
    .command('revoke <name>')
    .description('revoke a token')
    .action(action(later(load, 'tokenRevoke')));

  const audit = program.command('audit').description('the audit log of the server');
  audit
    .command('verify')
    .description('check the hash chain; exit 1 naming the first edited or deleted entry')
    .action(action(later(load, 'auditVerify')));
  audit
    .command('list')
    .description('audit entries, newest first')
    .option('--action <action>', 'only this action or prefix (restore, token.create)')
    .option('--limit <n>', 'at most this many entries (default 50)')
    .action(action(later(load, 'auditList')));
}
