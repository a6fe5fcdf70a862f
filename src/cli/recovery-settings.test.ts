import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { recoverySettings as settingsFor } from '../jobs/pitr-settings.js';
import { Repository } from '../repo/repository.js';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { CliContext } from './context.js';
import { readRecoverySettings, settingsContext } from './recovery-settings.js';

/** The settings `restore --at` notes for a command run with `ctx` (jobs/pitr pointRestoreCommand). */
const recoverySettings = (ctx: CliContext, configFile: string | undefined) =>
  settingsFor(ctx.config, ctx.env, configFile);

const usage = (pattern: RegExp) => (err: unknown) =>
  isLifeboatError(err) && err.code === 'usage' && pattern.test(err.message);

test('recovery settings name the repository and where the password comes from, never the password', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-recovery-settings-'));
  try {
    const config = join(dir, 'lifeboat.yaml');
    await writeFile(config, 'repository:\n  url: /elsewhere\n  password: in-config-pw\n');
    const at = async (env: NodeJS.ProcessEnv, options = {}) =>
      recoverySettings(await CliContext.create({ config, ...options }, env), config);

    // A relative path is made absolute: restore_command runs in the data directory.
    assert.deepEqual(await at({ LIFEBOAT_REPO: 'repo', LIFEBOAT_PASSWORD_FILE: 'pw' }), {
      repository: resolve('repo'),
      password_file: resolve('pw'),
    });
    assert.deepEqual(await at({ LIFEBOAT_REPO: 's3://b/p', LIFEBOAT_PASSWORD_COMMAND: 'pass show lb' }), {
      repository: 's3://b/p',
      password_command: 'pass show lb',
    });
    // --repo and --password-file win over the environment's password.
    assert.deepEqual(
      await at({ LIFEBOAT_REPO: '/r1', LIFEBOAT_PASSWORD: 'x' }, { repo: '/r2', passwordFile: '/pw' }),
      { repository: '/r2', password_file: '/pw' },
    );
    // The config's own password: restore_command passes --config, so the file is named.
    assert.deepEqual(await at({}), { repository: '/elsewhere', password_in_config: config });

    await assert.rejects(
      at({ LIFEBOAT_PASSWORD: 'env-only-pw' }),
      usage(/only in the environment \(LIFEBOAT_PASSWORD\).*--password-file FILE/),
    );
    const ctx = await CliContext.create({}, { LIFEBOAT_REPO: '/r', LIFEBOAT_PASSWORD: 'x' });
    await assert.rejects(async () => recoverySettings(ctx, undefined), usage(/only in the environment/));
    await assert.rejects(
      at({ LIFEBOAT_REPO: 'sftp://u:url-pw@h/r', LIFEBOAT_PASSWORD_FILE: '/pw' }),
      (err: unknown) => usage(/holds credentials/)(err) && !String((err as Error).message).includes('url-pw'),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('wal-fetch --settings opens the named repository with the named password, not the environment', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-recovery-settings-'));
  try {
    const repo = join(dir, 'repo');
    const kdf = { N: 1024, r: 8, p: 1 };
    await Repository.init(createLocalBackend(repo), 'the-right-pw', { kdf });
    const config = join(dir, 'lifeboat.yaml');
    await writeFile(config, 'repository:\n  url: /nowhere\n  password: the-right-pw\n');
    const passwordFile = join(dir, 'pw');
    await writeFile(passwordFile, 'the-right-pw\n');
    // The server's environment names another repository and a wrong password.
    const env = { LIFEBOAT_REPO: '/nowhere', LIFEBOAT_PASSWORD: 'wrong', LIFEBOAT_KDF_N: '1024' };
    const ctx = await CliContext.create({ config }, env);
    for (const written of [
      { repository: repo, password_file: passwordFile },
      { repository: repo, password_command: `cat ${passwordFile}` },
      { repository: repo, password_in_config: config },
    ]) {
      const file = join(dir, 'lifeboat-restore.json');
      await writeFile(file, JSON.stringify(written));
      const opened = await settingsContext(ctx, await readRecoverySettings(file)).openRepository();
      assert.equal(opened.location, createLocalBackend(repo).location);
    }
    await ctx.close();

    await writeFile(join(dir, 'bare.json'), JSON.stringify({ repository: repo }));
    await assert.rejects(readRecoverySettings(join(dir, 'bare.json')), usage(/say nothing of the password/));
    await assert.rejects(
      readRecoverySettings(join(dir, 'none.json')),
      usage(/cannot read the recovery settings/),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
