/**
 * @module bench/keys/run
 * Key management benchmark: re-encryption throughput against a plain `check --read-data`
 * of the same repository (both read every pack; re-encryption also writes), and backup
 * throughput of a write-only host (sealed boxes, no parent snapshot) against a full one.
 * Usage: node dist/bench/keys/run.js [--size 256MiB]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropCaches, measure, run, type Sample } from '../measure.js';
import { planTree, writeTree } from '../tree-gen.js';

const BIN = fileURLToPath(new URL('../../../bin/lifeboat.js', import.meta.url));

function sizeArg(): number {
  const i = process.argv.indexOf('--size');
  const text = i > 0 ? process.argv[i + 1] : (process.env.BENCH_SIZE ?? '256MiB');
  const m = /^(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB)?$/i.exec(text);
  if (!m) throw new Error(`--size "${text}": use e.g. 256MiB or 1GiB`);
  const unit = { kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[(m[2] ?? 'MiB').toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

async function timed(args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  dropCaches();
  return measure(process.execPath, [BIN, ...args, '--quiet'], { env });
}

const mibs = (bytes: number, s: Sample) => `${(bytes / 1024 ** 2 / s.wall).toFixed(0)} MiB/s`;

async function main(): Promise<void> {
  const size = sizeArg();
  const work = mkdtempSync(join(tmpdir(), 'lifeboat-bench-keys-'));
  try {
    const tree = join(work, 'tree');
    writeTree(tree, planTree(size, 'keys-bench'));
    const repo = join(work, 'repo');
    const env = { ...process.env, LIFEBOAT_REPO: repo, LIFEBOAT_PASSWORD: 'bench' };
    const woEnv = { ...env, LIFEBOAT_PASSWORD: 'bench-wo' };
    run(process.execPath, [BIN, 'init'], { env });
    run(process.execPath, [BIN, 'key', 'add', '--write-only'], {
      env: { ...env, LIFEBOAT_NEW_PASSWORD: 'bench-wo' },
    });

    const full = await timed(['backup', '--type', 'files', '--name', 'full', '--path', tree], env);
    // A second repository for the write-only host, so it cannot deduplicate against the first.
    const repo2 = join(work, 'repo2');
    const env2 = { ...env, LIFEBOAT_REPO: repo2 };
    run(process.execPath, [BIN, 'init'], { env: env2 });
    run(process.execPath, [BIN, 'key', 'add', '--write-only'], {
      env: { ...env2, LIFEBOAT_NEW_PASSWORD: 'bench-wo' },
    });
    const wo = await timed(['backup', '--type', 'files', '--name', 'wo', '--path', tree], {
      ...woEnv,
      LIFEBOAT_REPO: repo2,
    });

    const check = await timed(['check', '--read-data'], env);
    const reenc = await timed(['key', 'rotate', '--reencrypt'], env);

    console.log(`tree: ${(size / 1024 ** 2).toFixed(0)} MiB`);
    console.log('measurement                  wall      throughput  peak RSS');
    const row = (name: string, s: Sample) =>
      console.log(
        `${name.padEnd(28)} ${s.wall.toFixed(2).padStart(6)} s  ${mibs(size, s).padStart(10)}  ${(s.maxRss / 1024 ** 2).toFixed(0)} MiB`,
      );
    row('backup, full key', full);
    row('backup, write-only key', wo);
    row('check --read-data', check);
    row('key rotate --reencrypt', reenc);
    console.log(`write-only / full backup time: ${(wo.wall / full.wall).toFixed(2)}`);
    console.log(`re-encrypt / check --read-data time: ${(reenc.wall / check.wall).toFixed(2)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
