// A write-only key is the credential a compromised backup host holds. It can add snapshots
// but must not be able to make retention delete good ones, nor choose what `restore latest`
// brings back: here it writes garbage as the same source, dated 2099, and floods the present.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TestClock } from '../../src/clock.js';
import { backupSource } from '../../src/jobs/backup.js';
import { Repository } from '../../src/repo/repository.js';
import { createLocalBackend } from '../../src/storage/local/local-backend.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { KDF, PASSWORD, startHarness } from '../server/harness.js';

const WO_PASSWORD = 'backup-host-password';
/** The password repoEnv gives the CLI. */
const FULL_PASSWORD = 'test-password';
const DAY = 86_400_000;

/** Backs up `path` as source `name` through the write-only key, with the repository's clock at `time`. */
async function writeOnlyBackup(repo: string, name: string, path: string, time: Date): Promise<string> {
  const wo = await Repository.open(createLocalBackend(repo), WO_PASSWORD, {
    clock: new TestClock(time),
    kdf: KDF,
  });
  try {
    assert.equal(wo.writeOnly, true);
    const report = await backupSource(wo, { name, config: { type: 'files', path } });
    assert.equal(report.failures.length, 0, report.failures.map((f) => f.error.message).join('; '));
    return report.saved[0].id;
  } finally {
    await wo.close();
  }
}

async function fullBackup(repo: string, name: string, path: string, time: Date): Promise<string> {
  const full = await Repository.open(createLocalBackend(repo), FULL_PASSWORD, {
    clock: new TestClock(time),
    kdf: KDF,
  });
  try {
    return (await backupSource(full, { name, config: { type: 'files', path } })).saved[0].id;
  } finally {
    await full.close();
  }
}

async function snapshotOf(env: NodeJS.ProcessEnv, id: string): Promise<{ time: string }> {
  return JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout).find(
    (s: { id: string }) => s.id === id,
  );
}

async function snapshotIds(env: NodeJS.ProcessEnv): Promise<string[]> {
  const list = JSON.parse((await lifeboat(['snapshots', '--json'], env)).stdout) as { id: string }[];
  return list.map((s) => s.id).sort();
}

/** A repository path with its CLI environment, the genuine source and the attacker's, in `dir`. */
async function layout(dir: string) {
  const repo = join(dir, 'repo');
  const src = join(dir, 'src');
  const garbage = join(dir, 'garbage');
  await mkdir(src);
  await mkdir(garbage);
  return { repo, full: repoEnv(repo), src, garbage };
}

test('a write-only snapshot dated 2099 neither wins forget --keep-last nor restore latest', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-future-');
  try {
    const { repo, full, src, garbage } = await layout(dir);
    await writeFile(join(src, 'data.bin'), randomBytes(200_000));
    await writeFile(join(garbage, 'data.bin'), Buffer.from('attacker data\n'));
    await lifeboat(['init'], full);
    await lifeboat(['backup', '--type', 'files', '--name', 'app', '--path', src], full);
    await writeFile(join(src, 'day-two.txt'), 'the genuine latest\n');
    const genuine = JSON.parse(
      (await lifeboat(['backup', '--json', '--type', 'files', '--name', 'app', '--path', src], full)).stdout,
    )[0].saved[0].id as string;
    await lifeboat(['key', 'add', '--write-only'], { ...full, LIFEBOAT_NEW_PASSWORD: WO_PASSWORD });

    // The attack: garbage as the same source, claiming 2099.
    const future = await writeOnlyBackup(repo, 'app', garbage, new Date('2099-01-01T00:00:00Z'));

    const r = await runCli(['forget', '--keep-last', '1'], full);
    assert.equal(r.code, 0, r.stderr);
    // The genuine latest stays, the one before goes, the forged one is neither counted nor removed.
    assert.deepEqual(await snapshotIds(full), [genuine, future].sort());
    const restored = await runCli(['restore', 'latest', '--to', join(dir, 'out')], full);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await compareTrees(src, join(dir, 'out')), []);

    // Both say what they passed over.
    assert.match(
      r.stderr,
      new RegExp(
        `snapshot ${future.slice(0, 8)} claims 2099-01-01T00:00:00.000Z, \\d+ days ahead of the storage clock: not counted, kept`,
      ),
    );
    assert.match(r.stdout, new RegExp(`${genuine.slice(0, 8)} .* keep {4}\\(last 1/1\\)`));
    assert.match(
      restored.stderr,
      new RegExp(`snapshot ${future.slice(0, 8)} claims 2099.*not taken as latest`),
    );

    // Named by id, the forged snapshot is still there to look at.
    await lifeboat(['restore', future.slice(0, 8), '--to', join(dir, 'forged')], full);
    assert.deepEqual(await compareTrees(garbage, join(dir, 'forged')), []);
  } finally {
    await cleanup();
  }
});

