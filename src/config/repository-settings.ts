/**
 * @module config/repository-settings
 * Where the repository is and its password, from the environment or the config file. The
 * environment wins, so one config can serve several repositories. Passwords never appear in
 * messages.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, errnoCode, LifeboatError } from '../errors.js';
import type { LifeboatConfig } from './config-schema.js';

export interface RepositorySettings {
  url: string;
  password: string;
}

/**
 * URL: LIFEBOAT_REPO, then repository.url. Password: LIFEBOAT_PASSWORD, LIFEBOAT_PASSWORD_FILE,
 * LIFEBOAT_PASSWORD_COMMAND, repository.password, repository.password_file,
 * repository.password_command, in that order. Empty values count as unset.
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
  else if (env.LIFEBOAT_PASSWORD_COMMAND)
    password = await runPasswordCommand(env.LIFEBOAT_PASSWORD_COMMAND, 'LIFEBOAT_PASSWORD_COMMAND');
  else if (repo.password) password = repo.password;
  else if (repo.password_file)
    password = await readPasswordFile(repo.password_file, 'repository.password_file');
  else if (repo.password_command)
    password = await runPasswordCommand(repo.password_command, 'repository.password_command');
  if (!password) {
    throw new LifeboatError(
      'usage',
      '[config] no repository password given: set LIFEBOAT_PASSWORD, LIFEBOAT_PASSWORD_FILE or LIFEBOAT_PASSWORD_COMMAND, or repository.password, password_file or password_command in lifeboat.yaml',
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

/**
 * A password printed by a command (a secrets manager's CLI): its stdout without the trailing
 * newline. The output never reaches a message, only the exit status and stderr's first line.
 */
function runPasswordCommand(command: string, setting: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: 60_000, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const first = String(stderr).split('\n')[0].trim();
        const code = (err as { code?: unknown }).code;
        reject(
          new LifeboatError(
            'usage',
            `[config] the password command (from ${setting}) failed${typeof code === 'number' ? ` with exit code ${code}` : ''}${first ? `: ${first}` : ''}`,
          ),
        );
        return;
      }
      const password = String(stdout).replace(/\r?\n$/, '');
      if (password === '') {
        reject(new LifeboatError('usage', `[config] the password command (from ${setting}) printed nothing`));
        return;
      }
      resolve(password);
    });
  });
}
