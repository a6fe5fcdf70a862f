// Write-only backup hosts: they add snapshots (deduplicated against what is stored) but cannot
// decrypt, list, forget or prune; a full host restores what they wrote.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isLifeboatError } from '../../src/errors.js';
import { Repository } from '../../src/repo/repository.js';
import { createLocalBackend } from '../../src/storage/local/local-backend.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    if ((await stat(p)).isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

test('a write-only host backs up with dedup, cannot read anything back; a full host restores it', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-write-only-');
  try {
    const repo = join(dir, 'repo');
    const full = repoEnv(repo);
    const wo = repoEnv(repo, { LIFEBOAT_PASSWORD: 'backup-host-password' });
    const src = join(dir, 'src');
    await mkdir(src);
    const marker = `WRITE-ONLY-PLAINTEXT-${randomBytes(8).toString('hex')}`;
    await writeFile(join(src, 'big.bin'), randomBytes(3_000_000));
    await writeFile(join(src, 'secret.txt'), `${marker}\n`.repeat(2000));
    await lifeboat(['init'], full);
    await lifeboat(['backup', '--type', 'files', '--name', 'app', '--path', src], full);
    const added = await lifeboat(['key', 'add', '--write-only'], {
      ...full,
      LIFEBOAT_NEW_PASSWORD: 'backup-host-password',
    });
    assert.match(added.stdout, /added write-only key/);

    // The write-only host adds a snapshot: unchanged data is deduplicated, not uploaded again.
    await writeFile(join(src, 'new.txt'), `${marker} day two\n`);
    const r = await lifeboat(['backup', '--json', '--type', 'files', '--name', 'app', '--path', src], wo);
    const snap = JSON.parse(r.stdout)[0].saved[0];
    assert.ok(snap.backup.bytesAdded < 100_000, `write-only backup added ${snap.backup.bytesAdded} bytes`);

    // Everything that reads, lists contents or deletes is refused, clearly.
    for (const args of [
      ['snapshots'],
      ['restore', 'latest', '--to', join(dir, 'x')],
      ['dump', 'latest', '--path', 'secret.txt'],
      ['forget', '--keep-last', '1'],
      ['prune'],
      ['check', '--read-data'],
      ['key', 'add'],
      ['key', 'rotate'],
    ]) {
      const res = await runCli(args, { ...wo, LIFEBOAT_NEW_PASSWORD: 'x' });
      assert.equal(res.code, 1, `${args.join(' ')}: ${res.stdout}${res.stderr}`);
      assert.match(res.stderr, /these credentials are write-only/, args.join(' '));
      assert.doesNotMatch(res.stderr, /at .*\.js:\d+/, 'no stack trace');
    }

    // Even through the library, a write-only handle cannot decrypt a stored blob.
    const handle = await Repository.open(createLocalBackend(repo), 'backup-host-password', {
      kdf: { N: 1024, r: 8, p: 1 },
    });
    await handle.loadIndex();
    const [some] = handle.storedBlobs();
    assert.ok(some);
    await assert.rejects(handle.loadBlob(some.id), (err) => isLifeboatError(err) && err.code === 'forbidden');

    // The full host sees both snapshots and restores the one the write-only host made.
    const list = JSON.parse((await lifeboat(['snapshots', '--json'], full)).stdout);
    assert.equal(list.length, 2);
    await lifeboat(['check', '--read-data'], full);
    await lifeboat(['restore', snap.id, '--to', join(dir, 'out')], full);
    assert.deepEqual(await compareTrees(src, join(dir, 'out')), []);

    // Nothing in the repository shows the plaintext or the passwords.
    for (const f of await allFiles(repo)) {
      const data = await readFile(f);
      for (const needle of [marker, 'backup-host-password', 'test-password']) {
        assert.equal(data.includes(Buffer.from(needle)), false, `${needle} found in ${f}`);
      }
    }

    // Re-encryption by a full host brings the write-only host's packs under the data key.
    await lifeboat(['key', 'rotate', '--reencrypt'], full);
    await lifeboat(['key', 'retire', '0'], full);
    await lifeboat(['restore', 'latest', '--to', join(dir, 'out2')], full);
    assert.deepEqual(await compareTrees(src, join(dir, 'out2')), []);
    // And the write-only host keeps working after the rotation.
    await lifeboat(['backup', '--type', 'files', '--name', 'app', '--path', src], wo);
    await lifeboat(['check', '--read-data'], full);
  } finally {
    await cleanup();
  }
});
