/**
 * Reliability: prune with a grace period beside running backups. A pack prune marks stays
 * readable and is deleted only by a later prune past the grace; a backup that loaded the
 * index before the mark and references the marked pack afterwards keeps its snapshot whole
 * (the next prune finds the reference and makes the pack live again); new backups do not
 * deduplicate against marked packs; and prune with a grace neither waits for backups nor
 * runs beside another prune.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TestClock } from '../../src/clock.js';
import { runBackup } from '../../src/jobs/backup.js';
import { type PruneOutcome, pruneRepository } from '../../src/repo/maintenance/prune.js';
import { Repository } from '../../src/repo/repository.js';
import { createSource } from '../../src/sources/registry.js';
import type { Source } from '../../src/sources/source.js';
import { ForwardingBackend } from '../../src/storage/forwarding-backend.js';
import { createLocalBackend } from '../../src/storage/local/local-backend.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';

const PASSWORD = 'test-password';
const KDF = { N: 1024, r: 8, p: 1 };
const HOUR = 3_600_000;
const GRACE = 24 * HOUR;

interface Setup {
  dir: string;
  repo: string;
  env: NodeJS.ProcessEnv;
  src: string;
  clock: TestClock;
  cleanup: () => Promise<void>;
}

async function setup(prefix: string): Promise<Setup> {
  const { dir, cleanup } = await tempDir(prefix);
  const repo = join(dir, 'repo');
  const env = repoEnv(repo);
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'ledger.bin'), randomBytes(400_000));
  await writeFile(join(src, 'notes.txt'), 'kept across prunes\n');
  await lifeboat(['init'], env);
  return { dir, repo, env, src, clock: new TestClock('2026-03-01T00:00:00Z'), cleanup };
}

function open(s: Setup): Promise<Repository> {
  return Repository.open(createLocalBackend(s.repo), PASSWORD, { clock: s.clock, kdf: KDF });
}

/** One prune by a fresh process-like repository handle (as each `lifeboat prune` is). */
async function prune(s: Setup, graceMs: number): Promise<PruneOutcome> {
  const repo = await open(s);
  try {
    return await pruneRepository(repo, { graceMs });
  } finally {
    await repo.close();
  }
}

async function backup(s: Setup, name: string, source?: Source): Promise<{ id: string; added: number }> {
  const repo = await open(s);
  try {
    const config = { type: 'files', path: s.src };
    const out = await runBackup(repo, {
      source: source ?? (await createSource(name, config)),
      sourceConfig: config,
    });
    return { id: out.id, added: out.snapshot.backup?.bytesAdded ?? 0 };
  } finally {
    await repo.close();
  }
}

async function packs(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(repo, 'data'))) {
    for (const f of await readdir(join(repo, 'data', d))) if (!f.startsWith('.')) out.push(f);
  }
  return out.sort();
}

async function restoresWhole(s: Setup, id: string, to: string): Promise<void> {
  await lifeboat(['restore', id, '--to', join(s.dir, to)], s.env);
  assert.deepEqual(await compareTrees(s.src, join(s.dir, to)), []);
}

