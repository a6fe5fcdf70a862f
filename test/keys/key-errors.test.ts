/**
 * @module test/keys/key-errors
 * Opening what is not a repository this Lifeboat can read, through the real CLI: a restic
 * repository, a repository whose only key file is of a later format version, and one whose
 * key files are gone. Each gets its own error, never "wrong password"; a wrong password
 * still gets that one.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { open, seal } from '../../src/repo/crypto.js';
import { partsOf } from '../../src/repo/repo-parts.js';
import { CONFIG_AAD } from '../../src/repo/snapshot.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { withRepository } from '../helpers/repo-blobs.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('keys: distinct errors when no key can be tried', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-key-errors-'));
  });
  after(async () => cleanup());

  async function freshRepo(name: string): Promise<string> {
    const repo = join(dir, name);
    await lifeboat(['init'], repoEnv(repo));
    return repo;
  }

  it('names a restic repository as one', async () => {
    // restic's layout: an encrypted config, and key files of JSON without a version.
    const repo = join(dir, 'restic');
    for (const d of ['data', 'index', 'snapshots', 'locks', 'keys'])
      await mkdir(join(repo, d), { recursive: true });
    await writeFile(join(repo, 'config'), randomBytes(155));
    const key = Buffer.from(
      JSON.stringify({
        created: '2026-01-01T00:00:00.000000000Z',
        username: 'root',
        hostname: 'backup-host',
        kdf: 'scrypt',
        N: 32768,
        r: 8,
        p: 1,
        salt: randomBytes(64).toString('base64'),
        data: randomBytes(176).toString('base64'),
      }),
    );
    await writeFile(join(repo, 'keys', sha256(key)), key);
    const r = await runCli(['snapshots'], repoEnv(repo));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is a restic repository, not a Lifeboat one \(open it with restic/);
    assert.doesNotMatch(r.stderr, /wrong password/);
  });

  it('asks for a newer Lifeboat when the key file is of a later version', async () => {
    const repo = await freshRepo('future');
    const [name] = await readdir(join(repo, 'keys'));
    const key = JSON.parse(await readFile(join(repo, 'keys', name), 'utf8'));
    const later = Buffer.from(JSON.stringify({ ...key, version: 2 }, null, 2));
    await rm(join(repo, 'keys', name));
    await writeFile(join(repo, 'keys', sha256(later)), later);
    const r = await runCli(['snapshots'], repoEnv(repo));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /has format version 2, and this Lifeboat reads version 1 \(upgrade Lifeboat\)/);
    assert.doesNotMatch(r.stderr, /wrong password/);
  });

  it('names a repository of a later format version as one, not as damage', async () => {
    const repo = await freshRepo('future-repo');
    const kek = await withRepository(
      repo,
      async (r) => (partsOf(r).keys as unknown as { master: { kek: Buffer } }).master.kek,
    );
    const file = join(repo, 'config');
    const stored = JSON.parse(open(kek, await readFile(file), CONFIG_AAD, 'config').toString('utf8'));
    await chmod(file, 0o600);
    await writeFile(file, seal(kek, Buffer.from(JSON.stringify({ ...stored, version: 2 })), CONFIG_AAD));
    const r = await runCli(['snapshots', '--json'], repoEnv(repo));
    assert.equal(r.code, 1, r.stderr);
    const e = JSON.parse(r.stderr);
    assert.equal(e.code, 'unsupported');
    assert.match(
      e.message,
      /has format version 2, written by a later Lifeboat; this Lifeboat reads version 1 \(upgrade Lifeboat\)/,
    );
  });

  it('names a damaged key file, never blaming the password', async () => {
    const repo = await freshRepo('damaged-key');
    const [name] = await readdir(join(repo, 'keys'));
    const path = join(repo, 'keys', name);
    const key = JSON.parse(await readFile(path, 'utf8'));
    const data = Buffer.from(key.data, 'base64');
    data[10] ^= 0xff;
    await chmod(path, 0o600);
    await writeFile(path, JSON.stringify({ ...key, data: data.toString('base64') }, null, 2));
    const r = await runCli(['snapshots'], repoEnv(repo));
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`key file ${name.slice(0, 8)} is damaged \\(its content does not match its name\\)`),
    );
    assert.doesNotMatch(r.stderr, /wrong password/);
    // Cut short, it is no JSON any more: still damaged, not wrong.
    await writeFile(path, (await readFile(path)).subarray(0, 40));
    const cut = await runCli(['snapshots', '--json'], repoEnv(repo));
    assert.equal(JSON.parse(cut.stderr).code, 'repo_corrupt');
    assert.match(cut.stderr, /is damaged/);
  });

  it('says the key files are missing', async () => {
    const repo = await freshRepo('keyless');
    for (const name of await readdir(join(repo, 'keys'))) await rm(join(repo, 'keys', name));
    const r = await runCli(['snapshots'], repoEnv(repo));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /has no key files \(its keys folder is empty or missing\)/);
    assert.doesNotMatch(r.stderr, /wrong password/);
    await rm(join(repo, 'keys'), { recursive: true });
    const gone = await runCli(['snapshots'], repoEnv(repo));
    assert.match(gone.stderr, /has no key files/);
  });

  it('still calls a wrong password wrong', async () => {
    const repo = await freshRepo('wrong');
    const r = await runCli(['snapshots'], repoEnv(repo, { LIFEBOAT_PASSWORD: 'not-the-password' }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /wrong password for the repository/);
  });
});
