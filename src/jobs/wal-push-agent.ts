/**
 * @module jobs/wal-push-agent
 * Archives WAL as soon as PostgreSQL marks it ready, ahead of archive_command. PostgreSQL
 * runs archive_command once per file and waits for each; the sh front (bin/lifeboat)
 * starts this agent on the first call and then only waits for the file's acknowledgement
 * (`archive_status/<name>.lifeboat-ok`, written once the file is durable), so PostgreSQL's
 * calls overlap the work, and a busy server pays for starting Node.js once, not per batch.
 *
 *   archive_status/lifeboat-agent.pid    the agent's pid, while it runs
 *   archive_status/<name>.lifeboat-ok    <name> is durable in the repository
 *
 * A file the agent cannot store stops it: the sh front then runs the full wal-push, which
 * reports the error to PostgreSQL (and the next call starts a new agent). The agent also
 * leaves after IDLE_MS without ready files, after MAX_LIFE_MS (so a changed config or
 * program is picked up), when the config file changes, or when pg_wal goes. Its time limits
 * run on an injected clock.
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { systemClock, type WaitingClock } from '../clock.js';
import type { Repository } from '../repo/repository.js';
import { readyFiles, sweepAcknowledgements } from '../sources/postgres/wal-dir.js';
import { otherProcessAlive } from './wal-fetch-agent.js';
import { pushAcknowledged, walSealers } from './wal-push.js';

export const PUSH_AGENT_PID = 'lifeboat-agent.pid';
const IDLE_MS = 60_000;
const MAX_LIFE_MS = 15 * 60_000;
const POLL_MS = 20;

/** True when the push agent's pid file names a live process other than this one. */
export function pushAgentAlive(pgWal: string): Promise<boolean> {
  return otherProcessAlive(join(pgWal, 'archive_status', PUSH_AGENT_PID));
}

export interface PushAgentOptions {
  idleMs?: number;
  maxLifeMs?: number;
  /** The config file: the agent leaves when it changes. */
  config?: string;
  /** Told why the agent stopped early (a file it could not store). */
  onError?: (path: string, error: unknown) => void;
  clock?: WaitingClock;
}

export async function runPushAgent(
  repo: Repository,
  source: string,
  pgWal: string,
  options: PushAgentOptions = {},
): Promise<void> {
  if (await pushAgentAlive(pgWal)) return;
  const pidFile = join(pgWal, 'archive_status', PUSH_AGENT_PID);
  await writeFile(pidFile, `${process.pid}\n`);
  const clock = options.clock ?? systemClock;
  const started = clock.now().getTime();
  const configTime = options.config ? await mtime(options.config) : undefined;
  let lastWork = started;
  let lastConfigCheck = started;
  const sealers = walSealers(repo);
  const acknowledged = new Set<string>();
  try {
    for (;;) {
      // A file acknowledged here stays .ready until PostgreSQL has called for it: not again.
      const paths = (await readyFiles(pgWal)).filter((p) => !acknowledged.has(basename(p)));
      if (paths.length > 0) {
        // A lock per batch: key rotation's exclusive lock must get its turn between them
        // (prune's lets WAL pushes through).
        const lock = await repo.lock(false, 'wal-push agent', { scope: 'wal' });
        let failed: { path: string; error: unknown }[];
        try {
          const r = await pushAcknowledged(repo, source, paths, sealers);
          for (const d of r.done) acknowledged.add(d.name);
          failed = r.failed;
        } finally {
          await lock.release().catch(() => {});
        }
        if (failed.length > 0) {
          options.onError?.(failed[0].path, failed[0].error);
          return;
        }
        lastWork = clock.now().getTime();
        continue;
      }
      const now = clock.now().getTime();
      if (now - lastWork > (options.idleMs ?? IDLE_MS) || now - started > (options.maxLifeMs ?? MAX_LIFE_MS))
        return;
      if (now - lastConfigCheck > 1000) {
        lastConfigCheck = now;
        await sweepAcknowledgements(pgWal, acknowledged);
        if (options.config && (await mtime(options.config)) !== configTime) return;
        if ((await mtime(pgWal)) === undefined) return;
      }
      await clock.sleep(POLL_MS);
    }
  } finally {
    await sealers.close();
    const pid = await readFile(pidFile, 'utf8').catch(() => '');
    if (Number(pid.trim()) === process.pid) await rm(pidFile, { force: true });
  }
}

async function mtime(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
}
