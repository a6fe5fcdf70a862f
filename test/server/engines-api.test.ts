/**
 * @module test/server/engines-api
 * GET /api/engines serves the engines' declarations, and POST /api/restores takes exactly
 * the restore scopes `lifeboat restore` takes (both are built from them): the OpenAPI
 * document says so, a scope of the wrong type is refused naming the field, and a scope given
 * reaches the job.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { restoreScopes } from '../../src/sources/registry.js';
import { type Harness, startHarness } from './harness.js';

const CONFIG = `
sources:
  docs:
    type: files
    path: $DIR/docs
`;

describe('engines in the API', () => {
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

  it('GET /api/engines lists each engine with its scopes, options and statistics', async () => {
    const r = await h.call('GET', '/api/engines', { token: h.tokens.viewer });
    assert.equal(r.status, 200, r.text);
    const byType = Object.fromEntries(
      (r.body.engines as { type: string }[]).map((e) => [e.type, e as Record<string, unknown>]),
    );
    const fields = (type: string) => (byType[type].scopes as { field: string }[]).map((s) => s.field);
    assert.deepEqual(fields('postgres'), ['tables', 'schemas']);
    assert.deepEqual(fields('redis'), ['db', 'pattern']);
    assert.deepEqual(fields('files'), ['include']);
    assert.deepEqual(fields('lmdb'), []);
    assert.equal(byType.postgres.data_only, true);
    assert.equal(byType.files.privileges, true);
    assert.ok(
      (byType.sqlite.stats as { name: string; drill: string }[]).some(
        (s) => s.name === 'rows' && s.drill === 'equal',
      ),
    );
  });

  it('the restore request takes every CLI scope, as the OpenAPI document shows', async () => {
    const doc = await h.call('GET', '/api/openapi.json', { token: h.tokens.viewer });
    const paths = doc.body.paths as Record<string, Record<string, Record<string, unknown>>>;
    assert.ok(paths['/api/engines']?.get, 'GET /api/engines is documented');
    const body = JSON.stringify(paths['/api/restores'].post);
    for (const scope of restoreScopes()) assert.ok(body.includes(`"${scope.field}"`), scope.field);

    const bad = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: '/x', db: 'one' },
    });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.body.error.message, /body\.db: /);
  });

  it('a scope given reaches the restore job', async () => {
    const backup = await h.call('POST', '/api/sources/docs/backups', { token: h.tokens.operator });
    assert.equal(backup.status, 202, backup.text);
    await h.waitJob(backup.body.job.id);
    const r = await h.call('POST', '/api/restores', {
      token: h.tokens.operator,
      body: { snapshot: 'latest', source: 'docs', to: join(h.dir, 'out'), include: ['sub'], dry_run: true },
    });
    assert.equal(r.status, 202, r.text);
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual(job.params.include, ['sub']);
  });
});
