/**
 * @module test/server/damaged-snapshot
 * The real server over a repository with one snapshot file damaged on disk: the listing
 * serves the others and names the damaged one under `problems`, restores and prune jobs of
 * the others work, naming the damaged snapshot is a clear error, and once `forget ID`
 * removes the file the listing is whole again.
 */
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { runCli } from '../helpers/cli.js';
import { flipByte } from '../helpers/repo-files.js';
import { type Harness, PASSWORD, startHarness } from './harness.js';

const CONFIG = `
sources:
  docs:
    type: files
    path: $DIR/docs
  logs:
    type: files
    path: $DIR/logs
`;

describe('server with a damaged snapshot file', () => {
  let h: Harness;
  let damaged: string;
  let docs: string;

  before(async () => {
    const first = await startHarness({
      config: CONFIG,
      files: { 'docs/a.txt': 'alpha\n', 'docs/sub/b.txt': 'beta\n', 'logs/today.log': 'line 1\nline 2\n' },
    });
    for (const source of ['docs', 'logs']) {
      first.clock.tick(60_000);
      const r = await first.call('POST', `/api/sources/${source}/backups`);
      const job = await first.waitJob(r.body.job.id);
      assert.equal(job.status, 'succeeded', job.error);
      if (source === 'logs') damaged = job.snapshot;
      else docs = job.snapshot;
    }
    await first.stop();
    // The server starts over a repository where one byte of the logs snapshot has flipped.
    const file = join(first.dir, 'repo', 'snapshots', damaged);
    await flipByte(file, Math.floor((await stat(file)).size / 2));
    h = await startHarness({ config: CONFIG, dir: first.dir });
  });

  after(async () => {
    await h?.close();
  });

  it('lists the other snapshots and names the damaged one under problems', async () => {
    const r = await h.call('GET', '/api/snapshots', { token: h.tokens.viewer });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.total, 1);
    assert.equal(r.body.snapshots[0].id, docs);
    assert.equal(r.body.problems.length, 1);
    assert.equal(r.body.problems[0].id, damaged);
    assert.equal(r.body.problems[0].kind, 'damaged');
    assert.match(r.body.problems[0].message, /damaged/);
    assert.match(h.logs(), new RegExp(`snapshot ${damaged.slice(0, 8)} is damaged`));
    const sources = await h.call('GET', '/api/sources', { token: h.tokens.viewer });
    assert.equal(sources.status, 200, sources.text);
    const tree = await h.call('GET', `/api/snapshots/${docs}/tree`, { token: h.tokens.viewer });
    assert.equal(tree.status, 200, tree.text);
    assert.deepEqual(
      tree.body.entries.map((e: { name: string }) => e.name),
      ['a.txt', 'sub'],
    );
  });

  it('naming the damaged snapshot is a clear error; the others restore exactly', async () => {
    const bad = await h.call('GET', `/api/snapshots/${damaged.slice(0, 12)}`, { token: h.tokens.viewer });
    assert.notEqual(bad.status, 200);
    assert.match(bad.body.error.message, /damaged/);
    assert.ok(bad.body.error.message.includes(`lifeboat forget ${damaged.slice(0, 8)}`), bad.text);
    const badRestore = await h.call('POST', '/api/restores', {
      body: { snapshot: damaged, to: join(h.dir, 'never') },
    });
    assert.notEqual(badRestore.status, 202, badRestore.text);

    const to = join(h.dir, 'restored-docs');
    const r = await h.call('POST', '/api/restores', { body: { snapshot: 'latest', source: 'docs', to } });
    assert.equal(r.status, 202, r.text);
    const job = await h.waitJob(r.body.job.id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.deepEqual(await compareTrees(join(h.dir, 'docs'), to), []);
  });

  it('prune goes on, counting the damaged snapshot as lost; forget ID clears the listing', async () => {
    const packs = async () => (await readdir(join(h.dir, 'repo', 'data'), { recursive: true })).length;
    const before = await packs();
    // Prune runs on the server as its schedule would start it.
    const submitted = await h.server.runner.submit({
      kind: 'prune',
      source: null,
      trigger: 'schedule',
      requestedBy: 'scheduler',
    });
    const job = await h.waitJob(submitted.id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.deepEqual(job.result.damagedSnapshots, [damaged]);
    assert.ok((await packs()) < before, 'the damaged snapshot’s data was not freed');

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LIFEBOAT_REPO: join(h.dir, 'repo'),
      LIFEBOAT_PASSWORD: PASSWORD,
    };
    delete env.LIFEBOAT_CONFIG;
    const forget = await runCli(['forget', damaged.slice(0, 8)], env);
    assert.equal(forget.code, 0, forget.stderr);
    await h.server.snapshots.refresh();
    const r = await h.call('GET', '/api/snapshots', { token: h.tokens.viewer });
    assert.equal(r.body.total, 1);
    assert.deepEqual(r.body.problems, []);
  });
});
