/**
 * Object Lock (`immutable_days`). What the S3 backend sends is checked against s3rver through
 * an observing proxy (s3rver ignores Object Lock, so retention itself is not enforced there).
 * What forget and prune do with retained objects is checked against a backend that enforces
 * retention as S3 does: remove() of a locked object fails with 'retained'.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestClock } from '../../src/clock.js';
import { LifeboatError } from '../../src/errors.js';
import { backupSource } from '../../src/jobs/backup.js';
import { runForget } from '../../src/jobs/forget.js';
import { runPrune } from '../../src/jobs/prune.js';
import { Repository } from '../../src/repo/repository.js';
import type { Backend, FileHandle } from '../../src/storage/backend.js';
import { S3Backend } from '../../src/storage/s3/s3-backend.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { type FaultProxy, startFaultProxy } from '../../src/testing/servers/fault-proxy.js';
import {
  S3RVER_CREDENTIALS,
  type S3rverServer,
  s3rverMissing,
  startS3rver,
} from '../../src/testing/servers/s3rver.js';
import { tempDir } from '../helpers/cli.js';

const DAY = 86_400_000;

/** A memory backend that enforces retention like S3 Object Lock: every object but locks. */
class RetainingBackend extends MemoryBackend {
  override readonly capabilities = {
    atomicReplace: true,
    rangedReads: true,
    freeSpace: false,
    retention: true,
  };
  readonly until = new Map<string, number>();
  constructor(
    private readonly clock: TestClock,
    private readonly days: number,
  ) {
    super('memory:retaining');
  }
  private k(h: FileHandle) {
    return `${h.type}/${h.name}`;
  }
  override async save(h: FileHandle, data: Buffer): Promise<void> {
    await super.save(h, data);
    if (h.type !== 'lock') this.until.set(this.k(h), this.clock.now().getTime() + this.days * DAY);
  }
  async retentionUntil(h: FileHandle): Promise<Date | undefined> {
    await this.stat(h);
    const t = this.until.get(this.k(h));
    return t !== undefined && t > this.clock.now().getTime() ? new Date(t) : undefined;
  }
  override async remove(h: FileHandle): Promise<void> {
    const t = this.until.get(this.k(h));
    if (t !== undefined && t > this.clock.now().getTime()) {
      throw new LifeboatError('retained', `[storage:memory] ${h.type} ${h.name.slice(0, 8)} is retained`);
    }
    await super.remove(h);
  }
}

test('retention: forget keeps and names locked snapshots; prune leaves locked packs; both act once it expires', async () => {
  const clock = new TestClock('2026-03-01T00:00:00Z');
  const backend = new RetainingBackend(clock, 7);
  const repo = await Repository.init(backend as Backend, 'pw', {
    clock,
    kdf: { N: 1024, r: 8, p: 1 },
    sealWorkers: 0,
  });
  const work = await tempDir('lifeboat-retention-');
  try {
    const data = join(work.dir, 'data');
    await mkdir(data);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await writeFile(join(data, `f${i}`), randomBytes(200_000));
      const {
        saved: [o],
      } = await backupSource(repo, { name: 'files', config: { type: 'files', path: data } });
      ids.push(o.id);
      clock.tick(DAY);
    }
    // Day 3: every snapshot is younger than 7 days.
    const dry = await runForget(repo, { policy: { last: 1 }, dryRun: true });
    assert.deepEqual(dry.removed, []);
    assert.deepEqual(dry.retained.map((r) => r.id).sort(), ids.slice(0, 2).sort());
    assert.equal(dry.retained.find((r) => r.id === ids[0])?.until, '2026-03-08T00:00:00.000Z');
    const locked = await runForget(repo, { policy: { last: 1 }, dryRun: false });
    assert.deepEqual(locked.removed, []);
    assert.equal(locked.retained.length, 2);
    assert.equal((await repo.listSnapshots()).length, 3);

    // Day 7.5: the first snapshot's lock expired, the second's not.
    clock.set('2026-03-08T12:00:00Z');
    const some = await runForget(repo, { policy: { last: 1 }, dryRun: false });
    assert.deepEqual(some.removed, [ids[0]]);
    assert.deepEqual(
      some.retained.map((r) => r.id),
      [ids[1]],
    );
    // Drop the other snapshots (their locks lifted by hand) so every pack is unused, while the
    // packs stay locked one more day: prune must leave them and say until when.
    for (const id of ids.slice(1)) {
      backend.until.delete(`snapshot/${id}`);
      await backend.remove({ type: 'snapshot', name: id });
    }
    for (const k of backend.until.keys())
      if (k.startsWith('pack/')) backend.until.set(k, clock.now().getTime() + DAY);
    const held = await runPrune(repo);
    assert.equal(held.packsDeleted, 0);
    assert.ok(held.packsRetained > 0, JSON.stringify(held));
    assert.equal(held.retainedUntil, '2026-03-09T12:00:00.000Z');
    clock.tick(2 * DAY);
    const freed = await runPrune(repo);
    assert.ok(freed.packsDeleted > 0 && freed.packsRetained === 0, JSON.stringify(freed));
  } finally {
    await repo.close();
    await work.cleanup();
  }
});