test('keep-within keeps every full-key snapshot younger than the duration however many write-only ones come', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-within-');
  try {
    const { repo, full, src, garbage } = await layout(dir);
    await writeFile(join(src, 'a.txt'), 'genuine\n');
    await writeFile(join(garbage, 'a.txt'), 'flood\n');
    await lifeboat(['init'], full);
    await lifeboat(['key', 'add', '--write-only'], { ...full, LIFEBOAT_NEW_PASSWORD: WO_PASSWORD });
    const now = Date.now();
    const old = await fullBackup(repo, 'app', src, new Date(now - 40 * DAY));
    const young: string[] = [];
    for (const days of [20, 10, 1])
      young.push(await fullBackup(repo, 'app', src, new Date(now - days * DAY)));
    const flood: string[] = [];
    for (let i = 0; i < 12; i++) {
      flood.push(await writeOnlyBackup(repo, 'app', garbage, new Date(now - i * 60_000)));
    }
    const forged = await writeOnlyBackup(repo, 'app', garbage, new Date('2099-06-01T00:00:00Z'));

    const r = await runCli(['forget', '--keep-within', '30d', '--keep-last', '2', '--json'], full);
    assert.equal(r.code, 0, r.stderr);
    const [group] = JSON.parse(r.stdout) as {
      keep: { id: string; reasons: string[] }[];
      remove: { id: string }[];
    }[];
    assert.deepEqual(
      group.remove.map((x) => x.id),
      [old],
    );
    for (const id of young) {
      assert.ok(
        group.keep.find((k) => k.id === id)?.reasons.includes('within 30d'),
        `${id} kept as within 30d`,
      );
    }
    // The two newest full-key snapshots are the last 2 whatever the flood: judged among full keys.
    assert.deepEqual(
      group.keep
        .filter((k) => k.reasons.some((x) => x.startsWith('last ')))
        .map((k) => k.id)
        .filter((id) => young.includes(id)),
      young.slice(1).reverse(),
    );
    assert.deepEqual(await snapshotIds(full), [...young, ...flood, forged].sort());

    // Re-encrypted under the data key, the flood still counts as written with a write-only key.
    // (Ids change on re-encryption; times do not.)
    const youngTimes = await Promise.all(young.slice(1).map(async (id) => (await snapshotOf(full, id)).time));
    await lifeboat(['key', 'rotate', '--reencrypt'], full);
    const rekeyed = await runCli(['forget', '--keep-last', '2', '--dry-run', '--json'], full);
    assert.equal(rekeyed.code, 0, rekeyed.stderr);
    const [after] = JSON.parse(rekeyed.stdout) as { keep: { time: string; reasons: string[] }[] }[];
    for (const time of youngTimes) {
      assert.ok(
        after.keep.some((k) => k.time === time && k.reasons.some((x) => x.startsWith('last '))),
        `full-key snapshot of ${time} is among the last 2 full-key ones`,
      );
    }

    // "Backups are retained for 30 days" is one line of config.
    const config = join(dir, 'lifeboat.yaml');
    await writeFile(
      config,
      `sources:\n  app:\n    type: files\n    path: ${src}\n    retention: { within: 30d }\n`,
    );
    await fullBackup(repo, 'app', src, new Date(now - 35 * DAY)); // 34 days before the newest
    const byConfig = await runCli(['--config', config, 'forget', '--dry-run'], full);
    assert.equal(byConfig.code, 0, byConfig.stderr);
    assert.match(byConfig.stdout, /1 snapshot would be removed/);
    assert.match(byConfig.stdout, /keep {4}\(within 30d\)/);
  } finally {
    await cleanup();
  }
});

test('the server: retention after a backup and a restore of latest ignore a forged 2099 snapshot', async () => {
  const h = await startHarness({
    config: 'sources:\n  docs:\n    type: files\n    path: $DIR/docs\n    retention: { last: 1 }\n',
    clock: new TestClock(new Date()),
    files: { 'docs/a.txt': 'genuine day one\n', 'garbage/a.txt': 'attacker data\n' },
  });
  try {
    const owner = await Repository.open(createLocalBackend(h.repo), PASSWORD, { kdf: KDF });
    await owner.addKey(WO_PASSWORD, { writeOnly: true });
    await owner.close();
    const backup = async () => {
      const r = await h.call('POST', '/api/sources/docs/backups', { token: h.tokens.operator });
      assert.equal(r.status, 202, r.text);
      const job = await h.waitJob(r.body.job.id);
      assert.equal(job.status, 'succeeded', job.error);
      await h.server.runner.idle(); // the retention that follows
      return job.snapshots[0] as string;
    };
    const first = await backup();
    const forged = await writeOnlyBackup(
      h.repo,
      'docs',
      join(h.dir, 'garbage'),
      new Date('2099-01-01T00:00:00Z'),
    );
    await writeFile(join(h.dir, 'docs/a.txt'), 'genuine day two\n');
    h.clock.tick(60_000);
    const second = await backup();

    const snaps = (await h.call('GET', '/api/snapshots?source=docs')).body.snapshots as { id: string }[];
    assert.deepEqual(snaps.map((s) => s.id).sort(), [second, forged].sort(), 'the genuine latest is kept');
    const forgets = (await h.call('GET', '/api/jobs?source=docs&kind=forget')).body.jobs;
    assert.ok(forgets.every((j: { status: string }) => j.status === 'succeeded'));
    assert.deepEqual(
      forgets.flatMap((j: { result: { removed: string[] } }) => j.result.removed),
      [first],
    );
    assert.deepEqual(forgets[0].result.not_counted, [forged], 'the retention job names the forged snapshot');

    const restore = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: join(h.dir, 'out') },
    });
    assert.equal(restore.status, 202, restore.text);
    assert.equal((await h.waitJob(restore.body.job.id)).status, 'succeeded');
    assert.deepEqual(await compareTrees(join(h.dir, 'docs'), join(h.dir, 'out')), []);
  } finally {
    await h.close();
  }
});
