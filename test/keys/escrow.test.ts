// Escrow: export the master key for an age recipient or a passphrase; a fresh handle with
// only the repository, the escrow file and the private key regains access.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';

test('an escrow file plus its private key restores access when every password is lost', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-escrow-');
  try {
    const env = repoEnv(join(dir, 'repo'));
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'ledger.csv'), 'id,amount\n1,100\n2,250\n');
    await lifeboat(['init'], env);
    await lifeboat(['backup', '--type', 'files', '--name', 'ledger', '--path', src], env);
    await lifeboat(['key', 'rotate'], env); // escrow survives rotation: the data keys live in the config

    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    await writeFile(join(dir, 'identity.txt'), `# created for the escrow test\n${identity}\n`);
    const exported = await lifeboat(
      ['key', 'export', '--recipient', recipient, '--output', join(dir, 'escrow.age')],
      env,
    );
    assert.doesNotMatch(exported.stdout + exported.stderr, /AGE-SECRET|test-password/);
    const escrow = await readFile(join(dir, 'escrow.age'), 'utf8');
    assert.match(escrow, /^-----BEGIN AGE ENCRYPTED FILE-----/);

    // The password is lost: remove the only key file's password by changing it to one nobody knows.
    await lifeboat(['key', 'passwd'], { ...env, LIFEBOAT_NEW_PASSWORD: 'forgotten-forever' });
    assert.equal((await runCli(['snapshots'], env)).code, 1);

    const fresh = { ...env, LIFEBOAT_PASSWORD: '', LIFEBOAT_NEW_PASSWORD: 'recovered' };
    const wrong = await runCli(
      ['key', 'import', join(dir, 'escrow.age'), '--passphrase-file', join(dir, 'identity.txt')],
      fresh,
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /cannot open the escrow file/);
    await lifeboat(
      ['key', 'import', join(dir, 'escrow.age'), '--identity', join(dir, 'identity.txt')],
      fresh,
    );
    const recovered = { ...env, LIFEBOAT_PASSWORD: 'recovered' };
    await lifeboat(['restore', 'latest', '--to', join(dir, 'out')], recovered);
    assert.deepEqual(await compareTrees(src, join(dir, 'out')), []);

    // The file is a standard age file: Debian's age decrypts it too, where installed.
    const age = spawnSync('age', ['-d', '-i', join(dir, 'identity.txt'), join(dir, 'escrow.age')], {
      encoding: 'utf8',
    });
    if (age.error) console.log('# SKIPPED age CLI interop: age not installed (apt-get install age)');
    else assert.match(age.stdout, /"lifeboat_escrow":1/);
  } finally {
    await cleanup();
  }
});

test('a passphrase escrow file opens only with its passphrase and only for its repository', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-escrow-pp-');
  try {
    const env = repoEnv(join(dir, 'repo'));
    const other = repoEnv(join(dir, 'other'));
    await lifeboat(['init'], env);
    await lifeboat(['init'], other);
    await writeFile(join(dir, 'pp'), 'correct horse battery staple\n');
    const out = await lifeboat(['key', 'export', '--passphrase-file', join(dir, 'pp')], env);
    await writeFile(join(dir, 'escrow.age'), out.stdout);
    const elsewhere = await runCli(
      ['key', 'import', join(dir, 'escrow.age'), '--passphrase-file', join(dir, 'pp')],
      {
        ...other,
        LIFEBOAT_NEW_PASSWORD: 'x',
      },
    );
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, /does not belong to the repository/);
    await lifeboat(['key', 'import', join(dir, 'escrow.age'), '--passphrase-file', join(dir, 'pp')], {
      ...env,
      LIFEBOAT_NEW_PASSWORD: 'second',
    });
    const list = await lifeboat(['key', 'list', '--json'], { ...env, LIFEBOAT_PASSWORD: 'second' });
    assert.equal(JSON.parse(list.stdout).keys.length, 2);
  } finally {
    await cleanup();
  }
});
