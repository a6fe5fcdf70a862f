/**
 * @module test/server/protected-targets
 * An operator tries to restore over a protected source without a second admin by spelling
 * its location another way (a file URL, a symlinked folder, the parent folder, a subfolder,
 * another name of the same database server), and to download a protected source's files.
 * Each attempt is made for real through the HTTP API; each must wait for approval (or be
 * refused), and the protected files must be untouched.
 */
import assert from 'node:assert/strict';
import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { type Harness, startHarness } from './harness.js';

const CONFIG = `
sources:
  docs:
    type: files
    path: $DIR/docs
  vault:
    type: files
    path: $DIR/vault
    protected: true
  db:
    type: sqlite
    path: $DIR/app.db
    protected: true
  pg:
    type: postgres
    url: postgres://backup:secret@localhost:5999/app
    protected: true
`;

describe('server: protected targets under other spellings', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      config: CONFIG,
      files: { 'docs/secret.txt': 'overwritten by the operator\n', 'vault/secret.txt': 'the real secret\n' },
    });
    await symlink(join(h.dir, 'vault'), join(h.dir, 'vault-link'));
    const db = new Database(join(h.dir, 'app.db'));
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items (name) VALUES ('x')");
    db.close();
    for (const source of ['docs', 'db']) {
      const r = await h.call('POST', `/api/sources/${source}/backups`, { token: h.tokens.operator });
      assert.equal((await h.waitJob(r.body.job.id)).status, 'succeeded');
    }
  });
  after(async () => {
    await h?.close();
  });

  const spellings: [string, (dir: string) => string][] = [
    ['a file URL', (dir) => pathToFileURL(join(dir, 'vault')).href],
    ['a file URL with localhost', (dir) => `file://localhost${join(dir, 'vault')}`],
    ['a symlinked folder', (dir) => join(dir, 'vault-link')],
    ['a path through a symlink and ..', (dir) => `${join(dir, 'vault-link')}/../vault/`],
    ['the parent folder', (dir) => dir],
    ['a subfolder', (dir) => join(dir, 'vault', 'sub')],
    ['a subfolder through the symlink, not yet existing', (dir) => join(dir, 'vault-link', 'new', 'deeper')],
    ['another name of the database server', () => 'postgres://backup@127.0.0.1:5999/app'],
    ['the database server above the database', () => 'postgresql://[::1]:5999'],
    ['a target that cannot be resolved', () => 'postgres://no-such-host.invalid/app'],
    ['an unknown kind of target', () => 'ftp://files.example/vault'],
  ];

  for (const [what, spell] of spellings) {
    it(`holds a restore over a protected source written as ${what}`, async () => {
      const to = spell(h.dir);
      const r = await h.call('POST', '/api/restores', {
        token: h.tokens.operator,
        body: { snapshot: 'latest', source: 'docs', to, overwrite: true },
      });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.body.job.status, 'awaiting_approval', `${to} ran without approval`);
      // Give a wrongly queued restore the time to run, then check nothing was written.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await readFile(join(h.dir, 'vault', 'secret.txt'), 'utf8'), 'the real secret\n');
      const rejected = await h.call('POST', `/api/restores/${r.body.job.id}/reject`, {
        token: h.tokens.admin,
      });
      assert.equal(rejected.status, 200, rejected.text);
    });
  }

  it('records why the restore waits', async () => {
    const audit = await h.call('GET', '/api/audit?action=restore.request');
    const reasons = audit.body.entries.map(
      (e: { details: { approval_reason?: string } }) => e.details.approval_reason,
    );
    assert.ok(reasons.includes('the target reaches protected source vault'), JSON.stringify(reasons));
    assert.ok(reasons.includes('the target reaches protected source pg'), JSON.stringify(reasons));
    assert.ok(
      reasons.some((r: string) => /cannot be resolved/.test(r ?? '')),
      JSON.stringify(reasons),
    );
  });

  it('runs a restore to an unrelated folder at once', async () => {
    const r = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: join(h.dir, 'vault-copy') },
    });
    assert.equal(r.body.job.status, 'queued', r.text);
    assert.equal((await h.waitJob(r.body.job.id)).status, 'succeeded');
    assert.equal(
      await readFile(join(h.dir, 'vault-copy', 'secret.txt'), 'utf8'),
      'overwritten by the operator\n',
    );
  });

  it('lets only an admin download a protected source’s files', async () => {
    const snapshots = await h.call('GET', '/api/snapshots?source=db');
    const id = snapshots.body.snapshots[0].id;
    const tree = await h.call('GET', `/api/snapshots/${id}/tree`);
    const file = tree.body.entries.find((e: { type: string }) => e.type === 'file');
    assert.ok(file, tree.text);
    const path = `/api/snapshots/${id}/file?path=${encodeURIComponent(file.name)}`;
    const operator = await h.call('GET', path, { token: h.tokens.operator });
    assert.equal(operator.status, 403, `an operator downloaded ${operator.text.length} bytes`);
    assert.match(operator.body.error.message, /protected source db: downloading its files needs an admin/);
    const admin = await h.call('GET', path, { token: h.tokens.admin });
    assert.equal(admin.status, 200);
    assert.equal(admin.text.length > 0, true);
    const audit = await h.call('GET', '/api/audit?action=snapshot');
    const actions = audit.body.entries.map(
      (e: { actor: string; action: string }) => `${e.actor} ${e.action}`,
    );
    assert.deepEqual(actions.sort(), ['admin snapshot.download', 'operator snapshot.download_denied']);

    const docs = (await h.call('GET', '/api/snapshots?source=docs')).body.snapshots[0].id;
    const free = await h.call('GET', `/api/snapshots/${docs}/file?path=secret.txt`, {
      token: h.tokens.operator,
    });
    assert.equal(free.status, 200, free.text);
  });

  it('knows source names as own keys only', async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const r = await h.call('POST', `/api/sources/${name}/backups`, { token: h.tokens.operator });
      assert.equal(r.status, 404, `${name}: ${r.text}`);
      const d = await h.call('POST', `/api/sources/${name}/drills`, { token: h.tokens.operator });
      assert.equal(d.status, 404, `${name}: ${d.text}`);
    }
  });
});

