/**
 * @module test/server/dashboard-api
 * What the dashboard needs from the server: its static files (public, precompressed, cached,
 * under a strict Content-Security-Policy) while every /api call still needs a token; and the
 * API it reads: whoami, snapshot manifests, tree browsing, streamed file downloads (operator),
 * drill reports, alerts, chart series, job time ranges, live progress, dry runs of protected
 * restores without approval.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Repository } from '../../src/repo/repository.js';
import { SnapshotBrowser } from '../../src/server/snapshot-browse.js';
import { pickEncoding } from '../../src/server/web-assets.js';
import { openBackend } from '../../src/storage/registry.js';
import { eventually, type Harness, KDF, PASSWORD, startHarness } from './harness.js';

const CONFIG = `
sources:
  db:
    type: sqlite
    path: $DIR/app.db
    protected: true
  docs:
    type: files
    path: $DIR/docs
    max_age: 1h
  slow:
    type: files
    path: $DIR/docs
    hooks:
      after_backup: sleep 1
`;

const BIG = Buffer.alloc(3 * 1024 * 1024 + 17, 'lifeboat dashboard bytes ');

describe('server: dashboard API and assets', () => {
  let h: Harness;
  let docsSnapshot: string;
  before(async () => {
    h = await startHarness({
      config: CONFIG,
      files: {
        "docs/it's (ü).txt": 'odd\n',
        'docs/a.txt': 'alpha\n',
        'docs/sub/deep/b.txt': 'beta\n',
        'docs/big.bin': BIG.toString(),
      },
    });
    const db = new Database(join(h.dir, 'app.db'));
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE tags (t TEXT)');
    const insert = db.prepare('INSERT INTO items (name) VALUES (?)');
    for (let i = 0; i < 42; i++) insert.run(`item ${i}`);
    db.close();
    for (const source of ['db', 'docs']) {
      const r = await h.call('POST', `/api/sources/${source}/backups`, { token: h.tokens.operator });
      const job = await h.waitJob(r.body.job.id);
      assert.equal(job.status, 'succeeded', job.error);
      if (source === 'docs') docsSnapshot = job.snapshot;
    }
  });
  after(async () => {
    await h?.close();
  });

  it('serves the page without a token, with a CSP, precompressed and cached by hash', async () => {
    const page = await fetch(`${h.base}/`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    // fetch decodes the body; the header says what was sent.
    assert.equal(page.headers.get('content-encoding'), 'br');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    const html = await page.text();
    assert.doesNotMatch(
      html,
      /<script>|<script [^>]*>[^<]+<\/script>|https?:\/\//,
      'no inline script, no CDN',
    );
    const script = /src="(\/assets\/main-[\w-]+\.js)"/.exec(html)?.[1];
    const style = /href="(\/assets\/main-[\w-]+\.css)"/.exec(html)?.[1];
    assert.ok(script && style, html);

    const js = await fetch(h.base + script, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-encoding'), 'gzip');
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    const etag = js.headers.get('etag') ?? '';
    await js.arrayBuffer();
    const again = await fetch(h.base + script, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    const css = await fetch(h.base + style, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(css.headers.get('content-encoding'), null);
    assert.match(await css.text(), /\.uplot/);

    assert.equal((await fetch(`${h.base}/assets/nothing.js`)).status, 404);
    assert.equal((await h.call('GET', '/api/sources', { token: null })).status, 401, 'the API still refuses');
  });

  it('picks brotli, then gzip, honouring q=0', () => {
    assert.equal(pickEncoding('gzip, deflate, br'), 'br');
    assert.equal(pickEncoding('br;q=0, gzip'), 'gzip');
    assert.equal(pickEncoding('*'), 'br');
    assert.equal(pickEncoding(undefined), 'identity');
    assert.equal(pickEncoding('deflate'), 'identity');
  });

  it('tells a token its name and role', async () => {
    const r = await h.call('GET', '/api/whoami', { token: h.tokens.operator });
    assert.deepEqual(r.body, { name: 'operator', role: 'operator' });
  });

  it('shows a snapshot whole: rows per table for a database', async () => {
    const list = await h.call('GET', '/api/snapshots?source=db', { token: h.tokens.viewer });
    const id = list.body.snapshots[0].id as string;
    const r = await h.call('GET', `/api/snapshots/${id.slice(0, 8)}`, { token: h.tokens.viewer });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.snapshot.id, id);
    assert.deepEqual(r.body.snapshot.stats.rows, { items: 42, tags: 0 });
    const tree = await h.call('GET', `/api/snapshots/${id}/tree`, { token: h.tokens.viewer });
    assert.equal(tree.body.entries.length, 1, tree.text);
    assert.equal(tree.body.entries[0].type, 'file');
    assert.match(tree.body.entries[0].sha256, /^[0-9a-f]{64}$/);
    const missing = await h.call('GET', '/api/snapshots/deadbeefdeadbeef', { token: h.tokens.viewer });
    assert.equal(missing.status, 404, missing.text);
  });

  it('browses a file tree folder by folder', async () => {
    const root = await h.call('GET', `/api/snapshots/${docsSnapshot}/tree`, { token: h.tokens.viewer });
    assert.equal(root.status, 200, root.text);
    assert.deepEqual(
      root.body.entries.map((e: { name: string; type: string }) => `${e.name}:${e.type}`).sort(),
      ['a.txt:file', 'big.bin:file', "it's (ü).txt:file", 'sub:dir'],
    );
    const a = root.body.entries.find((e: { name: string }) => e.name === 'a.txt');
    assert.equal(a.size, 6);
    assert.equal(root.body.total, 4);
    const page = await h.call('GET', `/api/snapshots/${docsSnapshot}/tree?offset=1&limit=1`, {
      token: h.tokens.viewer,
    });
    assert.deepEqual(
      [page.body.total, page.body.offset, page.body.entries.map((e: { name: string }) => e.name)],
      [4, 1, [root.body.entries[1].name]],
    );
    const deep = await h.call('GET', `/api/snapshots/${docsSnapshot}/tree?path=sub/deep`, {
      token: h.tokens.viewer,
    });
    assert.deepEqual(
      deep.body.entries.map((e: { name: string }) => e.name),
      ['b.txt'],
    );
    assert.equal(deep.body.path, 'sub/deep');
    const none = await h.call('GET', `/api/snapshots/${docsSnapshot}/tree?path=nope`, {
      token: h.tokens.viewer,
    });
    assert.equal(none.status, 404, none.text);
    assert.match(none.body.error.message, /no folder nope/);
  });

  it('streams one file to an operator, byte for byte; a viewer may not download', async () => {
    const url = `/api/snapshots/${docsSnapshot}/file?path=${encodeURIComponent('big.bin')}`;
    const res = await fetch(h.base + url, { headers: { authorization: `Bearer ${h.tokens.operator}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-length'), String(BIG.length));
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="big.bin"/);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(
      createHash('sha256').update(body).digest('hex'),
      createHash('sha256').update(BIG).digest('hex'),
    );
    const nested = await h.call('GET', `/api/snapshots/${docsSnapshot}/file?path=sub/deep/b.txt`, {
      token: h.tokens.operator,
    });
    assert.equal(nested.text, 'beta\n');
    assert.equal(
      nested.headers.get('content-disposition'),
      `attachment; filename="b.txt"; filename*=UTF-8''b.txt`,
    );
    const odd = await h.call(
      'GET',
      `/api/snapshots/${docsSnapshot}/file?path=${encodeURIComponent("it's (ü).txt")}`,
      {
        token: h.tokens.operator,
      },
    );
    assert.equal(odd.text, 'odd\n');
    assert.equal(
      odd.headers.get('content-disposition'),
      `attachment; filename="it's (_).txt"; filename*=UTF-8''it%27s%20%28%C3%BC%29.txt`,
    );
    // No HEAD: answering it would read the whole file.
    const head = await h.call('HEAD', url, { token: h.tokens.operator });
    assert.equal(head.status, 404);
    const viewer = await h.call('GET', url, { token: h.tokens.viewer });
    assert.equal(viewer.status, 403);
    const dir = await h.call('GET', `/api/snapshots/${docsSnapshot}/file?path=sub`, {
      token: h.tokens.operator,
    });
    assert.equal(dir.status, 400, dir.text);
    const gone = await h.call('GET', `/api/snapshots/${docsSnapshot}/file?path=zzz`, {
      token: h.tokens.operator,
    });
    assert.equal(gone.status, 404, gone.text);
  });

  it('keeps a download’s repository handle open while the list changes and after the idle time', async () => {
    let version = 0;
    const closed: number[] = [];
    let opened = 0;
    const browser = new SnapshotBrowser(
      async () => {
        const n = opened++;
        const repo = await Repository.open(await openBackend(h.repo), PASSWORD, { kdf: KDF });
        const close = repo.close.bind(repo);
        repo.close = async () => {
          closed.push(n);
          await close();
        };
        return repo;
      },
      () => version,
      20,
    );
    const file = await browser.openFile(docsSnapshot, 'big.bin');
    const reader = file.content[Symbol.asyncIterator]();
    const parts: Buffer[] = [];
    const first = await reader.next();
    parts.push(first.value as Buffer);
    version++; // a new snapshot: the next call opens a fresh handle and retires this one
    assert.equal((await browser.list(docsSnapshot, 'sub')).entries[0].name, 'deep');
    await new Promise((resolve) => setTimeout(resolve, 80)); // past the idle time of the new one
    assert.deepEqual(closed, [1], 'the idle handle closed, the downloading one did not');
    for (let r = await reader.next(); !r.done; r = await reader.next()) parts.push(r.value);
    assert.ok(Buffer.concat(parts).equals(BIG));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(closed, [1, 0], 'closed once its download ended');
    await browser.close();
    assert.equal(opened, 2);
  });

  it('lists drill reports and shows one in full', async () => {
    const start = await h.call('POST', '/api/sources/db/drills', { token: h.tokens.operator });
    assert.equal(start.status, 202, start.text);
    const job = await h.waitJob(start.body.job.id);
    assert.equal(job.status, 'succeeded', job.error);
    const list = await h.call('GET', '/api/drills?source=db', { token: h.tokens.viewer });
    assert.equal(list.body.drills.length, 1, list.text);
    const d = list.body.drills[0];
    assert.equal(d.source, 'db');
    assert.equal(d.passed, true);
    assert.equal(typeof d.rto_ms, 'number');
    const one = await h.call('GET', `/api/drills/${d.id.slice(0, 10)}`, { token: h.tokens.viewer });
    assert.equal(one.status, 200, one.text);
    assert.ok(Array.isArray(one.body.report.checks) && one.body.report.checks.length > 0);
    assert.equal(
      (await h.call('GET', '/api/drills?source=docs', { token: h.tokens.viewer })).body.drills.length,
      0,
    );
  });

  it('gives chart series: each backup, daily outcomes, cumulative growth', async () => {
    const r = await h.call('GET', '/api/stats?since=2025-12-01T00:00:00Z', { token: h.tokens.viewer });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.backups.map((b: { source: string }) => b.source).sort(), ['db', 'docs']);
    for (const b of r.body.backups) assert.ok(b.bytes_read > 0 && b.bytes_added > 0, JSON.stringify(b));
    assert.deepEqual(r.body.daily, [{ day: '2026-01-01', succeeded: 2, failed: 0 }]);
    assert.equal(r.body.growth.length, 2);
    assert.equal(
      r.body.growth[1].bytes,
      r.body.backups.reduce((n: number, b: { bytes_added: number }) => n + b.bytes_added, 0),
    );
    const docs = await h.call('GET', '/api/stats?source=docs&since=2025-12-01T00:00:00Z', {
      token: h.tokens.viewer,
    });
    assert.deepEqual(
      docs.body.backups.map((b: { source: string }) => b.source),
      ['docs'],
    );
  });

  it('lists alerts, firing first', async () => {
    h.clock.tick(2 * 3_600_000);
    await h.server.evaluateAlerts();
    const r = await h.call('GET', '/api/alerts', { token: h.tokens.viewer });
    assert.equal(r.status, 200, r.text);
    const rpo = r.body.alerts.find((a: { key: string }) => a.key === 'rpo_breach:docs');
    assert.ok(rpo, r.text);
    assert.equal(rpo.state, 'firing');
    assert.equal(
      (await h.call('GET', '/api/alerts?state=resolved', { token: h.tokens.viewer })).body.alerts.length,
      0,
    );
  });

  it('filters jobs by a time range', async () => {
    const all = await h.call('GET', '/api/jobs', { token: h.tokens.viewer });
    assert.ok(all.body.jobs.length >= 3);
    const none = await h.call('GET', '/api/jobs?before=2025-06-01T00:00:00Z', { token: h.tokens.viewer });
    assert.equal(none.body.jobs.length, 0);
    const bad = await h.call('GET', '/api/jobs?before=yesterday', { token: h.tokens.viewer });
    assert.equal(bad.status, 400);
  });

  it('runs a dry run of a protected restore at once; the real one waits for a second admin', async () => {
    const to = join(h.dir, 'restored.db');
    const dry = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'db', to, dry_run: true },
    });
    assert.equal(dry.status, 202, dry.text);
    assert.equal(dry.body.job.status, 'queued');
    assert.equal((await h.waitJob(dry.body.job.id)).status, 'succeeded');
    const real = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'db', to },
    });
    assert.equal(real.body.job.status, 'awaiting_approval');
    const audit = await h.call('GET', '/api/audit?action=restore.request');
    assert.ok(audit.body.entries.every((e: { details: { protected: boolean } }) => e.details.protected));
  });

  it('ends a restore awaiting approval: an admin rejects it, its requester withdraws it', async () => {
    const request = async (token: string) => {
      const r = await h.call('POST', '/api/restores', {
        token,
        body: { snapshot: 'latest', source: 'db', to: join(h.dir, 'never.db') },
      });
      assert.equal(r.body.job.status, 'awaiting_approval', r.text);
      return r.body.job.id as string;
    };
    const byOperator = await request(h.tokens.operator);
    const denied = await h.call('POST', `/api/restores/${byOperator}/reject`, { token: h.tokens.viewer });
    assert.equal(denied.status, 403, 'a viewer may not');
    const rejected = await h.call('POST', `/api/restores/${byOperator}/reject`, {
      token: h.tokens.admin2,
      body: { reason: 'wrong target' },
    });
    assert.equal(rejected.status, 200, rejected.text);
    assert.equal(rejected.body.job.status, 'rejected');
    assert.equal(rejected.body.job.error, 'rejected by admin2: wrong target');
    const late = await h.call('POST', `/api/restores/${byOperator}/approve`, { token: h.tokens.admin });
    assert.equal(late.status, 409, late.text);

    const byAdmin = await request(h.tokens.admin);
    const notTheirs = await h.call('POST', `/api/restores/${byAdmin}/reject`, { token: h.tokens.operator });
    assert.equal(notTheirs.status, 403, 'an operator may only withdraw their own');
    assert.match(notTheirs.body.error.message, /an admin or its requester \(admin\)/);
    const withdrawn = await h.call('POST', `/api/restores/${byAdmin}/reject`, { token: h.tokens.admin });
    assert.equal(withdrawn.body.job.error, 'withdrawn by admin');
    assert.equal((await h.call('POST', `/api/restores/${byAdmin}/reject`)).status, 409);
    assert.ok(!existsSync(join(h.dir, 'never.db')));

    const audit = await h.call('GET', '/api/audit?action=restore');
    const actions = audit.body.entries.map(
      (e: { action: string; actor: string }) => `${e.actor} ${e.action}`,
    );
    for (const a of ['admin2 restore.reject', 'operator restore.reject_denied', 'admin restore.withdraw']) {
      assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);
    }
  });

  it('shows a running backup’s progress in the job, and drops it when the job ends', async () => {
    // The hook after the backup holds the job in `running` for a second with its progress recorded.
    const start = await h.call('POST', '/api/sources/slow/backups', { token: h.tokens.operator });
    const id = start.body.job.id as string;
    const seen = await eventually(async () => {
      const r = await h.call('GET', `/api/jobs/${id}`, { token: h.tokens.viewer });
      return r.body.job.status === 'running' && r.body.job.progress?.phases_done === 1 && r.body.job.progress;
    }, 'progress of the running backup');
    assert.equal(seen.phase, 'backup slow');
    assert.ok(seen.bytes_done >= BIG.length, JSON.stringify(seen));
    // The ended phase: every file and byte of the scanned total, nothing left to wait for.
    assert.equal(seen.files_done, 4, JSON.stringify(seen));
    assert.equal(seen.files_total, 4, JSON.stringify(seen));
    assert.equal(seen.bytes_total, seen.bytes_done, JSON.stringify(seen));
    assert.equal(seen.percent, 100);
    assert.equal(seen.eta_seconds, 0);
    const listed = await h.call('GET', '/api/jobs?status=running', { token: h.tokens.viewer });
    assert.equal(listed.body.jobs.find((j: { id: string }) => j.id === id)?.progress?.phase, 'backup slow');
    const done = await h.waitJob(id);
    assert.equal(done.status, 'succeeded', done.error);
    assert.equal(done.progress, undefined);
  });

  it('documents every new route in the OpenAPI document', async () => {
    const doc = await h.call('GET', '/api/openapi.json', { token: h.tokens.viewer });
    for (const path of [
      '/api/whoami',
      '/api/snapshots/{id}',
      '/api/snapshots/{id}/tree',
      '/api/snapshots/{id}/file',
      '/api/drills',
      '/api/drills/{id}',
      '/api/alerts',
      '/api/stats',
    ]) {
      assert.ok(doc.body.paths[path]?.get, path);
    }
    assert.equal(doc.body.paths['/api/snapshots/{id}/file'].get['x-lifeboat-role'], 'operator');
  });
});
