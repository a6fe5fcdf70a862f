/**
 * @module test/keys/key-errors
 * Opening what is not a repository this Lifeboat can read, through the real CLI: a restic
 * repository, a repository whose only key file is of a later format version, and one whose
 * key files are gone. Each gets its own error, never "wrong password"; a wrong password
 * still gets that one.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';

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
