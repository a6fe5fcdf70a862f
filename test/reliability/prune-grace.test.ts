/**
 * Reliability: prune with a grace period beside running backups. A pack prune marks stays
 * readable and is deleted only by a later prune past the grace; a backup that loaded the
 * index before the mark and references the marked pack afterwards keeps its snapshot whole
 * (the next prune finds the reference and makes the pack live again); new backups do not
 * deduplicate against marked packs; and prune with a grace neither waits for backups nor
 * runs beside another prune. On S3 the lease goes through conditional writes, with s3rver
 * behind a front that enforces them as AWS does (test/helpers/s3-conditions.ts: s3rver
 * ignores If-None-Match / If-Match); on plain s3rver, conditional_writes: true is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestClock } from '../../src/clock.js';
import { runBackup } from '../../src/jobs/backup.js';
import { type PruneOutcome, pruneRepository } from '../../src/repo/maintenance/prune.js';
import { Repository } from '../../src/repo/repository.js';
import { createSource } from '../../src/sources/registry.js';
import type { Source } from '../../src/sources/source.js';
import type { Backend } from '../../src/storage/backend.js';
import { ForwardingBackend } from '../../src/storage/forwarding-backend.js';
import { createLocalBackend } from '../../src/storage/local/local-backend.js';
import { S3Backend } from '../../src/storage/s3/s3-backend.js';
import type { S3Settings } from '../../src/storage/s3/s3-settings.js';
import {
  S3RVER_CREDENTIALS,
  type S3rverServer,
  s3rverMissing,
  startS3rver,
} from '../../src/testing/servers/s3rver.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { type ConditionalFront, startConditionalFront } from '../helpers/s3-conditions.js';

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
  /** The repository's storage when it is not the local folder `repo`. */
  backend?: () => Backend;
}

/** A repository in a temp folder, or at `store` (its URL, the CLI's environment, its backend). */
async function setup(
  prefix: string,
  store?: { url: string; env: Record<string, string>; backend: () => Backend },
): Promise<Setup> {
  const { dir, cleanup } = await tempDir(prefix);
  const repo = store?.url ?? join(dir, 'repo');
  const env = repoEnv(repo, store?.env);
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'ledger.bin'), randomBytes(400_000));
  await writeFile(join(src, 'notes.txt'), 'kept across prunes\n');
  await lifeboat(['init'], env);
  return {
    dir,
    repo,
    env,
    src,
    clock: new TestClock('2026-03-01T00:00:00Z'),
    cleanup,
    backend: store?.backend,
  };
}

