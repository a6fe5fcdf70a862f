/**
 * @module jobs/queue/job-queue.test
 * Admission under concurrency: the catalog is asynchronous, so requests that arrive together
 * must still be decided one at a time (one job of a source runs, the rest are skipped; one
 * approval of a restore wins). A real SQLite catalog and a real repository; the repository
 * opens only when the test lets it, so the first job stays running while the others arrive.
 * Prune: without a grace period it runs alone; with one (repository.prune_grace, or the job's
 * `grace`) backups run beside it, another prune never, a check waits for it.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CatalogStore } from '../../catalog/catalog-store.js';
import { openCatalog } from '../../catalog/open-catalog.js';
import { TestClock } from '../../clock.js';
import { parseConfig } from '../../config/config.js';
import { isLifeboatError } from '../../errors.js';
import { Repository } from '../../repo/repository.js';
import { openBackend } from '../../storage/registry.js';
import { JobQueue, runsAlone } from './job-queue.js';

const PASSWORD = 'pw-queue-Lm3!dock';
const KDF = { N: 1024, r: 8, p: 1 };
const quietLog = { info() {}, warn() {}, error() {} };

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-queue-'));
  await mkdir(join(dir, 'docs'));
  await writeFile(join(dir, 'docs', 'a.txt'), 'hello');
  await Repository.init(await openBackend(join(dir, 'repo')), PASSWORD, { kdf: KDF });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A queue over a fresh catalog whose repository opens once `release()` is called. */
async function gatedQueue(
  name: string,
  configHead = '',
): Promise<{ queue: JobQueue; catalog: CatalogStore; release: () => void }> {
  const clock = new TestClock('2026-01-01T00:00:00Z');
  const catalog = await openCatalog(join(dir, `${name}.catalog.sqlite`), clock);
  const config = parseConfig(
    `${configHead}sources:\n  docs:\n    type: files\n    path: ${join(dir, 'docs')}\n`,
    join(dir, 'x.yaml'),
    {},
  );
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const queue = new JobQueue({
    catalog,
    clock,
    config,
    log: quietLog,
    concurrency: 4,
    openRepository: async () => {
      await gate;
      return Repository.open(await openBackend(join(dir, 'repo')), PASSWORD, { kdf: KDF, clock });
    },
  });
  return { queue, catalog, release };
}

describe('JobQueue admission', () => {
  it('runs one of many backups of a source requested at once and records the rest as skipped', async () => {
    const { queue, catalog, release } = await gatedQueue('submits');
    const jobs = await Promise.all(
      Array.from({ length: 25 }, () =>
        queue.submit({ kind: 'backup', source: 'docs', trigger: 'api', requestedBy: 'test' }),
      ),
    );
    const admitted = jobs.filter((j) => j.status !== 'skipped');
    assert.equal(admitted.length, 1, jobs.map((j) => j.status).join(','));
    const [first] = admitted;
    for (const j of jobs.filter((j) => j.status === 'skipped')) {
      assert.match(j.error ?? '', new RegExp(`job ${first.id} \\(backup\\) of source docs is still`));
    }
    assert.deepEqual(
      (await catalog.activeJobs()).map((j) => j.id),
      [first.id],
    );
    release();
    const done = await queue.wait(first.id);
    await queue.idle();
    assert.equal(done.status, 'succeeded', done.error ?? '');
    assert.equal((await catalog.listJobs({ status: 'skipped' })).length, 24);
    await catalog.close();
  });

  it('lets one of two approvals given at once start an awaiting restore', async () => {
    const { queue, catalog, release } = await gatedQueue('approvals');
    const pending = await queue.submit({
      kind: 'restore',
      source: 'docs',
      trigger: 'api',
      requestedBy: 'alice',
      needsApproval: true,
      params: { snapshot: 'latest', to: join(dir, 'restored') },
    } as Parameters<JobQueue['submit']>[0]);
    assert.equal(pending.status, 'awaiting_approval');
    const outcomes = await Promise.allSettled([
      queue.approve(pending.id, 'bob'),
      queue.approve(pending.id, 'carol'),
    ]);
    const approved = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(approved.length, 1);
    const refused = outcomes.find((o) => o.status === 'rejected');
    assert.ok(refused && isLifeboatError(refused.reason) && refused.reason.code === 'conflict');
    release();
    await queue.idle();
    const job = await catalog.getJob(pending.id);
    assert.ok(job && ['succeeded', 'failed'].includes(job.status), job?.status);
    assert.equal((await catalog.listJobs({ kind: 'restore' })).length, 1);
    await catalog.close();
  });
});

