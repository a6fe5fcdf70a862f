/**
 * @module test/server/target-password
 * A restore target URL with a password in it: the catalog file on disk must not keep the
 * password (read byte for byte, with its write-ahead log), answers and the audit log neither;
 * the server holds it in memory only, so after a restart the restore fails with a message
 * that says why instead of running with a wrong password.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Harness, startHarness } from './harness.js';

const PASSWORD = 'Sup3rSecret-pw';
const TARGET = `postgres://admin:${PASSWORD}@localhost:5999/app`;
const CONFIG = `
sources:
  docs:
    type: files
    path: $DIR/docs
  pg:
    type: postgres
    url: ${TARGET}
    protected: true
`;

function catalogBytes(h: Harness): string {
  return [h.catalogFile, `${h.catalogFile}-wal`]
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f).toString('latin1'))
    .join('');
}

describe('server: restore target passwords', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ config: CONFIG, files: { 'docs/a.txt': 'a\n' } });
    const r = await h.call('POST', '/api/sources/docs/backups', { token: h.tokens.operator });
    assert.equal((await h.waitJob(r.body.job.id)).status, 'succeeded');
  });
  after(async () => {
    await h?.close();
  });

  it('keeps no password of a restore target in the catalog, and says so after a restart', async () => {
    const r = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: TARGET },
    });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.job.status, 'awaiting_approval');
    assert.ok(!r.text.includes(PASSWORD), r.text);
    const id = r.body.job.id;
    assert.ok(!catalogBytes(h).includes(PASSWORD), 'the catalog file holds the target password');
    const audit = await h.call('GET', '/api/audit');
    assert.ok(!audit.text.includes(PASSWORD));
    assert.ok(catalogBytes(h).includes('postgres://admin@localhost:5999/app'), 'kept without the password');

    await h.stop();
    h = await startHarness({ config: CONFIG, dir: h.dir, clock: h.clock });
    const approved = await h.call('POST', `/api/restores/${id}/approve`, { token: h.tokens.admin2 });
    assert.equal(approved.status, 202, approved.text);
    const done = await h.waitJob(id);
    assert.equal(done.status, 'failed');
    assert.match(
      done.error,
      /password in its target URL is kept in memory only .*\(request the restore again\)/,
    );
    assert.ok(!catalogBytes(h).includes(PASSWORD), 'the catalog file holds the target password');
  });
});
