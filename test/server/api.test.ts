/**
 * @module test/server/api
 * The HTTP API through real HTTP: tokens and roles (401, 403, 429), request validation that
 * names the field, backups started over the API, snapshot listing with filters and pages,
 * jobs, the OpenAPI document, metrics, health, drills and that secrets never show.
 */
import assert from 'node:assert/strict';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Harness, startHarness } from './harness.js';

const CONFIG = `
sources:
  docs:
    type: files
    path: $DIR/docs
    schedule: "0 3 * * *"
    max_age: 26h
  slow:
    type: files
    path: $DIR/docs
    hooks: { before_backup: "sleep 1" }
`;

describe('server API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      config: CONFIG,
      files: { 'docs/a.txt': 'alpha\n', 'docs/sub/b.txt': 'beta\n' },
    });
  });
  after(async () => {
    await h?.close();
  });

  it('answers /healthz without a token, and everything else only with one', async () => {
    const health = await h.call('GET', '/healthz', { token: null });
    assert.equal(health.status, 200, health.text);
    assert.deepEqual(health.body, {
      status: 'ok',
      checks: { catalog: 'ok', repository: 'ok', scheduler: 'ok' },
    });
    for (const path of [
      '/metrics',
      '/api/sources',
      '/api/snapshots',
      '/api/jobs',
      '/api/openapi.json',
      '/api/audit',
    ]) {
      const r = await h.call('GET', path, { token: null });
      assert.equal(r.status, 401, `${path}: ${r.text}`);
      assert.equal(r.body.error.code, 'unauthorized');
    }
    const bad = await h.call('GET', '/api/sources', { token: 'lb_not-a-real-token' });
    assert.equal(bad.status, 401);
    assert.match(bad.body.error.message, /invalid or revoked token/);
  });

  it('a worker token passes no API route; the worker routes need fleet mode (409 on SQLite)', async () => {
    const { token } = await h.server.catalog.tokens.create('w-db1', 'worker', 'test', { host: 'db1' });
    for (const path of ['/api/sources', '/api/jobs', '/api/snapshots', '/api/audit', '/api/whoami']) {
      const r = await h.call('GET', path, { token });
      assert.equal(r.status, 403, `${path}: ${r.text}`);
      assert.match(r.body.error.message, /role worker/);
    }
    const backup = await h.call('POST', '/api/sources/docs/backups', { token });
    assert.equal(backup.status, 403);
    const register = { name: 'w', host: 'h', pid: 1, labels: { host: 'db1' } };
    const r = await h.call('POST', '/api/worker/register', { token, body: register });
    assert.equal(r.status, 409, r.text);
    assert.match(r.body.error.message, /need fleet mode/);
    const admin = await h.call('POST', '/api/worker/register', { body: register });
    assert.equal(admin.status, 403, admin.text);
    assert.match(admin.body.error.message, /needs worker/);
  });

  it('enforces roles: viewer < operator < admin', async () => {
    const { viewer, operator, admin } = h.tokens;
    assert.equal((await h.call('GET', '/api/sources', { token: viewer })).status, 200);
    const denied = await h.call('POST', '/api/sources/docs/backups', { token: viewer });
    assert.equal(denied.status, 403, denied.text);
    assert.match(
      denied.body.error.message,
      /role viewer; POST \/api\/sources\/\{name\}\/backups needs operator/,
    );
    assert.equal((await h.call('GET', '/api/audit', { token: operator })).status, 403);
    assert.equal((await h.call('GET', '/api/audit', { token: admin })).status, 200);
    const restore = await h.call('POST', '/api/restores', {
      token: viewer,
      body: { snapshot: 'latest', source: 'docs', to: join(h.dir, 'x') },
    });
    assert.equal(restore.status, 403);
    // The denied mutation is in the audit log.
    const audit = await h.call('GET', '/api/audit?action=auth.denied');
    assert.ok(audit.body.entries.some((e: { actor: string }) => e.actor === 'viewer'));
  });

  it('starts a backup (202), runs it, and lists its snapshot', async () => {
    const r = await h.call('POST', '/api/sources/docs/backups', {
      token: h.tokens.operator,
      body: { tags: ['manual'] },
    });
    assert.equal(r.status, 202, r.text);
    assert.match(r.body.job.id, /^[0-9a-f]{16}$/);
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(job.kind, 'backup');
    assert.equal(job.trigger, 'api');
    assert.equal(job.requested_by, 'operator');
    assert.equal(job.bytes_read, 11);
    assert.ok(job.bytes_stored > 0);
    assert.match(job.snapshot, /^[0-9a-f]{64}$/);
    assert.equal(job.started_at, '2026-01-01T00:00:00.000Z');

    const snaps = await h.call('GET', '/api/snapshots?source=docs', { token: h.tokens.viewer });
    assert.equal(snaps.status, 200);
    assert.equal(snaps.body.total, 1);
    assert.equal(snaps.body.snapshots[0].id, job.snapshot);
    assert.deepEqual(snaps.body.snapshots[0].tags, ['manual']);
    assert.equal(snaps.body.snapshots[0].stats.files, 2);

    const sources = await h.call('GET', '/api/sources', { token: h.tokens.viewer });
    const docs = sources.body.sources.find((s: { name: string }) => s.name === 'docs');
    assert.equal(docs.last_backup.snapshot, job.snapshot);
    assert.deepEqual(docs.rpo, { max_age: '26h', max_age_seconds: 93600, age_seconds: 0, breached: false });
    assert.equal(docs.next_run, '2026-01-01T03:00:00.000Z');
    assert.deepEqual(docs.schedule, { cron: '0 3 * * *', timezone: 'UTC' });

    const audit = await h.call('GET', '/api/audit?action=backup');
    assert.equal(audit.body.entries[0].action, 'backup.request');
    assert.equal(audit.body.entries[0].actor, 'operator');
    assert.equal(audit.body.entries[0].details.job, job.id);
  });

  it('lists snapshots newest first, filtered and a page at a time', async () => {
    for (const tag of ['t1', 't2', 't3']) {
      h.clock.tick(3_600_000);
      const r = await h.call('POST', '/api/sources/docs/backups', { body: { tags: [tag] } });
      assert.equal((await h.waitJob(r.body.job.id)).status, 'succeeded');
    }
    const all = await h.call('GET', '/api/snapshots');
    assert.equal(all.body.total, 4);
    const times = all.body.snapshots.map((s: { time: string }) => s.time);
    assert.deepEqual(times, [...times].sort().reverse());
    const page = await h.call('GET', '/api/snapshots?limit=2&offset=1');
    assert.equal(page.body.total, 4);
    assert.deepEqual(
      page.body.snapshots.map((s: { id: string }) => s.id),
      all.body.snapshots.slice(1, 3).map((s: { id: string }) => s.id),
    );
    const tagged = await h.call('GET', '/api/snapshots?tag=t2');
    assert.equal(tagged.body.total, 1);
    assert.deepEqual(tagged.body.snapshots[0].tags, ['t2']);
    const window = await h.call(
      'GET',
      '/api/snapshots?after=2026-01-01T00:30:00Z&before=2026-01-01T02:30:00Z',
    );
    assert.deepEqual(
      window.body.snapshots.map((s: { time: string }) => s.time),
      ['2026-01-01T02:00:00.000Z', '2026-01-01T01:00:00.000Z'],
    );
    const jobs = await h.call('GET', '/api/jobs?source=docs&status=succeeded&kind=backup&limit=2');
    assert.equal(jobs.body.jobs.length, 2);
  });

  it('restores the newest snapshot at or before a time for a source without WAL ("at")', async () => {
    const t1 = (await h.call('GET', '/api/snapshots?tag=t1')).body.snapshots[0];
    assert.equal(t1.time, '2026-01-01T01:00:00.000Z');
    const to = join(h.dir, 'at-restore');
    const r = await h.call('POST', '/api/restores', {
      body: { snapshot: 'latest', source: 'docs', at: '2026-01-01T01:30:00Z', to },
    });
    assert.equal(r.status, 202, r.text);
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(job.result.snapshot, t1.id);
    assert.equal(job.params.at, undefined, 'an ordinary restore of that snapshot');
    assert.equal(await readFile(join(to, 'a.txt'), 'utf8'), 'alpha\n');
  });

  it('answers 400 naming the bad field', async () => {
    const cases: [string, string, unknown, RegExp, string][] = [
      ['GET', '/api/snapshots?limit=abc', undefined, /query\.limit: /, 'limit'],
      ['GET', '/api/snapshots?limit=5000', undefined, /query\.limit: expected at most 1000/, 'limit'],
      [
        'GET',
        '/api/snapshots?before=yesterday',
        undefined,
        /query\.before: expected an ISO 8601 time/,
        'before',
      ],
      [
        'GET',
        '/api/snapshots?colour=red',
        undefined,
        /query\.colour: unknown parameter \(allowed: source, tag/,
        'colour',
      ],
      ['GET', '/api/jobs?status=done', undefined, /query\.status: expected "queued" or/, 'status'],
      [
        'POST',
        '/api/restores',
        { to: '/tmp/x' },
        /body\.snapshot: expected a string \(required\)/,
        'snapshot',
      ],
      [
        'POST',
        '/api/restores',
        { snapshot: 'latest', source: 'docs', to: '/x', tables: 'users' },
        /body\.tables: expected a list, got a string/,
        'tables',
      ],
      [
        'POST',
        '/api/restores',
        { snapshot: 'latest', source: 'docs', to: '' },
        /body\.to: expected a non-empty string/,
        'to',
      ],
      [
        'POST',
        '/api/restores',
        { snapshot: 'latest', source: 'docs', to: '/x', overwrite: 'yes' },
        /body\.overwrite: expected a boolean/,
        'overwrite',
      ],
      [
        'POST',
        '/api/restores',
        { snapshot: 'nothex!', source: 'docs', to: '/x' },
        /is not a snapshot id/,
        'snapshot',
      ],
      [
        'POST',
        '/api/restores',
        { snapshot: 'latest', source: 'docs', to: '/x', at: '2000-01-01T00:00:00Z' },
        /body\.at: no snapshot of source "docs" at or before 2000-01-01T00:00:00\.000Z/,
        'at',
      ],
      [
        'POST',
        '/api/restores',
        { snapshot: 'latest', source: 'docs', to: '/x', at: 'name:before_upgrade' },
        /body\.at: source "docs" has snapshots, not a PostgreSQL base backup with WAL, so only a time applies/,
        'at',
      ],
      [
        'POST',
        '/api/restores',
        { snapshot: 'abcdef12', source: 'docs', to: '/x', at: '2030-01-01T00:00:00Z' },
        /body\.at: a point-in-time restore needs "snapshot": "latest" and a "source"/,
        'at',
      ],
      [
        'POST',
        '/api/sources/docs/backups',
        { tags: ['has space'] },
        /body\.tags\[0\]: expected a tag/,
        'tags[0]',
      ],
      ['GET', '/api/jobs/xyz', undefined, /path\.id: expected a job id/, 'id'],
    ];
    for (const [method, path, body, message, field] of cases) {
      const r = await h.call(method, path, { body });
      assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.match(r.body.error.message, message, r.text);
      assert.equal(r.body.error.field, field, r.text);
    }
    const badJson = await fetch(`${h.base}/api/restores`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/json' },
      body: '{"snapshot": ',
    });
    assert.equal(badJson.status, 400);
    assert.match((await badJson.json()).error.message, /not valid JSON/);
  });

  it('takes an empty body with a JSON content type as no body', async () => {
    const res = await fetch(`${h.base}/api/sources/docs/backups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.tokens.operator}`, 'content-type': 'application/json' },
    });
    assert.equal(res.status, 202);
    const { job } = (await res.json()) as { job: { id: string } };
    assert.equal((await h.waitJob(job.id)).status, 'succeeded');
    await h.server.runner.idle();
  });

  it('answers 404 for unknown sources, jobs and snapshots', async () => {
    const src = await h.call('POST', '/api/sources/nope/backups');
    assert.equal(src.status, 404);
    assert.match(src.body.error.message, /no source "nope" in the config \(known: docs, slow\)/);
    assert.equal((await h.call('GET', '/api/jobs/0123456789abcdef')).status, 404);
    const snap = await h.call('POST', '/api/restores', { body: { snapshot: 'deadbeef', to: '/tmp/x' } });
    assert.equal(snap.status, 404, snap.text);
    assert.equal((await h.call('GET', '/api/nothing')).status, 404);
  });

  it('records an overlapping backup as skipped and answers 409', async () => {
    const first = await h.call('POST', '/api/sources/slow/backups', { token: h.tokens.operator });
    assert.equal(first.status, 202);
    const second = await h.call('POST', '/api/sources/slow/backups', { token: h.tokens.operator });
    assert.equal(second.status, 409, second.text);
    assert.equal(second.body.job.status, 'skipped');
    assert.match(
      second.body.job.error,
      new RegExp(`job ${first.body.job.id} \\(backup\\) of source slow is still`),
    );
    const skipped = await h.call('GET', `/api/jobs/${second.body.job.id}`);
    assert.equal(skipped.body.job.status, 'skipped');
    assert.equal((await h.waitJob(first.body.job.id)).status, 'succeeded');
  });

  it('runs a drill as a job and keeps its report', async () => {
    const r = await h.call('POST', '/api/sources/docs/drills', { token: h.tokens.operator });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.job.kind, 'drill');
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.equal((await h.call('POST', '/api/sources/docs/drills', { token: h.tokens.viewer })).status, 403);
  });

  it('publishes an OpenAPI document with every route of the contract', async () => {
    const r = await h.call('GET', '/api/openapi.json', { token: h.tokens.viewer });
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.1.0');
    const routes = Object.entries(r.body.paths).flatMap(([path, ops]) =>
      Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`),
    );
    for (const route of [
      'GET /healthz',
      'GET /metrics',
      'GET /api/sources',
      'GET /api/snapshots',
      'POST /api/sources/{name}/backups',
      'GET /api/jobs/{id}',
      'GET /api/jobs',
      'POST /api/restores',
      'POST /api/restores/{id}/approve',
      'POST /api/sources/{name}/drills',
      'GET /api/audit',
    ]) {
      assert.ok(routes.includes(route), `${route} is documented`);
    }
    const restore = r.body.paths['/api/restores'].post;
    assert.equal(restore['x-lifeboat-role'], 'operator');
    const schema = restore.requestBody.content['application/json'].schema;
    assert.deepEqual(schema.required.sort(), ['snapshot', 'to']);
    const params = r.body.paths['/api/snapshots'].get.parameters.map((p: { name: string }) => p.name);
    assert.deepEqual(params, ['source', 'tag', 'before', 'after', 'limit', 'offset']);
  });

  it('exposes the metrics by their documented names', async () => {
    const r = await h.call('GET', '/metrics', { token: h.tokens.viewer });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const last = Date.parse('2026-01-01T03:00:00Z') / 1000;
    assert.match(
      r.text,
      new RegExp(`^lifeboat_last_success_timestamp_seconds\\{source="docs"\\} ${last}$`, 'm'),
    );
    assert.match(r.text, /^lifeboat_rpo_seconds\{source="docs"\} 0$/m);
    assert.match(r.text, /^lifeboat_backup_duration_seconds\{source="docs"\} \d/m);
    assert.match(r.text, /^lifeboat_backup_bytes\{source="docs",type="read"\} 11$/m);
    assert.match(r.text, /^lifeboat_backup_failures_total\{source="docs"\} 0$/m);
    assert.match(r.text, /^process_resident_memory_bytes \d+/m);
    h.clock.tick(90_000);
    const later = await h.call('GET', '/metrics', { token: h.tokens.viewer });
    assert.match(later.text, /^lifeboat_rpo_seconds\{source="docs"\} 90$/m);
  });

  it('never shows credentials in a restore target, job, audit entry or log line', async () => {
    const target = 'file://backup:hunter2@localhost/nonexistent/place?sig=s3cr3t';
    const r = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: target, dry_run: true },
    });
    assert.equal(r.status, 202, r.text);
    const job = await h.waitJob(r.body.job.id);
    const texts = [
      r.text,
      JSON.stringify(job),
      (await h.call('GET', '/api/jobs?kind=restore')).text,
      (await h.call('GET', '/api/audit')).text,
      h.logs(),
    ];
    for (const t of texts) {
      assert.doesNotMatch(t, /hunter2|s3cr3t/);
    }
    assert.match(JSON.stringify(job.params), /file:\/\/localhost\/nonexistent\/place\?sig=redacted/);
    for (const token of Object.values(h.tokens)) assert.ok(!h.logs().includes(token), 'no token in the log');
  });

  it('reports 503 with the reason when the repository is unreachable', async () => {
    await rename(h.repo, `${h.repo}.away`);
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_100)); // the probe is cached 2 s
      const r = await h.call('GET', '/healthz', { token: null });
      assert.equal(r.status, 503, r.text);
      assert.equal(r.body.status, 'unhealthy');
      assert.equal(r.body.checks.catalog, 'ok');
      assert.match(r.body.reasons.join('\n'), /^repository: unreachable at /m);
    } finally {
      await rename(`${h.repo}.away`, h.repo);
    }
  });

  it('rate limits failed logins per address: 10 bad tokens in a minute, then 429 for bad ones', async () => {
    for (let i = 0; i < 10; i++) {
      assert.equal((await h.call('GET', '/api/sources', { token: `lb_guess${i}` })).status, 401);
    }
    const limited = await h.call('GET', '/api/sources', { token: 'lb_guess10' });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    // Only failures are throttled: a valid token from the same address still gets in.
    assert.equal((await h.call('GET', '/api/sources', { token: h.tokens.viewer })).status, 200);
    assert.equal((await h.call('GET', '/healthz', { token: null })).status, 200);
    h.clock.tick(61_000);
    assert.equal((await h.call('GET', '/api/sources', { token: 'lb_guess11' })).status, 401);
  });
});
