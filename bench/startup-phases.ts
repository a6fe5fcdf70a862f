/**
 * @module bench/startup-phases
 * What a backup does with the repository before and after its source's data, step by step,
 * in one process: open (the key derived), the lock, the index (with the pack listing that
 * adopts orphans), the snapshot list (the parent), and at the end a lock released. Each step
 * is timed on its own and the index and the snapshot list also together (concurrently), the
 * median of --runs. For deciding which of them are worth overlapping.
 *
 * Usage: npm run build && LIFEBOAT_REPO=DIR LIFEBOAT_PASSWORD=PW node dist/bench/startup-phases.js [--runs 7]
 */
import { loadavg } from 'node:os';
import { latestOf } from '../src/jobs/snapshot-select.js';
import { Repository } from '../src/repo/repository.js';
import { openBackend } from '../src/storage/registry.js';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed<T>(times: number[], step: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const out = await step();
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
  return out;
}

async function main(): Promise<void> {
  const url = process.env.LIFEBOAT_REPO;
  const password = process.env.LIFEBOAT_PASSWORD;
  if (!url || !password) throw new Error('set LIFEBOAT_REPO and LIFEBOAT_PASSWORD');
  const i = process.argv.indexOf('--runs');
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 7;
  const t: Record<string, number[]> = { open: [], lock: [], index: [], parent: [], both: [], release: [] };
  let snapshots = 0;
  for (let run = 0; run < runs; run++) {
    const repo = await timed(t.open, async () => Repository.open(await openBackend(url), password));
    const lock = await timed(t.lock, () => repo.lock(false, 'startup-phases'));
    await timed(t.index, () => repo.loadIndex({ adoptOrphans: true }));
    await timed(t.parent, () => latestOf(repo, 'none'));
    // Again in a fresh process state: the index and the snapshot list read concurrently.
    const again = await Repository.open(await openBackend(url), password);
    await timed(t.both, () =>
      Promise.all([again.loadIndex({ adoptOrphans: true }), latestOf(again, 'none')]),
    );
    snapshots = (await repo.scanSnapshots()).snapshots.length;
    await timed(t.release, () => lock.release());
    await repo.close();
    await again.close();
  }
  const row = (name: string) => `${name.padEnd(28)} ${median(t[name]).toFixed(1).padStart(7)} ms`;
  process.stdout.write(
    [
      `repository ${url}: ${snapshots} snapshots; median of ${runs}; load average ${loadavg()[0].toFixed(2)}`,
      row('open'),
      row('lock'),
      row('index'),
      row('parent'),
      `${'index + parent, concurrent'.padEnd(28)} ${median(t.both).toFixed(1).padStart(7)} ms`,
      row('release'),
    ].join('\n') + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`bench/startup-phases: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
