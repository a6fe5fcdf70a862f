/**
 * @module sources/postgres/wal-fetch-agent
 * A short-lived helper that serves PostgreSQL's restore_command during a recovery. Starting
 * Node.js, loading the program and unwrapping the key costs about half a second per call;
 * recovery makes one call per WAL file and several for files that do not exist (timeline
 * history probes). The first `wal-fetch` starts this agent; it keeps the repository open,
 * fetches ahead, and answers requests the sh front (bin/lifeboat) leaves as files in
 * pg_wal/lifeboat-prefetch/:
 *
 *   .want-NAME     a request          NAME           the file, complete (moved into place)
 *   .absent-NAME   not archived        .failed-NAME   another failure (the full command retries)
 *   agent.pid      the agent's pid, while it runs
 *
 * It leaves when recovery ends (recovery.signal is gone; it then removes the folder), when
 * the folder goes (recovery_end_command removes it) or after IDLE_MS without a request.
 */
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe } from '../../errors.js';
import type { Repository } from '../../repo/repository.js';
import { isWalName, segmentName, segmentNumber, timelineOf } from '../../repo/wal-archive.js';
import { fetchToFile, PREFETCH_DIR } from './postgres-physical-wal.js';

export const AGENT_PID = 'agent.pid';
const IDLE_MS = 60_000;
const POLL_MS = 10;

/** True when an agent's pid file names a live process. */
export async function agentAlive(pgWal: string): Promise<boolean> {
  try {
    const pid = Number((await readFile(join(pgWal, PREFETCH_DIR, AGENT_PID), 'utf8')).trim());
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function runFetchAgent(
  repo: Repository,
  source: string,
  pgWal: string,
  options: { ahead: number; idleMs?: number; first?: string },
): Promise<void> {
  const dir = join(pgWal, PREFETCH_DIR);
  if (await agentAlive(pgWal)) return;
  await writeFile(join(dir, AGENT_PID), `${process.pid}\n`);
  let lastRequest = Date.now();
  let latest = options.first && isWalName(options.first) ? options.first : undefined;
  const written = new Set<string>();
  try {
    while ((await exists(dir)) && (await recovering(pgWal))) {
      const names = new Set(await readdir(dir).catch(() => [] as string[]));
      // A prefetched file that is gone was taken by a fetch: recovery has got that far.
      for (const name of written) {
        if (names.has(name)) continue;
        written.delete(name);
        lastRequest = Date.now();
        if (!latest || name > latest) latest = name;
      }
      for (const entry of names) {
        if (!entry.startsWith('.want-')) continue;
        const name = entry.slice('.want-'.length);
        lastRequest = Date.now();
        await rm(join(dir, entry), { force: true });
        if (!isWalName(name) || names.has(name)) continue;
        try {
          if (await fetchToFile(repo, source, name, join(dir, name))) {
            if (name.length === 24 && (!latest || name > latest)) latest = name;
          } else await writeFile(join(dir, `.absent-${name}`), '');
        } catch (err) {
          await writeFile(join(dir, `.failed-${name}`), describe(err)).catch(() => {});
        }
      }
      // One segment ahead per turn, so a request never waits behind a long prefetch.
      const next = latest && (await nextMissing(dir, latest, options.ahead));
      if (next) {
        const found = await fetchToFile(repo, source, next, join(dir, next)).catch(() => false);
        if (found) written.add(next);
        else latest = undefined; // the archive ends here (for now)
      } else await sleep(POLL_MS);
      if (Date.now() - lastRequest > (options.idleMs ?? IDLE_MS)) break;
    }
  } finally {
    // Recovery over: nothing here is needed (recovery_end_command may have raced with us).
    if (!(await recovering(pgWal))) await rm(dir, { recursive: true, force: true }).catch(() => {});
    const pid = await readFile(join(dir, AGENT_PID), 'utf8').catch(() => '');
    if (Number(pid.trim()) === process.pid) await rm(join(dir, AGENT_PID), { force: true });
  }
}

/** PostgreSQL removes recovery.signal (or standby.signal) when it leaves recovery. */
async function recovering(pgWal: string): Promise<boolean> {
  const data = dirname(pgWal);
  return (await exists(join(data, 'recovery.signal'))) || (await exists(join(data, 'standby.signal')));
}

/** The first segment after `latest` (within `ahead`) not fetched yet. */
async function nextMissing(dir: string, latest: string, ahead: number): Promise<string | undefined> {
  const pos = segmentNumber(latest) as number;
  for (let i = 1; i <= ahead; i++) {
    const name = segmentName(timelineOf(latest), pos + i);
    if (!(await exists(join(dir, name)))) return name;
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
