// A write-only host holds the MAC key, so it can store garbage under the id of a blob that is
// already stored. That copy must cost nothing: restores read the genuine one, check names the
// false one, and prune keeps the genuine pack and drops the false copy.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { partsOf } from '../../src/repo/repo-parts.js';
import { Repository } from '../../src/repo/repository.js';
import { createLocalBackend } from '../../src/storage/local/local-backend.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';

const packPath = (repo: string, pack: string) => join(repo, 'data', pack.slice(0, 2), pack);

test('a write-only key storing garbage under a known blob id cannot break restores nor make prune delete data', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-false-copy-');
  try {
    const repo = join(dir, 'repo');
    const full = repoEnv(repo);
    const src = join(dir, 'src');
    await mkdir(src);
    // One chunk: the genuine data pack holds this one blob, so losing it loses the file.
    await writeFile(join(src, 'ledger.bin'), randomBytes(200_000));
    await lifeboat(['init'], full);
    await lifeboat(['backup', '--type', 'files', '--name', 'app', '--path', src], full);
    await lifeboat(['key', 'add', '--write-only'], { ...full, LIFEBOAT_NEW_PASSWORD: 'wo-password' });

    const backend = createLocalBackend(repo);
    const wo = await Repository.open(backend, 'wo-password');
    await wo.loadIndex();
    const genuine = [...wo.storedBlobs()].find((e) => e.type === 'data');
    assert.ok(genuine);
    // The attacker stores false copies (garbage of the same length under the same id) until
    // one is the location a reader loads first, the one the index used to believe. The
    // genuine copy stays first after k copies with a chance of about 1/(k+1): up to 200.
    const firstLoaded = async () => {
      const reader = await Repository.open(backend, 'test-password');
      await reader.loadIndex();
      return partsOf(reader).index.get(genuine.id)?.pack;
    };
    let copies = 0;
    while ((await firstLoaded()) === genuine.pack && copies < 200) {
      await partsOf(wo).writer.rewriteBlob('data', genuine.id, randomBytes(genuine.rawLength));
      await wo.flush();
      copies++;
    }
    await wo.close();
    const falsePack = await firstLoaded();
    assert.ok(falsePack && falsePack !== genuine.pack, `a false copy loads first (after ${copies} copies)`);

    // Plain check: the id is stored with two kinds of key, an error.
    const plain = await runCli(['check'], full);
    assert.notEqual(plain.code, 0, plain.stdout + plain.stderr);
    assert.match(plain.stdout + plain.stderr, /stored \d+ times with different keys/);
    assert.match(plain.stdout + plain.stderr, new RegExp(`${falsePack} \\(sealed box\\)`));

    // Restore reads the genuine copy.
    await lifeboat(['restore', 'latest', '--to', join(dir, 'out1')], full);
    assert.deepEqual(await compareTrees(src, join(dir, 'out1')), []);

    // check --read-data names the copy that does not verify, and no snapshot loses anything.
    const read = await runCli(['check', '--read-data', '--json'], full);
    assert.notEqual(read.code, 0);
    assert.match(
      read.stdout,
      new RegExp(`the copy in pack ${falsePack} does not verify, the copy in pack ${genuine.pack} does`),
    );
    const report = JSON.parse(read.stdout);
    assert.ok(
      report.damage.every((d: { blobsLost: number }) => d.blobsLost === 0),
      read.stdout,
    );

    // repair packs (what check suggests) drops the false copies' packs and keeps the genuine one.
    const copy = join(dir, 'repo-copy');
    await cp(repo, copy, { recursive: true });
    const copyEnv = repoEnv(copy);
    await lifeboat(['repair', 'packs'], copyEnv);
    await stat(packPath(copy, genuine.pack));
    await assert.rejects(stat(packPath(copy, falsePack)), /ENOENT/);
    await lifeboat(['restore', 'latest', '--to', join(dir, 'out-repaired')], copyEnv);
    assert.deepEqual(await compareTrees(src, join(dir, 'out-repaired')), []);
    const repaired = await runCli(['check', '--read-data'], copyEnv);
    assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);

    // Prune keeps the genuine pack and drops the false copy.
    await lifeboat(['prune'], full);
    await stat(packPath(repo, genuine.pack));
    await assert.rejects(stat(packPath(repo, falsePack)), /ENOENT/);
    await lifeboat(['restore', 'latest', '--to', join(dir, 'out2')], full);
    assert.deepEqual(await compareTrees(src, join(dir, 'out2')), []);
    const after = await runCli(['check', '--read-data'], full);
    assert.equal(after.code, 0, after.stdout + after.stderr);
  } finally {
    await cleanup();
  }
});
