/**
 * @module test/server/approval
 * Restores of protected sources, or onto a protected source's location, wait for a second
 * admin: the requester cannot approve their own, an operator cannot approve at all, and the
 * approved restore runs and brings the data back (compared by rows).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { type Harness, startHarness } from './harness.js';

const CONFIG = `
sources:
  db:
    type: sqlite
    path: $DIR/app.db
    protected: true
  docs:
    type: files
    path: $DIR/docs
  scratch:
    type: files
    path: $DIR/scratch-target
    protected: true
`;

function rows(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('server: restore approval', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ config: CONFIG, files: { 'docs/a.txt': 'alpha\n' } });
    const db = new Database(join(h.dir, 'app.db'));
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)');
    const insert = db.prepare('INSERT INTO items (name) VALUES (?)');
    for (let i = 0; i < 250; i++) insert.run(`item ${i}`);
    db.close();
    for (const source of ['db', 'docs']) {
      const r = await h.call('POST', `/api/sources/${source}/backups`, { token: h.tokens.operator });
      assert.equal((await h.waitJob(r.body.job.id)).status, 'succeeded');
    }
  });
  after(async () => {
    await h?.close();
  });

  it('holds a restore of a protected source until a second admin approves it', async () => {
    const target = join(h.dir, 'restored.db');
    const request = await h.call('POST', '/api/restores', {
      token: h.tokens.admin,
      body: { snapshot: 'latest', source: 'db', to: target },
    });
    assert.equal(request.status, 202, request.text);
    const id = request.body.job.id;
    assert.equal(request.body.job.status, 'awaiting_approval');
    assert.equal(request.body.job.requested_by, 'admin');

    const operator = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.operator });
    assert.equal(operator.status, 403, operator.text);
    assert.match(operator.body.error.message, /role operator; .* needs admin/);

    const self = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.admin });
    assert.equal(self.status, 403, self.text);
    assert.match(
      self.body.error.message,
      /admin requested restore .* and cannot approve it: a second admin must/,
    );
    assert.equal((await h.call('GET', `/api/jobs/${id}`)).body.job.status, 'awaiting_approval');
    assert.equal(existsSync(target), false, 'nothing restored before approval');

    const approved = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.admin2 });
    assert.equal(approved.status, 202, approved.text);
    assert.equal(approved.body.job.approved_by, 'admin2');
    const job = await h.waitJob(id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(rows(target), 250);

    const again = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.admin2 });
    assert.equal(again.status, 409);

    const audit = await h.call('GET', '/api/audit?action=restore');
    const actions = audit.body.entries
      .map((e: { action: string; actor: string }) => `${e.actor} ${e.action}`)
      .reverse();
    assert.deepEqual(actions, [
      'admin restore.request',
      'admin restore.approve_denied',
      'admin2 restore.approve',
      'server restore.start',
      'server restore.finish',
    ]);
  });

  it('holds a restore onto a protected source’s location, and runs others at once', async () => {
    const onto = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: join(h.dir, 'scratch-target') },
    });
    assert.equal(onto.status, 202);
    assert.equal(onto.body.job.status, 'awaiting_approval');

    const free = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: join(h.dir, 'docs-copy') },
    });
    assert.equal(free.status, 202);
    assert.equal(free.body.job.status, 'queued');
    const job = await h.waitJob(free.body.job.id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(job.result.stats.files, 1);
    assert.ok(existsSync(join(h.dir, 'docs-copy', 'a.txt')));
  });

  it('survives a restart while awaiting approval', async () => {
    const request = await h.call('POST', '/api/restores', {
      token: h.tokens.admin,
      body: { snapshot: 'latest', source: 'db', to: join(h.dir, 'after-restart.db') },
    });
    const id = request.body.job.id;
    await h.stop();
    h = await startHarness({ config: CONFIG, dir: h.dir, clock: h.clock });
    const pending = await h.call('GET', `/api/jobs/${id}`);
    assert.equal(pending.body.job.status, 'awaiting_approval');
    // The tokens of the first run are still valid: "admin" requested, the new "admin2-…" approves.
    const approved = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.admin2 });
    assert.equal(approved.status, 202, approved.text);
    assert.equal((await h.waitJob(id)).status, 'succeeded');
    assert.equal(rows(join(h.dir, 'after-restart.db')), 250);
  });
});
