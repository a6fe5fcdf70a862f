/**
 * @module jobs/backup-job.test
 * A snapshot names the server job that saved it; a retried attempt of that job (its worker
 * died after writing the snapshot, before the catalog recorded it) takes the snapshot as its
 * own instead of saving a second one. Another job saves its own. Real repository on disk.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Repository } from '../repo/repository.js';
import { openBackend } from '../storage/registry.js';
import { backupSource } from './backup.js';

const PASSWORD = 'pw-backup-job-Qe7!';
const KDF = { N: 1024, r: 8, p: 1 };

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-backup-job-'));
  await mkdir(join(dir, 'docs'));
  await writeFile(join(dir, 'docs', 'a.txt'), 'hello');
  await Repository.init(await openBackend(join(dir, 'repo')), PASSWORD, { kdf: KDF });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function backup(job: string): Promise<string[]> {
  const repo = await Repository.open(await openBackend(join(dir, 'repo')), PASSWORD, { kdf: KDF });
  try {
    const report = await backupSource(repo, {
      name: 'docs',
      config: { type: 'files', path: join(dir, 'docs') },
      job,
    });
    assert.equal(report.status, 'ok', JSON.stringify(report.failures));
    for (const o of report.saved) assert.equal(o.snapshot.job, job);
    return report.saved.map((o) => o.id);
  } finally {
    await repo.close();
    await repo.closeStorage();
  }
}

async function snapshotCount(): Promise<number> {
  const repo = await Repository.open(await openBackend(join(dir, 'repo')), PASSWORD, { kdf: KDF });
  try {
    return (await repo.scanSnapshots()).snapshots.length;
  } finally {
    await repo.close();
    await repo.closeStorage();
  }
}

describe('a backup job and its snapshot', () => {
  it('a second attempt of the same job adopts the snapshot the first one saved', async () => {
    const first = await backup('job-1');
    assert.equal(first.length, 1);
    const again = await backup('job-1');
    assert.deepEqual(again, first);
    assert.equal(await snapshotCount(), 1);
  });

  it('another job saves a snapshot of its own', async () => {
    const next = await backup('job-2');
    assert.equal(next.length, 1);
    assert.equal(await snapshotCount(), 2);
  });
});
