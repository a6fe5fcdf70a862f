/**
 * Reliability: several processes on one repository. Concurrent backups (different sources,
 * and the same source twice, started together or interleaved mid-upload) all succeed and
 * restore identically; prune refuses to run beside a live backup with a message naming it,
 * and is not blocked by the lock of a killed one; `unlock` removes dead locks.
 *
 * Interleavings are forced with SIGSTOP/SIGCONT at moments seen in the repository folder, so
 * they do not depend on timing.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { hostname } from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, startCli, tempDir } from '../helpers/cli.js';
import { writeTree } from '../helpers/data-gen.js';
import { collect, type Exit, note, repoFiles, STACK_LINE, signalWhen } from '../helpers/repo-files.js';

const MiB = 1024 * 1024;

interface SnapshotJson {
  id: string;
  source: string;
}

interface Started {
  child: ChildProcess;
  done: Promise<Exit>;
}

describe('concurrent processes on one repository', { timeout: 180_000 }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  const trees = new Map<string, string>();
  let restores = 0;

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('lifeboat-concurrent-'));
    repo = nodePath.join(work, 'repo');
    env = repoEnv(repo);
    for (const [name, seed, mib] of [
      ['alpha', 'conc-alpha', 24],
      ['beta', 'conc-beta', 24],
    ] as const) {
      const dir = nodePath.join(work, name);
      await writeTree(dir, { seed, bytes: mib * MiB, files: 60, randomShare: 0.85 });
      trees.set(name, dir);
    }
    await lifeboat(['init'], env);
  });

  /** Every backup started, so none is left stopped or running should a test fail midway. */
  const children = new Set<ChildProcess>();

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await cleanup();
  });

  function backup(name: string, path = trees.get(name)!): Started {
    const child = startCli(['backup', '--type', 'files', '--name', name, '--path', path, '--json'], env);
    children.add(child);
    return { child, done: collect(child) };
  }

  async function snapshotOf(run: Started): Promise<SnapshotJson> {
    const exit = await run.done;
    assert.equal(exit.code, 0, `backup failed: ${exit.stderr}`);
    return (JSON.parse(exit.stdout) as { saved: SnapshotJson[] }[])[0].saved[0];
  }

  async function restoreAndCompare(id: string, expected: string): Promise<void> {
    const to = nodePath.join(work, `restore-${restores++}`);
    await lifeboat(['restore', id, '--to', to], env);
    assert.deepEqual(await compareTrees(expected, to), [], `snapshot ${id.slice(0, 8)}`);
    await fs.rm(to, { recursive: true, force: true });
  }

  async function checkAll(): Promise<void> {
    const r = await runCli(['check', '--read-data'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }

  async function lockCount(): Promise<number> {
    return (await repoFiles(repo)).filter((f) => f.kind === 'lock').length;
  }

  test('two backups of different sources started together both succeed and restore', async () => {
    let maxLocks = 0;
    const poll = setInterval(async () => {
      maxLocks = Math.max(maxLocks, await lockCount().catch(() => 0));
    }, 5);
    const [a, b] = [backup('alpha'), backup('beta')];
    const [sa, sb] = await Promise.all([snapshotOf(a), snapshotOf(b)]);
    clearInterval(poll);
    note(`locks held at once, at most: ${maxLocks}`);
    await restoreAndCompare(sa.id, trees.get('alpha')!);
    await restoreAndCompare(sb.id, trees.get('beta')!);
    await checkAll();
  });

  test('two backups of the same source started together both succeed and restore', async () => {
    const theta = nodePath.join(work, 'theta');
    await writeTree(theta, { seed: 'conc-theta', bytes: 24 * MiB, files: 50, randomShare: 0.85 });
    const [s1, s2] = await Promise.all([
      snapshotOf(backup('theta', theta)),
      snapshotOf(backup('theta', theta)),
    ]);
    assert.notEqual(s1.id, s2.id);
    await restoreAndCompare(s1.id, theta);
    await restoreAndCompare(s2.id, theta);
    await checkAll();
  });

  test('interleaved: one backup stopped mid-upload while another runs whole, of a new source and of the same one', async () => {
    // Fresh trees, so each run has data to upload.
    const gamma = nodePath.join(work, 'gamma');
    await writeTree(gamma, { seed: 'conc-gamma', bytes: 24 * MiB, files: 50, randomShare: 0.9 });
    const delta = nodePath.join(work, 'delta');
    await writeTree(delta, { seed: 'conc-delta', bytes: 24 * MiB, files: 50, randomShare: 0.9 });

    for (const [first, second, label] of [
      [{ name: 'gamma', path: gamma }, { name: 'delta', path: delta }, 'different sources'],
      [
        { name: 'epsilon', path: await copyTree(gamma, 'epsilon') },
        { name: 'epsilon', path: nodePath.join(work, 'epsilon') },
        'the same source',
      ],
    ] as const) {
      const a = backup(first.name, first.path);
      const stopped = await signalWhen(repo, a.child, a.done, (e) => e.kind === 'pack', 'SIGSTOP');
      if (!stopped)
        assert.fail(`the first backup (${label}) ended before its first pack: ${(await a.done).stderr}`);
      try {
        // The second backup runs from start to end while the first is frozen with its lock held
        // and a pack uploaded but not yet indexed.
        const sb = await snapshotOf(backup(second.name, second.path));
        a.child.kill('SIGCONT');
        const sa = await snapshotOf(a);
        note(`${label}: ${sa.id.slice(0, 8)} and ${sb.id.slice(0, 8)}`);
        await restoreAndCompare(sa.id, first.path);
        await restoreAndCompare(sb.id, second.path);
      } finally {
        a.child.kill('SIGCONT');
      }
    }
    await checkAll();
  });

  async function copyTree(from: string, name: string): Promise<string> {
    const to = nodePath.join(work, name);
    await fs.cp(from, to, { recursive: true, preserveTimestamps: true });
    // Fresh content, so the backup has to upload rather than find everything deduplicated.
    await writeTree(nodePath.join(to, 'extra'), {
      seed: `conc-${name}`,
      bytes: 20 * MiB,
      files: 20,
      randomShare: 1,
    });
    return to;
  }

  test('prune beside a live backup fails naming it; works once the backup is done', async () => {
    const big = nodePath.join(work, 'zeta');
    await writeTree(big, { seed: 'conc-zeta', bytes: 24 * MiB, files: 40, randomShare: 0.9 });
    // Freeze the backup as soon as its lock is written (retried should it finish first).
    let run = backup('zeta', big);
    for (let attempt = 0; ; attempt++) {
      const stopped = await signalWhen(repo, run.child, run.done, (e) => e.kind === 'lock', 'SIGSTOP');
      if (stopped && (await lockCount()) === 1) break;
      run.child.kill('SIGCONT');
      await snapshotOf(run);
      assert.ok(attempt < 3, 'the backup kept finishing before it could be stopped');
      run = backup(`zeta-${attempt}`, big);
    }
    let r: Awaited<ReturnType<typeof runCli>>;
    try {
      r = await runCli(['prune'], env);
    } finally {
      run.child.kill('SIGCONT');
    }
    note(`prune beside a backup: exit ${r.code}: ${r.stderr.trim()}`);
    assert.equal(r.code, 1, r.stderr);
    const m = /is locked by backup.* pid (\d+) on host (\S+)/.exec(r.stderr);
    assert.ok(m, `no "is locked by backup ... pid N on host H" in: ${r.stderr}`);
    assert.equal(Number(m[1]), run.child.pid);
    assert.equal(m[2], hostname());
    assert.match(r.stderr, /lifeboat unlock/);
    assert.doesNotMatch(r.stderr, STACK_LINE);
    const snap = await snapshotOf(run);
    const after = await runCli(['prune'], env);
    assert.equal(after.code, 0, after.stderr);
    await restoreAndCompare(snap.id, big);
    await checkAll();
  });

  test('the lock of a killed backup does not block prune; unlock removes and reports one', async () => {
    const snapshotsBefore = (
      JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout) as SnapshotJson[]
    )
      .map((s) => s.id)
      .sort();
    const tree = nodePath.join(work, 'eta');
    await writeTree(tree, { seed: 'conc-eta', bytes: 24 * MiB, files: 40, randomShare: 0.9 });

    const killAtFirstPack = async (): Promise<number> => {
      const run = backup('eta', tree);
      const killed = await signalWhen(repo, run.child, run.done, (e) => e.kind === 'pack', 'SIGKILL');
      const exit = await run.done;
      assert.ok(killed && exit.signal === 'SIGKILL', `the backup ended before it was killed: ${exit.stderr}`);
      return run.child.pid!;
    };

    // prune meets the dead lock (same host, pid gone), removes it and runs.
    const pid1 = await killAtFirstPack();
    assert.equal(await lockCount(), 1, 'the killed backup should have left its lock');
    const p = await runCli(['prune'], env);
    note(`prune after a killed backup (pid ${pid1}): exit ${p.code}: ${p.stdout.trim()} ${p.stderr.trim()}`);
    assert.equal(p.code, 0, `prune blocked by the lock of dead pid ${pid1}: ${p.stderr}`);
    assert.equal(await lockCount(), 0);

    // unlock removes a dead lock and says which.
    const pid2 = await killAtFirstPack();
    assert.equal(await lockCount(), 1);
    const u = await runCli(['unlock'], env);
    note(`unlock: exit ${u.code}: ${u.stdout.trim()}`);
    assert.equal(u.code, 0, u.stderr);
    assert.match(u.stdout, new RegExp(`removed dead lock: .*backup.* pid ${pid2} on host ${hostname()}`));
    assert.match(u.stdout, /1 lock removed/);
    assert.equal(await lockCount(), 0);

    const ids = (JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout) as SnapshotJson[])
      .map((s) => s.id)
      .sort();
    assert.deepEqual(ids, snapshotsBefore, 'a killed backup left a snapshot');
    await checkAll();
    // And the next backup of the same source completes.
    const snap = await snapshotOf(backup('eta', tree));
    await restoreAndCompare(snap.id, tree);
  });
});
