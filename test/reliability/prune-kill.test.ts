/**
 * Reliability: a prune killed with SIGKILL at each step of its write order (docs/format.md,
 * rule 5: lock, repacked packs, fresh index, old index files removed, dropped packs removed)
 * leaves a repository that checks, lists the same snapshots, restores each identically and
 * takes the next backup without `unlock`; a later prune finishes the work. Each kill starts
 * from a copy of the same repository, so every step is reached with the same work to do.
 * (bench/reliability kills prunes at random moments; this pins the steps.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, type FSWatcher, watch } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, startCli, tempDir } from '../helpers/cli.js';
import { writeTree } from '../helpers/data-gen.js';
import { collect, note, repoFiles, watchRepo } from '../helpers/repo-files.js';

const MiB = 1024 * 1024;

interface Step {
  label: string;
  /** Kill when an object of `kind` appears (`removed`: when one that was there goes). */
  kind: 'lock' | 'pack' | 'index';
  removed?: boolean;
}

const STEPS: Step[] = [
  { label: 'when its lock appears', kind: 'lock' },
  { label: 'when the first repacked pack appears', kind: 'pack' },
  { label: 'when the new index appears', kind: 'index' },
  { label: 'when the first old index file is removed', kind: 'index', removed: true },
  { label: 'when the first dropped pack is removed', kind: 'pack', removed: true },
];

describe('kill -9 during a prune', { timeout: 180_000 }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let template: string;
  /** Snapshot id -> the folder it was taken of, for the snapshots prune must keep. */
  const kept = new Map<string, string>();

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('lifeboat-prune-kill-'));
    template = nodePath.join(work, 'template');
    const env = repoEnv(template);
    await lifeboat(['init'], env);
    // Day one, then day two with half the files gone and new ones: forgetting day one leaves
    // packs half unused (repacked) and blobs of day one alone (dropped).
    const day1 = nodePath.join(work, 'day1');
    const facts = await writeTree(day1, {
      seed: 'prune-kill-1',
      bytes: 20 * MiB,
      files: 40,
      randomShare: 0.9,
    });
    const day2 = nodePath.join(work, 'day2');
    execFileSync('cp', ['-a', day1, day2]);
    // Every other file by size: about half the bytes, from every pack.
    const bySize = await Promise.all(facts.paths.map(async (p) => ({ p, size: (await fs.stat(p)).size })));
    bySize.sort((x, y) => x.size - y.size);
    for (const { p } of bySize.filter((_, i) => i % 2 === 0)) await fs.rm(p.replace(day1, day2));
    await writeTree(nodePath.join(day2, 'new'), { seed: 'prune-kill-2', bytes: 4 * MiB, files: 8 });
    const ids: string[] = [];
    for (const path of [day1, day2]) {
      const r = await lifeboat(
        ['backup', '--type', 'files', '--name', 'site', '--path', path, '--json'],
        env,
      );
      ids.push((JSON.parse(r.stdout) as { snapshots: string[] }[])[0].snapshots[0]);
    }
    kept.set(ids[1], day2);
    await lifeboat(['forget', '--keep-last', '1'], env);
    const dry = await lifeboat(['prune', '--dry-run', '--json'], env);
    note(`prune's work: ${dry.stdout.trim()}`);
    const plan = JSON.parse(dry.stdout) as { packsDeleted: number; packsRepacked: number };
    assert.ok(plan.packsRepacked > 0 && plan.packsDeleted > 0, 'prune should both repack and delete');
  });

  after(() => cleanup());

  /** Kills a prune of `repo` at `step`; true when the kill landed before prune ended. */
  async function killPrune(repo: string, step: Step): Promise<boolean> {
    const env = repoEnv(repo);
    const before = new Set((await repoFiles(repo)).map((f) => f.name));
    const child = startCli(['prune'], env);
    const done = collect(child);
    const kill = () => child.kill('SIGKILL');
    const watchers: FSWatcher[] = [];
    let stop = () => {};
    if (step.removed) {
      const dirs = new Set(
        (await repoFiles(repo)).filter((f) => f.kind === step.kind).map((f) => nodePath.dirname(f.rel)),
      );
      for (const dir of dirs) {
        const w = watch(nodePath.join(repo, dir), (_type, name) => {
          if (name && before.has(name.toString()) && !existsSync(nodePath.join(repo, dir, name.toString())))
            kill();
        });
        w.on('error', () => {});
        watchers.push(w);
      }
    } else {
      stop = watchRepo(repo, (e) => {
        if (e.kind === step.kind && !before.has(e.name)) kill();
      });
    }
    const exit = await done;
    stop();
    for (const w of watchers) w.close();
    if (exit.signal !== 'SIGKILL') assert.equal(exit.code, 0, `prune failed on its own: ${exit.stderr}`);
    return exit.signal === 'SIGKILL';
  }

  test('killed at each step, the repository checks, keeps its snapshots and takes the next backup', async () => {
    let landed = 0;
    for (const [i, step] of STEPS.entries()) {
      const repo = nodePath.join(work, `repo-${i}`);
      execFileSync('cp', ['-a', template, repo]);
      const env = repoEnv(repo);
      const killed = await killPrune(repo, step);
      if (killed) landed++;
      note(`prune ${step.label}: ${killed ? 'killed' : 'ended first'}`);

      const check = await runCli(['check', '--read-data'], env);
      assert.equal(
        check.code,
        0,
        `check after a prune killed ${step.label}:\n${check.stdout}${check.stderr}`,
      );
      const ids = (JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout) as { id: string }[]).map(
        (s) => s.id,
      );
      assert.deepEqual(ids, [...kept.keys()], `snapshots after a prune killed ${step.label}`);
      for (const [id, path] of kept) {
        const to = nodePath.join(work, `restore-${i}`);
        await lifeboat(['restore', id, '--to', to], env);
        assert.deepEqual(await compareTrees(path, to), [], `restore after a prune killed ${step.label}`);
        await fs.rm(to, { recursive: true, force: true });
      }
      // The killed prune's lock blocks nobody: a backup goes through without `unlock`.
      await lifeboat(
        ['backup', '--type', 'files', '--name', 'more', '--path', nodePath.join(work, 'day1')],
        env,
      );
      // A prune afterwards finishes the work and leaves nothing unindexed.
      await lifeboat(['prune'], env);
      const after = await runCli(['check', '--read-data'], env);
      assert.equal(after.code, 0, `${after.stdout}${after.stderr}`);
      assert.doesNotMatch(after.stdout, /warning/, `left over after a prune killed ${step.label}`);
      await fs.rm(repo, { recursive: true, force: true });
    }
    assert.ok(
      landed >= STEPS.length - 1,
      `only ${landed} of ${STEPS.length} kills landed before prune ended`,
    );
  });
});
