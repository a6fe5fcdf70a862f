/**
 * @module test/server/apps-api
 * Applications through the HTTP API, for real: an app of a folder, a SQLite database and a
 * Redis server with a password, a recovery point taken by an app_backup job, the plan of a
 * restore returned before anything runs, a protected environment that waits for a second
 * admin (the requester cannot approve), a plan that changed by the approval refused with 409,
 * a restore whose data are compared with the sources', and an app drill whose RTO the app
 * list shows. The Redis password must not reach the catalog.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import { type Harness, startHarness } from './harness.js';

const REDIS_PASSWORD = 'rds-Pw-7c1f!apps';
const skip = redisUnavailable();

async function redisKeys(server: RedisServer): Promise<Record<string, string>> {
  const conn = await server.connect();
  try {
    const keys = ((await conn.call(['KEYS', '*'])) as Buffer[]).map((k) => k.toString()).sort();
    const out: Record<string, string> = {};
    for (const k of keys) out[k] = String(await conn.call(['GET', k]));
    return out;
  } finally {
    await conn.close();
  }
}

function rows(file: string): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT id, name FROM items ORDER BY id').all();
  } finally {
    db.close();
  }
}

describe('server: applications', { skip: skip ?? false, timeout: 300_000 }, () => {
  let h: Harness;
  let cache: RedisServer;
  let stagingCache: RedisServer;
  let prodCache: RedisServer;
  let point: string;

  before(async () => {
    [cache, stagingCache, prodCache] = await Promise.all(
      [0, 1, 2].map(() => startRedis({ password: REDIS_PASSWORD })),
    );
    const conn = await cache.connect();
    for (let i = 0; i < 5; i++) await conn.call(['SET', `cart:${i}`, `item-${i}`]);
    await conn.close();
    h = await startHarness({
      config: `
sources:
  docs:
    type: files
    path: $DIR/docs
  db:
    type: sqlite
    path: $DIR/app.db
  cache:
    type: redis
    url: ${cache.url}
apps:
  shop:
    sources: [docs, db, cache]
    environments:
      staging:
        targets:
          docs: $DIR/staging/docs
          db: $DIR/staging/app.db
          cache: ${stagingCache.url}
      production:
        protected: true
        targets:
          docs: $DIR/prod/docs
          db: $DIR/prod/app.db
          cache: ${prodCache.url}
`,
      files: {
        'docs/readme.md': 'shop docs\n',
        'docs/price/list.csv': 'a,1\nb,2\n',
        'prod/docs/old.txt': 'what production holds\n',
      },
    });
    const db = new Database(join(h.dir, 'app.db'));
    db.exec(
      "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items (name) VALUES ('a'), ('b')",
    );
    db.close();
  });
  after(async () => {
    await h?.close();
    await Promise.all([cache, stagingCache, prodCache].map((s) => s?.stop()));
  });

  it('app_backup takes a complete point, listed with its sources and sizes', async () => {
    const r = await h.call('POST', '/api/apps/shop/backups', { token: h.tokens.operator });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.job.kind, 'app_backup');
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(job.result.complete, true);
    point = job.result.point;
    assert.deepEqual(
      job.result.sources.map((s: { source: string; status: string }) => [s.source, s.status]),
      [
        ['docs', 'ok'],
        ['db', 'ok'],
        ['cache', 'ok'],
      ],
    );

    const points = await h.call('GET', '/api/apps/shop/points', { token: h.tokens.viewer });
    assert.equal(points.status, 200, points.text);
    assert.equal(points.body.points.length, 1);
    const [p] = points.body.points;
    assert.equal(p.id, point);
    assert.equal(p.complete, true);
    assert.deepEqual(
      p.sources.map((s: { source: string; complete: boolean }) => [s.source, s.complete]),
      [
        ['docs', true],
        ['db', true],
        ['cache', true],
      ],
    );
    assert.ok(
      p.sources.every(
        (s: { bytes_read: number; snapshots: unknown[] }) => s.bytes_read > 0 && s.snapshots.length === 1,
      ),
    );
    const before = await h.call('GET', `/api/apps/shop/points?before=${encodeURIComponent(p.time)}`, {
      token: h.tokens.viewer,
    });
    assert.deepEqual(before.body.points, []);

    const apps = await h.call('GET', '/api/apps', { token: h.tokens.viewer });
    assert.equal(apps.status, 200, apps.text);
    const [shop] = apps.body.apps;
    assert.equal(shop.name, 'shop');
    assert.deepEqual(shop.sources, ['docs', 'db', 'cache']);
    assert.equal(shop.latest_point.id, point);
    assert.deepEqual(
      shop.environments.map((e: { name: string; protected: boolean }) => [e.name, e.protected]),
      [
        ['staging', false],
        ['production', true],
      ],
    );
    // Targets are shown without the password, and without a bare "@" where it was.
    assert.equal(shop.environments[1].targets.cache, `redis://${prodCache.host}:${prodCache.port}`);
    assert.equal(shop.last_drill, null);
  });

  it('returns the plan before anything runs, with what each target holds', async () => {
    const r = await h.call('POST', '/api/apps/shop/plan', {
      token: h.tokens.operator,
      body: { point, env: 'production' },
    });
    assert.equal(r.status, 200, r.text);
    const { plan } = r.body;
    assert.equal(plan.protected, true);
    assert.equal(plan.point.id, point);
    assert.deepEqual(
      plan.sources.map((s: { source: string; method: string }) => [s.source, s.method]),
      [
        ['docs', 'snapshot'],
        ['db', 'snapshot'],
        ['cache', 'snapshot'],
      ],
    );
    const docs = plan.sources[0].snapshots[0].target;
    assert.equal(docs.exists, true);
    assert.match(docs.summary, /1 file/);
    assert.equal(plan.sources[1].snapshots[0].target.exists, false);
    assert.equal(plan.sources[2].to, `redis://${prodCache.host}:${prodCache.port}`);
    assert.equal(typeof plan.skewMs, 'number');
    const jobs = await h.call('GET', '/api/jobs?kind=app_restore', { token: h.tokens.viewer });
    assert.deepEqual(jobs.body.jobs, [], 'a plan is not a job');
    assert.deepEqual(await readdir(join(h.dir, 'prod', 'docs')), ['old.txt']);

    const bad = await h.call('POST', '/api/apps/shop/plan', {
      token: h.tokens.operator,
      body: { point, env: 'qa' },
    });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.body.error.message, /no environment "qa"/);
    const viewer = await h.call('POST', '/api/apps/shop/plan', {
      token: h.tokens.viewer,
      body: { point, env: 'production' },
    });
    assert.equal(viewer.status, 403);
  });

  it('a protected environment waits for a second admin; the requester cannot approve', async () => {
    const r = await h.call('POST', '/api/apps/shop/restores', {
      token: h.tokens.admin,
      body: { point, env: 'production' },
    });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.job.status, 'awaiting_approval');
    assert.equal(r.body.plan.point.id, point);
    const id = r.body.job.id;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await readdir(join(h.dir, 'prod', 'docs')), ['old.txt'], 'nothing ran before approval');

    const self = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.admin });
    assert.equal(self.status, 403, self.text);
    assert.match(self.body.error.message, /cannot approve it: a second admin must/);
    const operator = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.operator });
    assert.equal(operator.status, 403);

    const ok = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.admin2 });
    assert.equal(ok.status, 202, ok.text);
    const job = await h.waitJob(id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(job.approved_by, 'admin2');
    assert.equal(typeof job.result.rto_ms, 'number');

    // The data themselves: files, rows, keys.
    assert.equal(await readFile(join(h.dir, 'prod', 'docs', 'readme.md'), 'utf8'), 'shop docs\n');
    assert.equal(await readFile(join(h.dir, 'prod', 'docs', 'price', 'list.csv'), 'utf8'), 'a,1\nb,2\n');
    assert.deepEqual(rows(join(h.dir, 'prod', 'app.db')), rows(join(h.dir, 'app.db')));
    assert.deepEqual(await redisKeys(prodCache), await redisKeys(cache));

    const audit = await h.call('GET', '/api/audit?limit=50', { token: h.tokens.admin });
    const actions = audit.body.entries
      .filter((e: { target: string }) => e.target === id)
      .map((e: { action: string }) => e.action);
    for (const a of [
      'app_restore.request',
      'app_restore.approve_denied',
      'app_restore.approve',
      'app_restore.start',
      'app_restore.finish',
    ]) {
      assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);
    }
  });

  it('refuses (409) an approval whose plan changed: a target written to, a newer point', async () => {
    const ask = async () => {
      const r = await h.call('POST', '/api/apps/shop/restores', {
        token: h.tokens.operator,
        body: { point: 'latest', env: 'production' },
      });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.body.job.status, 'awaiting_approval');
      return r.body.job.id as string;
    };
    const first = await ask();
    await writeFile(join(h.dir, 'prod', 'docs', 'late.txt'), 'written after the plan was shown\n');
    const changed = await h.call('POST', `/api/restores/${first}/approve`, { token: h.tokens.admin });
    assert.equal(changed.status, 409, changed.text);
    assert.match(
      changed.body.error.message,
      /plan changed since it was requested: the target of docs now holds/,
    );
    const ended = await h.call('GET', `/api/jobs/${first}`, { token: h.tokens.viewer });
    assert.equal(ended.body.job.status, 'rejected');
    assert.ok((await readdir(join(h.dir, 'prod', 'docs'))).includes('late.txt'), 'nothing restored');

    const second = await ask();
    // The harness's clock stands still unless told: the newer point must be newer.
    h.clock.tick(60_000);
    const backup = await h.call('POST', '/api/apps/shop/backups', { token: h.tokens.operator });
    const newer = await h.waitJob(backup.body.job.id);
    assert.equal(newer.status, 'succeeded', newer.error);
    const refused = await h.call('POST', `/api/restores/${second}/approve`, { token: h.tokens.admin });
    assert.equal(refused.status, 409, refused.text);
    assert.match(
      refused.body.error.message,
      new RegExp(`the point is now ${newer.result.point.slice(0, 8)}`),
    );
  });

  it('never runs an unapproved restore into a protected environment (a retry resubmits one)', async () => {
    const original = (
      await h.call('GET', '/api/jobs?kind=app_restore&status=succeeded', { token: h.tokens.viewer })
    ).body.jobs[0];
    await h.server.runner.idle();
    // What `lifeboat jobs retry` does: the same kind and params, submitted to the queue without approval.
    const retry = await h.server.runner.submit({
      kind: 'app_restore',
      source: original.source,
      trigger: 'retry',
      requestedBy: 'cli:someone',
      retryOf: original.id,
      params: original.params,
    });
    const job = await h.waitJob(retry.id);
    assert.equal(job.status, 'failed');
    assert.match(job.error, /into protected environment production was not approved/);
  });

  it('restores into an unprotected environment at once', async () => {
    const r = await h.call('POST', '/api/apps/shop/restores', {
      token: h.tokens.operator,
      body: { point: point.slice(0, 8), env: 'staging', only: ['docs', 'cache'] },
    });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.job.status, 'queued');
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.deepEqual(
      job.result.sources.map((s: { source: string; ok: boolean }) => [s.source, s.ok]),
      [
        ['docs', true],
        ['cache', true],
      ],
    );
    assert.deepEqual((await readdir(join(h.dir, 'staging', 'docs'))).sort(), ['price', 'readme.md']);
    assert.deepEqual(await redisKeys(stagingCache), await redisKeys(cache));
  });

  it('app_drill records the RTO that GET /api/apps shows', async () => {
    const r = await h.call('POST', '/api/apps/shop/drills', { token: h.tokens.operator, body: { point } });
    assert.equal(r.status, 202, r.text);
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(job.result.passed, true);
    assert.equal(job.result.point, point);
    // The harness's clock is a TestClock: the time is measured on it, so it is a number, not a duration here.
    assert.equal(typeof job.result.rto_ms, 'number');
    const apps = await h.call('GET', '/api/apps', { token: h.tokens.viewer });
    const drill = apps.body.apps[0].last_drill;
    assert.equal(drill.id, job.result.drill);
    assert.equal(drill.rto_ms, job.result.rto_ms);
    assert.equal(drill.point, point);
    assert.equal(drill.passed, true);
  });

  it('keeps no Redis password in the catalog, the jobs or the audit log', async () => {
    await h.stop();
    const files = (await readdir(h.dir)).filter((f) => f.startsWith('lifeboat.catalog.sqlite'));
    assert.ok(files.length > 0);
    for (const f of files) {
      const bytes = await readFile(join(h.dir, f));
      assert.equal(bytes.includes(REDIS_PASSWORD), false, `${f} holds the password`);
      assert.equal(bytes.includes(encodeURIComponent(REDIS_PASSWORD)), false, `${f} holds the password`);
    }
    const catalog = new Database(join(h.dir, 'lifeboat.catalog.sqlite'), { readonly: true });
    try {
      const params = catalog.prepare("SELECT params FROM jobs WHERE kind = 'app_restore'").all() as {
        params: string;
      }[];
      assert.ok(params.length >= 3);
      for (const { params: p } of params) {
        assert.doesNotMatch(p, /redis:\/\/[^"]*@/, 'a target with credentials');
        assert.match(p, /"plan":/);
      }
    } finally {
      catalog.close();
    }
  });
});