async function checkClean(s: Setup): Promise<void> {
  const r = await runCli(['check', '--read-data', '--json'], s.env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual([report.errors, report.warnings], [[], []], r.stdout);
  assert.ok(report.blobsRead > 0);
}

test('a backup that loaded the index before prune marked a pack, and references it, keeps its snapshot whole', async () => {
  const s = await setup('lifeboat-prune-race-');
  try {
    const first = await backup(s, 'old');
    await lifeboat(['forget', first.id], s.env);
    const before = await packs(s.repo);

    // The racing backup: its index is loaded (runBackup loads it before the source runs),
    // then it waits inside the source until prune has marked every pack.
    let entered!: () => void;
    const loaded = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const files = await createSource('racer', { type: 'files', path: s.src });
    const gated: Source = Object.create(files, {
      backup: {
        value: async (ctx: Parameters<Source['backup']>[0]) => {
          entered();
          await gate;
          return files.backup(ctx);
        },
      },
    });
    const racing = backup(s, 'racer', gated);
    await loaded;

    // Prune beside the running backup: no wait, nothing deleted, every pack marked.
    const marked = await prune(s, GRACE);
    assert.equal(marked.packsDeleted, 0);
    assert.equal(marked.packsMarked, before.length);
    assert.deepEqual(await packs(s.repo), before);

    release();
    const raced = await racing;
    // It deduplicated against the marked packs: it added almost nothing (its trees).
    assert.ok(raced.added < 100_000, `the racing backup added ${raced.added} bytes`);
    await restoresWhole(s, raced.id, 'out-marked');

    // Past the grace: the pack the snapshot needs is found and made live again, not deleted.
    s.clock.tick(GRACE + HOUR);
    const second = await prune(s, GRACE);
    assert.ok(second.packsUnmarked >= 1, JSON.stringify(second));
    s.clock.tick(GRACE + HOUR);
    await prune(s, GRACE);
    await restoresWhole(s, raced.id, 'out-after');
    await checkClean(s);
  } finally {
    await s.cleanup();
  }
});

test('a marked pack is deleted only by a prune past the grace; new backups write its blobs again', async () => {
  const s = await setup('lifeboat-prune-grace-');
  try {
    const first = await backup(s, 'old');
    await lifeboat(['forget', first.id], s.env);
    const old = await packs(s.repo);

    const marked = await prune(s, GRACE);
    assert.equal(marked.packsMarked, old.length);
    assert.equal(marked.bytesFreed, 0);
    await checkClean(s);

    // A backup after the mark does not lean on the marked packs: the file is stored again.
    const fresh = await backup(s, 'fresh');
    assert.ok(fresh.added >= 400_000, `the new backup added ${fresh.added} bytes`);

    s.clock.tick(HOUR);
    const early = await prune(s, GRACE);
    assert.equal(early.packsDeleted, 0);
    assert.equal(early.packsPending, old.length);
    for (const p of old) assert.ok((await packs(s.repo)).includes(p), `pack ${p} is kept within the grace`);

    s.clock.tick(GRACE);
    const late = await prune(s, GRACE);
    assert.equal(late.packsDeleted, old.length);
    const left = await packs(s.repo);
    for (const p of old) assert.ok(!left.includes(p), `pack ${p} is deleted past the grace`);
    await restoresWhole(s, fresh.id, 'out');
    await checkClean(s);
  } finally {
    await s.cleanup();
  }
});

/** The local backend as a store without conditional writes: prune keeps to lock files. */
class WithoutConditions extends ForwardingBackend {
  override get capabilities() {
    return { ...this.inner.capabilities, conditionalWrites: false };
  }
}

test('prune with a grace runs beside a backup, not beside another prune; without one it waits as before', async () => {
  const s = await setup('lifeboat-prune-locks-');
  try {
    await backup(s, 'app');
    const holder = await open(s);
    try {
      const backupLock = await holder.lock(false, 'backup of app');
      await prune(s, GRACE);
      await assert.rejects(prune(s, 0), { code: 'locked' });
      await backupLock.release();

      // One prune at a time: by the lease (local storage writes on conditions)...
      const lease = await holder.lease('prune', 'prune');
      assert.ok(lease);
      await assert.rejects(prune(s, GRACE), { code: 'locked' });
      await backup(s, 'app'); // a backup still goes on beside it
      await lease.release();
      await prune(s, GRACE);

      // ... or, on storage without them, by the 'prune' lock scope.
      const plain = await Repository.open(new WithoutConditions(createLocalBackend(s.repo)), PASSWORD, {
        clock: s.clock,
        kdf: KDF,
      });
      try {
        assert.equal(await plain.lease('prune', 'prune'), undefined);
        const pruneLock = await plain.lock(false, 'prune', { scope: 'prune' });
        await assert.rejects(pruneRepository(plain, { graceMs: GRACE }), { code: 'locked' });
        await backup(s, 'app');
        await pruneLock.release();
        await pruneRepository(plain, { graceMs: GRACE });
      } finally {
        await plain.close();
      }
    } finally {
      await holder.close();
    }
  } finally {
    await s.cleanup();
  }
});

test('lifeboat prune --grace: marks, reports and deletes on a later run; 0 deletes at once; a bad duration is a usage error', async () => {
  const s = await setup('lifeboat-prune-cli-');
  try {
    const first = await backup(s, 'old');
    await lifeboat(['forget', first.id], s.env);
    const marked = JSON.parse((await lifeboat(['prune', '--grace', '24h', '--json'], s.env)).stdout);
    assert.equal(marked.packsDeleted, 0);
    assert.ok(marked.packsMarked > 0, JSON.stringify(marked));
    const text = await lifeboat(['prune', '--grace', '24h'], s.env);
    assert.match(text.stdout, /0 packs deleted.*\d+ waiting for their grace/);
    const bad = await runCli(['prune', '--grace', 'soon'], s.env);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    const now = JSON.parse((await lifeboat(['prune', '--grace', '0', '--json'], s.env)).stdout);
    assert.equal(now.packsDeleted, marked.packsMarked);
    assert.deepEqual(await packs(s.repo), []);
  } finally {
    await s.cleanup();
  }
});