function open(s: Setup): Promise<Repository> {
  return Repository.open(s.backend?.() ?? createLocalBackend(s.repo), PASSWORD, { clock: s.clock, kdf: KDF });
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

// ---- S3 ---------------------------------------------------------------------------------

const s3Skip = s3rverMissing();
const s3Opts = s3Skip ? { skip: s3Skip } : {};
let s3: S3rverServer | undefined;
let front: ConditionalFront | undefined;
let buckets = 0;
before(async () => {
  if (s3Skip) return;
  s3 = await startS3rver();
  front = await startConditionalFront(s3);
});
after(async () => {
  await front?.close();
  await s3?.close();
});

/** A repository on s3rver, reached at `endpoint`; the CLI goes there with its default settings. */
function s3Setup(prefix: string, endpoint: string) {
  const url = `s3://grace-${process.pid}-${++buckets}/repo`;
  const settings = (extra: S3Settings = {}): S3Settings => ({
    endpoint,
    region: 'us-east-1',
    path_style: true,
    ...S3RVER_CREDENTIALS,
    ...extra,
  });
  const backend = (extra: S3Settings = {}) => new S3Backend(url, { settings: settings(extra), env: {} });
  return { url, backend, env: { ...s3!.env, AWS_ENDPOINT_URL_S3: endpoint }, prefix };
}

async function s3Packs(b: Backend): Promise<string[]> {
  const out: string[] = [];
  for await (const f of b.list('pack')) out.push(f.name);
  await b.close();
  return out.sort();
}

/** A first backup, forgotten, and a second of other content: the first one's packs are unused. */
async function unusedPacks(
  s: Setup,
  packsNow: () => Promise<string[]>,
): Promise<{ old: string[]; kept: string }> {
  const first = await backup(s, 'old');
  const old = await packsNow();
  await writeFile(join(s.src, 'ledger.bin'), randomBytes(300_000));
  await writeFile(join(s.src, 'notes.txt'), 'the second backup\n');
  const kept = await backup(s, 'kept');
  await lifeboat(['forget', first.id], s.env);
  return { old, kept: kept.id };
}

test(
  'S3 with conditional writes: of two racing prunes one holds the lease; a dead holder blocks only until its lease expires',
  s3Opts,
  async () => {
    const at = s3Setup('lifeboat-prune-s3-lease-', front!.endpoint);
    const store = () => at.backend({ conditional_writes: true });
    const s = await setup(at.prefix, { url: at.url, env: at.env, backend: store });
    try {
      const { old, kept } = await unusedPacks(s, () => s3Packs(store()));
      assert.ok(old.length > 0);

      const refusedBefore = front!.stats.refused;
      const raced = await Promise.allSettled([prune(s, GRACE), prune(s, GRACE)]);
      const won = raced.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<PruneOutcome>[];
      const lost = raced.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      assert.equal(won.length, 1, JSON.stringify(raced.map((r) => r.status)));
      assert.equal(lost[0].reason.code, 'locked');
      assert.match(lost[0].reason.message, /the prune lease is held by/);
      assert.ok(front!.stats.refused > refusedBefore, 'the front refused the losing conditional write');
      assert.equal(won[0].value.packsMarked, old.length);
      assert.equal(won[0].value.packsDeleted, 0);

      // A holder that died (it never renews nor releases): the next prune is refused...
      const dead = await open(s);
      const held = await dead.lease('prune', 'prune');
      assert.ok(held);
      await assert.rejects(prune(s, GRACE), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'locked');
        assert.match(err.message, /the prune lease is held by prune pid \d+ on host .*unless renewed/);
        return true;
      });
      // ... until its lease expires (10 minutes unless renewed; here past the grace as well):
      // then the next prune takes it over and deletes the marked packs.
      s.clock.tick(GRACE + HOUR);
      const late = await prune(s, GRACE);
      assert.equal(late.packsDeleted, old.length);
      await assert.rejects(held.renew(), { code: 'locked' });
      await dead.close();
      const left = await s3Packs(store());
      for (const p of old) assert.ok(!left.includes(p), `pack ${p} is deleted past the grace`);
      await restoresWhole(s, kept, 'out');
    } finally {
      await s.cleanup();
    }
  },
);

test(
  'S3 whose store ignores conditional writes: with conditional_writes on, prune refuses the lease and deletes nothing',
  s3Opts,
  async () => {
    // Plain s3rver, no front: it accepts If-None-Match: * on PutObject and ignores it.
    const at = s3Setup('lifeboat-prune-s3-ignored-', s3!.endpoint);
    const s = await setup(at.prefix, { url: at.url, env: at.env, backend: () => at.backend() });
    try {
      const { old, kept } = await unusedPacks(s, () => s3Packs(at.backend()));
      // Its default with a custom endpoint: no conditional writes, lock files. This marks.
      const marked = await prune(s, GRACE);
      assert.equal(marked.packsMarked, old.length);
      s.clock.tick(GRACE + HOUR);

      const claiming = { ...s, backend: () => at.backend({ conditional_writes: true }) };
      await assert.rejects(prune(claiming, GRACE), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'unsupported');
        assert.match(err.message, /does not honour conditional writes/);
        assert.match(err.message, /set repository\.s3\.conditional_writes: false/);
        return true;
      });
      // Past the grace, that prune would have deleted every marked pack: all are still there.
      const stored = await s3Packs(at.backend());
      for (const p of old) assert.ok(stored.includes(p), `pack ${p} is still stored`);
      const locks: string[] = [];
      const b = at.backend();
      for await (const f of b.list('lock')) locks.push(f.name);
      await b.close();
      assert.deepEqual(locks, [], 'no lease, lock or probe object is left behind');

      // With conditional_writes off it goes on, under the 'prune' lock scope.
      const late = await prune(s, GRACE);
      assert.equal(late.packsDeleted, old.length);
      await restoresWhole(s, kept, 'out');
    } finally {
      await s.cleanup();
    }
  },
);