const skip = s3rverMissing();
let server: S3rverServer;
let proxy: FaultProxy;
const seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];

before(async () => {
  if (skip) return;
  server = await startS3rver();
  proxy = await startFaultProxy(
    { host: '127.0.0.1', port: server.port },
    {
      mode: 'pass',
      observe: (r) => seen.push({ method: r.method ?? '', url: r.url ?? '', headers: r.headers }),
    },
  );
});
after(async () => {
  await proxy?.close();
  await server?.close();
});

test('retention: the s3 backend writes Object Lock retention and Content-MD5 on everything but locks', {
  skip,
}, async () => {
  const now = Date.parse('2026-05-01T00:00:00Z');
  const b = new S3Backend(`s3://lock-${process.pid}/repo`, {
    settings: {
      endpoint: proxy.endpoint,
      region: 'us-east-1',
      path_style: true,
      ...S3RVER_CREDENTIALS,
      immutable_days: 30,
      immutable_mode: 'compliance',
      part_size: 5 * 1024 * 1024,
      storage_class: 'STANDARD_IA',
    },
    env: {},
    now: () => now,
  });
  try {
    assert.equal(b.capabilities.retention, true);
    seen.length = 0;
    await b.create();
    const create = seen.find((r) => r.method === 'PUT' && r.url.startsWith(`/lock-${process.pid}`));
    assert.equal(create?.headers['x-amz-bucket-object-lock-enabled'], 'true');
    const pack = randomBytes(32).toString('hex');
    seen.length = 0;
    await b.save({ type: 'pack', name: pack }, randomBytes(1000));
    await b.save({ type: 'index', name: 'i1' }, randomBytes(1000));
    await b.save({ type: 'lock', name: 'l1' }, randomBytes(100));
    await b.save({ type: 'pack', name: randomBytes(32).toString('hex') }, randomBytes(11 * 1024 * 1024));
    const puts = seen.filter((r) => r.method === 'PUT' || r.method === 'POST');
    const packPut = puts.find((r) => r.url.includes(pack))!;
    assert.equal(packPut.headers['x-amz-object-lock-mode'], 'COMPLIANCE');
    assert.equal(packPut.headers['x-amz-object-lock-retain-until-date'], '2026-05-31T00:00:00Z');
    assert.equal(packPut.headers['x-amz-storage-class'], 'STANDARD_IA');
    assert.ok(packPut.headers['content-md5']);
    const indexPut = puts.find((r) => r.url.includes('/index/i1'))!;
    assert.equal(indexPut.headers['x-amz-object-lock-mode'], 'COMPLIANCE');
    assert.equal(indexPut.headers['x-amz-storage-class'], undefined);
    const lockPut = puts.find((r) => r.url.includes('/locks/l1'))!;
    assert.equal(lockPut.headers['x-amz-object-lock-mode'], undefined);
    const multipartStart = puts.find((r) => r.method === 'POST' && r.url.includes('uploads'))!;
    assert.equal(multipartStart.headers['x-amz-object-lock-mode'], 'COMPLIANCE');
    const parts = puts.filter((r) => r.url.includes('partNumber='));
    assert.equal(parts.length, 3);
    assert.ok(parts.every((p) => p.headers['content-md5']));
    // s3rver keeps no retention: the object is removable, through the version-aware path.
    assert.equal(await b.retentionUntil({ type: 'pack', name: pack }), undefined);
    await b.remove({ type: 'pack', name: pack });
    await assert.rejects(b.stat({ type: 'pack', name: pack }), { code: 'not_found' });
    await b.remove({ type: 'pack', name: pack });
  } finally {
    await b.close();
  }
});
