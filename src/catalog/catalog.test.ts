/**
 * @module catalog/catalog.test
 * The SQLite catalog behind the asynchronous contract: writes started together (audit
 * appends, token creations, rebuilds) keep the hash chain whole, the names unique and each
 * rebuilt job single; where a catalog lives (a file path resolved, a postgres:// URL kept as
 * it is, and opened as the PostgreSQL catalog).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { TestClock } from '../clock.js';
import { isLifeboatError } from '../errors.js';
import { catalogPath, openCatalog } from './open-catalog.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-catalog-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SQLite catalog', () => {
  it('keeps the audit chain whole when many appends are started at once', async () => {
    const catalog = await openCatalog(join(dir, 'audit.sqlite'), new TestClock('2026-01-01T00:00:00Z'));
    assert.equal(catalog.kind, 'sqlite');
    assert.equal(catalog.created, true);
    const entries = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        catalog.audit.append({ actor: `actor-${i}`, action: 'test.append', target: String(i) }),
      ),
    );
    assert.deepEqual(
      entries.map((e) => e.seq).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const v = await catalog.audit.verify();
    assert.equal(v.ok, true, v.firstBad?.reason);
    assert.equal(v.entries, 50);
    assert.equal((await catalog.audit.list({ limit: 100 })).length, 50);
    await catalog.close();
  });

  it('creates one of several same-named tokens requested at once, each change audited', async () => {
    const catalog = await openCatalog(join(dir, 'tokens.sqlite'), new TestClock('2026-01-01T00:00:00Z'));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => catalog.tokens.create('ci', 'operator', 'test')),
    );
    const created = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(created.length, 1);
    for (const o of outcomes) {
      if (o.status === 'rejected') assert.ok(isLifeboatError(o.reason) && o.reason.code === 'usage');
    }
    const { token } = (created[0] as PromiseFulfilledResult<{ token: string }>).value;
    assert.deepEqual(await catalog.tokens.authenticate(token), { name: 'ci', role: 'operator' });
    await catalog.tokens.revoke('ci', 'test');
    assert.equal(await catalog.tokens.authenticate(token), undefined);
    const actions = (await catalog.audit.list()).map((e) => e.action).reverse();
    assert.deepEqual(actions, ['token.create', 'token.revoke']);
    assert.equal((await catalog.audit.verify()).ok, true);
    await catalog.close();
  });

  it('adds a rebuilt job once when two rebuilds run at once', async () => {
    const catalog = await openCatalog(join(dir, 'rebuild.sqlite'), new TestClock('2026-01-01T00:00:00Z'));
    const job = {
      kind: 'backup' as const,
      source: 'docs',
      trigger: 'rebuilt' as const,
      status: 'succeeded' as const,
      created_at: '2026-01-01T00:00:00.000Z',
      started_at: '2026-01-01T00:00:00.000Z',
      finished_at: '2026-01-01T00:00:05.000Z',
      bytes_read: 10,
      bytes_stored: 10,
      snapshots: ['a1b2c3d4'],
      error: null,
      requested_by: null,
      approved_by: null,
      params: {},
      result: null,
      rebuilt: true,
      retry_of: null,
      owner: null,
    };
    const added = await Promise.all([catalog.insertFinishedJobs([job]), catalog.insertFinishedJobs([job])]);
    assert.deepEqual(added.sort(), [0, 1]);
    assert.equal((await catalog.listJobs()).length, 1);
    assert.deepEqual([...(await catalog.knownSnapshots())], ['a1b2c3d4']);
    await catalog.close();
  });

  it('reopens an existing file as not created', async () => {
    const file = join(dir, 'reopen.sqlite');
    const clock = new TestClock('2026-01-01T00:00:00Z');
    const first = await openCatalog(file, clock);
    await first.setMeta('k', 'v');
    await first.close();
    const again = await openCatalog(file, clock);
    assert.equal(again.created, false);
    assert.equal(again.location, file);
    assert.equal(await again.getMeta('k'), 'v');
    await again.ping();
    await again.close();
  });
});

describe('catalog location', () => {
  it('gives a file from before the progress column the column, keeping its jobs', async () => {
    const file = join(dir, 'old-layout.sqlite');
    const clock = new TestClock('2026-01-01T00:00:00Z');
    const first = await openCatalog(file, clock);
    const job = await first.createJob({ kind: 'backup', source: 'docs', trigger: 'api', status: 'queued' });
    await first.close();
    // As an earlier Lifeboat left it: no progress column.
    const db = new Database(file);
    db.exec('ALTER TABLE jobs DROP COLUMN progress');
    db.close();
    const again = await openCatalog(file, clock);
    try {
      assert.equal((await again.getJob(job.id))?.source, 'docs');
      const progress = { phase: 'backup docs', files_done: 1, bytes_done: 5 } as never;
      assert.deepEqual((await again.updateJob(job.id, { progress })).progress, progress);
    } finally {
      await again.close();
    }
  });

  it('resolves file paths and keeps postgres:// URLs as they are', () => {
    const url = 'postgres://lifeboat:secret@db.example:5432/lifeboat';
    assert.equal(catalogPath({ server: { catalog: url } } as never, '/etc/lifeboat/lifeboat.yaml', {}), url);
    assert.equal(catalogPath({}, '/etc/lifeboat/lifeboat.yaml', { LIFEBOAT_CATALOG: url }), url);
    assert.equal(
      catalogPath({ server: { catalog: 'state/cat.sqlite' } } as never, '/etc/lifeboat/lifeboat.yaml', {}),
      '/etc/lifeboat/state/cat.sqlite',
    );
    assert.equal(catalogPath({}, undefined, { LIFEBOAT_CATALOG: 'c.sqlite' }), resolve('c.sqlite'));
  });

  it('opens a PostgreSQL catalog for a postgres:// URL; its errors never repeat the password', async () => {
    await assert.rejects(
      openCatalog('postgresql://lifeboat:secret@127.0.0.1:1/lifeboat', new TestClock('2026-01-01T00:00:00Z')),
      (err: unknown) => {
        assert.ok(isLifeboatError(err));
        assert.equal(err.code, 'unavailable');
        assert.match(
          err.message,
          /^\[catalog\] cannot open postgresql:\/\/lifeboat@127\.0\.0\.1:1\/lifeboat: connection refused/,
        );
        assert.doesNotMatch(err.message, /secret/);
        return true;
      },
    );
  });
});
