/**
 * @module jobs/wal-fetch-agent
 * A short-lived helper that serves PostgreSQL's restore_command during a recovery. Starting
 * Node.js, loading the program and unwrapping the key costs about half a second per call;
 * recovery makes one call per WAL file and several for files that do not exist (timeline
 * history probes). The first `wal-fetch` starts this agent (bin/lifeboat in the
 * background, at once); it keeps the repository open, fetches ahead, and answers requests
 * the sh front leaves as files in pg_wal/lifeboat-prefetch/:
 *
 *   .want-NAME     a request          NAME           the file, complete (moved into place)
 *   .absent-NAME   not archived        .failed-NAME   another failure (the full command retries)
 *   agent.pid      the agent's pid     boot           the boot id the files were written in
 *
 * Files are written without fsync (PostgreSQL makes durable what it keeps): after a crash
 * of the machine the boot id differs, and readers drop the folder instead of trusting it.
 * The agent leaves when the folder goes (recovery_end_command removes it), a few seconds
 * after recovery ends (recovery.signal is gone; the last history probes come after that),
 * or after IDLE_MS without a request. Its time limits run on an injected clock.
 */
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type WaitingClock } from '../clock.js';
import { describe } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import { PREFETCH_DIR, recovering, stampBoot } from '../sources/postgres/wal-dir.js';
import { isWalName, segmentName, segmentNumber, timelineOf } from '../sources/postgres/wal-names.js';
import { fetchToFile } from './wal-fetch.js';

export const AGENT_PID = 'agent.pid';
const IDLE_MS = 60_000;
/** How long the agent stays once recovery has ended (PostgreSQL still probes history files). */
const LINGER_MS = 5_000;
const POLL_MS = 10;
/** Segments fetched at once: the reads overlap, and PostgreSQL replays on the other core. */
const PARALLEL = 2;

/** True when an agent's pid file names a live process other than this one. */
export function agentAlive(pgWal: string): Promise<boolean> {
  return otherProcessAlive(join(pgWal, PREFETCH_DIR, AGENT_PID));
}

/** True when the pid file at `path` names a live process other than this one (agents). */
export async function otherProcessAlive(path: string): Promise<boolean> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    if (pid === process.pid) return false;
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
  options: { ahead: number; idleMs?: number; lingerMs?: number; first?: string; clock?: WaitingClock },
): Promise<void> {
  const dir = join(pgWal, PREFETCH_DIR);
  if (await agentAlive(pgWal)) return;
  const clock = options.clock ?? systemClock;
  const now = () => clock.now().getTime();
  await writeFile(join(dir, AGENT_PID), `${process.pid}\n`);
  await stampBoot(dir);
  let lastRequest = now();
  let endedAt: number | undefined;
  let latest = options.first && isWalName(options.first) ? options.first : undefined;
  /** Prefetched files not taken yet. */
  const written = new Set<string>();
  const inflight = new Map<string, Promise<void>>();
  const fetch = (name: string, requested: boolean) => {
    const job = (async () => {
      try {
        if (await fetchToFile(repo, source, name, join(dir, name), { durable: false })) {
          if (requested) {
            if (name.length === 24 && (!latest || name > latest)) latest = name;
          } else written.add(name);
        } else if (requested) await writeFile(join(dir, `.absent-${name}`), '');
        else latest = undefined; // the archive ends here (for now)
      } catch (err) {
        if (requested) await writeFile(join(dir, `.failed-${name}`), describe(err)).catch(() => {});
      } finally {
        inflight.delete(name);
      }
    })();
    inflight.set(name, job);
  };
  try {
    while (await exists(dir)) {
      if (await recovering(pgWal)) endedAt = undefined;
      else endedAt ??= now();
      const names = new Set(await readdir(dir).catch(() => [] as string[]));
      // A prefetched file that is gone was taken by a fetch: recovery has got that far.
      for (const name of written) {
        if (names.has(name)) continue;
        written.delete(name);
        lastRequest = now();
        if (!latest || name > latest) latest = name;
      }
      for (const entry of names) {
        if (!entry.startsWith('.want-')) continue;
        const name = entry.slice('.want-'.length);
        lastRequest = now();
        await rm(join(dir, entry), { force: true });
        // A name being fetched ahead already appears in place when done.
        if (isWalName(name) && !names.has(name) && !inflight.has(name)) fetch(name, true);
      }
      while (endedAt === undefined && latest && inflight.size < PARALLEL) {
        const next = await nextMissing(dir, latest, options.ahead, inflight, written);
        if (!next) break;
        fetch(next, false);
      }
      // A fetch that ends first cuts the poll short; its sleep is then abandoned.
      const poll = new AbortController();
      await Promise.race([clock.sleep(POLL_MS, poll.signal), ...inflight.values()]);
      poll.abort();
      const quiet = now() - lastRequest;
      if (quiet > (options.idleMs ?? IDLE_MS)) break;
      const linger = options.lingerMs ?? LINGER_MS;
      if (endedAt !== undefined && now() - endedAt > linger && quiet > linger) break;
    }
    await Promise.all(inflight.values());
  } finally {
    // Recovery over: nothing here is needed (recovery_end_command may have raced with us).
    if (!(await recovering(pgWal))) await rm(dir, { recursive: true, force: true }).catch(() => {});
    const pid = await readFile(join(dir, AGENT_PID), 'utf8').catch(() => '');
    if (Number(pid.trim()) === process.pid) await rm(join(dir, AGENT_PID), { force: true });
  }
}

/**
 * The first segment after `latest` (within `ahead`) neither fetched nor being fetched. A
 * prefetched file still in `written` counts as fetched even when it is gone: it was taken
 * after this pass listed the folder, and fetching it again would hide that it was taken.
 */
async function nextMissing(
  dir: string,
  latest: string,
  ahead: number,
  inflight: ReadonlyMap<string, unknown>,
  written: ReadonlySet<string>,
): Promise<string | undefined> {
  const pos = segmentNumber(latest) as number;
  for (let i = 1; i <= ahead; i++) {
    const name = segmentName(timelineOf(latest), pos + i);
    if (inflight.has(name) || written.has(name)) continue;
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
