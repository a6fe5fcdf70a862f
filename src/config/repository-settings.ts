/**
 * @module config/repository-settings
 * Where the repository is and its password, from the environment or the config file. The
 * environment wins, so one config can serve several repositories. Passwords never appear in
 * messages.
 */
import { readFile } from 'node:fs/promises';
import { describe, errnoCode, LifeboatError } from '../errors.js';
import type { LifeboatConfig } from './config-schema.js';

export interface RepositorySettings {
  url: string;
  password: string;
}

/**
 * URL: LIFEBOAT_REPO, then repository.url. Password: LIFEBOAT_PASSWORD, LIFEBOAT_PASSWORD_FILE,
 * repository.password, repository.password_file, in that order. Empty values count as unset.
 */
export async function resolveRepository(
  config: Pick<LifeboatConfig, 'repository'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RepositorySettings> {
  const repo = config.repository ?? {};
  const url = env.LIFEBOAT_REPO || repo.url;
  if (!url) {
    throw new LifeboatError(
      'usage',
      '[config] no repository given: set repository.url in lifeboat.yaml or LIFEBOAT_REPO',
    );
  }
  let password: string | undefined;
  if (env.LIFEBOAT_PASSWORD) password = env.LIFEBOAT_PASSWORD;
  else if (env.LIFEBOAT_PASSWORD_FILE)
    password = await readPasswordFile(env.LIFEBOAT_PASSWORD_FILE, 'LIFEBOAT_PASSWORD_FILE');
  else if (repo.password) password = repo.password;
  else if (repo.password_file)
    password = await readPasswordFile(repo.password_file, 'repository.password_file');
  if (!password) {
    throw new LifeboatError(
      'usage',
      '[config] no repository password given: set LIFEBOAT_PASSWORD or LIFEBOAT_PASSWORD_FILE, or repository.password or repository.password_file in lifeboat.yaml',
    );
  }
  return { url, password };
}

/** A password file's contents without its trailing newline. */
async function readPasswordFile(path: string, setting: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = errnoCode(err) === 'ENOENT' ? 'file not found' : describe(err);
    throw new LifeboatError(
      'usage',
      `[config] cannot read the password file ${path} (from ${setting}): ${reason}`,
      {
        cause: err,
      },
    );
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') {
    throw new LifeboatError('usage', `[config] the password file ${path} (from ${setting}) is empty`);
  }
  return password;
}