describe('JobQueue and prune', () => {
  const request = (kind: 'prune' | 'backup' | 'check', params?: Record<string, unknown>) =>
    ({
      kind,
      source: kind === 'backup' ? 'docs' : null,
      trigger: 'api',
      requestedBy: 'test',
      params,
    }) as Parameters<JobQueue['submit']>[0];
  const running = (queue: JobQueue) =>
    queue
      .runningJobs()
      .map((j) => j.kind)
      .sort();

  it('runs a prune with the configured grace beside a backup, never beside another prune or a check', async () => {
    const { queue, catalog, release } = await gatedQueue('grace', 'repository:\n  prune_grace: 24h\n');
    const prune = await queue.submit(request('prune'));
    const backup = await queue.submit(request('backup'));
    assert.deepEqual(running(queue), ['backup', 'prune']);
    const second = await queue.submit(request('prune', { grace: '1h' }));
    assert.equal(second.status, 'skipped');
    assert.match(second.error ?? '', new RegExp(`job ${prune.id} \\(prune\\) of prune is still`));
    const check = await queue.submit(request('check'));
    assert.equal(check.status, 'queued');
    assert.deepEqual(running(queue), ['backup', 'prune'], 'the check waits for the prune');
    release();
    await queue.idle();
    for (const job of [prune, backup, check]) {
      const done = await catalog.getJob(job.id);
      assert.equal(done?.status, 'succeeded', `${job.kind}: ${done?.error}`);
    }
    const started = async (id: string) => Date.parse((await catalog.getJob(id))?.started_at ?? '');
    const finished = async (id: string) => Date.parse((await catalog.getJob(id))?.finished_at ?? '');
    assert.ok((await started(check.id)) >= (await finished(prune.id)));
    await catalog.close();
  });

  it('runs a prune without a grace alone: its grace 0 wins over the config', async () => {
    const { queue, catalog, release } = await gatedQueue('alone', 'repository:\n  prune_grace: 24h\n');
    const prune = await queue.submit(request('prune', { grace: '0' }));
    const backup = await queue.submit(request('backup'));
    assert.equal(backup.status, 'queued');
    assert.deepEqual(running(queue), ['prune'], 'the backup waits for the prune');
    release();
    await queue.idle();
    for (const job of [prune, backup]) {
      const done = await catalog.getJob(job.id);
      assert.equal(done?.status, 'succeeded', `${job.kind}: ${done?.error}`);
    }
    await catalog.close();
  });

  it('decides from the job, then the config, who runs alone', () => {
    const graceConfig = parseConfig('repository:\n  prune_grace: 2d\n', join(dir, 'g.yaml'), {});
    const plain = parseConfig('', join(dir, 'p.yaml'), {});
    const job = (kind: 'prune' | 'backup', params: Record<string, unknown> = {}) => ({
      id: 'j',
      kind,
      params,
    });
    assert.equal(runsAlone(job('prune'), plain), true);
    assert.equal(runsAlone(job('prune'), graceConfig), false);
    assert.equal(runsAlone(job('prune', { grace: '12h' }), plain), false);
    assert.equal(runsAlone(job('prune', { grace: 0 }), graceConfig), true);
    assert.equal(
      runsAlone(job('prune', { grace: 'soon' }), graceConfig),
      true,
      'bad params: as without a grace',
    );
    assert.equal(runsAlone(job('backup'), plain), false);
  });
});