describe('server: a target that changes after the request', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      // One job at a time, and a backup that takes a while: a restore requested meanwhile waits in the queue.
      config: `${CONFIG}
  slow:
    type: files
    path: $DIR/docs
    hooks:
      before_backup: sleep 2
server:
  concurrency: 1
`,
      files: { 'docs/secret.txt': 'overwritten by the operator\n', 'vault/secret.txt': 'the real secret\n' },
    });
    const r = await h.call('POST', '/api/sources/docs/backups', { token: h.tokens.operator });
    assert.equal((await h.waitJob(r.body.job.id)).status, 'succeeded');
  });
  after(async () => {
    await h?.close();
  });

  it('checks the target again before an unapproved restore runs', async () => {
    const slow = await h.call('POST', '/api/sources/slow/backups', { token: h.tokens.operator });
    assert.equal(slow.status, 202, slow.text);
    const later = join(h.dir, 'later');
    const r = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: later, overwrite: true },
    });
    assert.equal(r.body.job.status, 'queued', r.text);
    // While it waits, the requester points the harmless target at the protected folder.
    await symlink(join(h.dir, 'vault'), later);
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'failed', 'the restore ran through the new symlink');
    assert.match(job.error, /was not approved, and the target reaches protected source vault now/);
    assert.equal(await readFile(join(h.dir, 'vault', 'secret.txt'), 'utf8'), 'the real secret\n');
    assert.equal((await h.waitJob(slow.body.job.id)).status, 'succeeded');
    const audit = await h.call('GET', '/api/audit?action=restore.denied');
    assert.equal(audit.body.entries.length, 1, audit.text);
  });
});
