/**
 * @module daemon/serve-daemon
 * `lifeboat serve` as a process: the one module that starts the server shell. The CLI's
 * `serve` command parses its options and calls `runDaemon`; server/ knows nothing of signals
 * or exit, and cli/ imports nothing from server/ (the layering rule: the two shells meet only
 * here and in jobs/). The HTTP stack loads inside `runDaemon`, so other commands start fast.
 */
import type { CatalogStore } from '../catalog/catalog-store.js';
import type { LifeboatConfig } from '../config/config.js';
import type { FleetQueueOptions } from '../jobs/fleet/fleet-queue.js';
import { releaseAllLocks } from '../repo/lock.js';
import type { RepositoryOptions } from '../repo/repository.js';
import type { StorageOptions } from '../storage/registry.js';

export { DEFAULT_LISTEN, parseListen } from '../server/listen.js';

export interface DaemonOptions {
  /** `HOST:PORT`, already checked with parseListen. */
  listen: string;
  config: LifeboatConfig;
  /** Closed when the daemon stops. */
  catalog: CatalogStore;
  repository: { url: string; password: string; options?: RepositoryOptions; storage?: StorageOptions };
  /** The log level (pino's names); default: $LIFEBOAT_LOG_LEVEL or info. */
  logLevel?: string;
  /** argv that runs this Lifeboat with the same config; physical drills run `wal-fetch` with it. */
  lifeboatArgv?: string[];
  /** The environment the repository was given in (--repo, --password-file applied); process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Fleet mode (a PostgreSQL catalog): the shared queue's settings. */
  fleet?: FleetQueueOptions;
  /** Prints a line for the operator (standard output). */
  print: (line: string) => void;
}

/**
 * Runs the server until SIGTERM or SIGINT, then lets running jobs finish within the grace
 * period and exits 0; a second signal exits 1 at once (the jobs left running are marked
 * interrupted at the next start).
 */
export async function runDaemon(o: DaemonOptions): Promise<never> {
  const { defaultLogger, LifeboatServer } = await import('../server/server.js');
  const log = defaultLogger(o.logLevel);
  const server = await LifeboatServer.create({
    config: o.config,
    catalog: o.catalog,
    repository: o.repository,
    log,
    lifeboatArgv: o.lifeboatArgv,
    env: o.env,
    fleet: o.fleet,
  });
  // The CLI releases locks and exits on a signal; a server drains its jobs first instead.
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve(s));
  });
  const address = await server.start(o.listen);
  const sources = Object.keys(o.config.sources).length;
  const schedules = (await import('../jobs/queue/schedule.js')).schedulesOf(o.config).size;
  o.print(
    `lifeboat: serving on ${address} (${sources} source${sources === 1 ? '' : 's'}, ${schedules} schedule${schedules === 1 ? '' : 's'}, catalog ${o.catalog.location}${o.fleet ? ', fleet mode' : ''})`,
  );
  const got = await signal;
  log.info(
    { signal: got, grace_ms: server.graceMs },
    `${got}: finishing running jobs (up to ${server.graceMs / 1000}s)`,
  );
  for (const s of ['SIGTERM', 'SIGINT'] as const) {
    process.once(s, () => {
      void releaseAllLocks().finally(() => process.exit(1));
    });
  }
  const interrupted = await server.stop(server.graceMs, `the server got ${got}`);
  await releaseAllLocks();
  await o.catalog.close();
  const note = interrupted.length
    ? `; interrupted: ${interrupted.map((j) => `${j.kind} ${j.id.slice(0, 8)}`).join(', ')}`
    : '';
  log.info({ interrupted: interrupted.map((j) => j.id) }, `stopped${note}`);
  o.print(`lifeboat: stopped${note}`);
  log.flush();
  process.exit(0);
}
