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
 * Where the password comes from, without reading it: the first of LIFEBOAT_PASSWORD,
 * LIFEBOAT_PASSWORD_FILE, LIFEBOAT_PASSWORD_COMMAND, repository.password, password_file,
 * password_command that is set (empty values count as unset), and the setting's name.
 */
export type PasswordSource =
  | { kind: 'value'; value: string; setting: 'LIFEBOAT_PASSWORD' | 'repository.password' }
  | { kind: 'file'; value: string; setting: 'LIFEBOAT_PASSWORD_FILE' | 'repository.password_file' }
  | { kind: 'command'; value: string; setting: 'LIFEBOAT_PASSWORD_COMMAND' | 'repository.password_command' };

export function passwordSource(
  config: Pick<LifeboatConfig, 'repository'>,
  env: NodeJS.ProcessEnv = process.env,
): PasswordSource | undefined {
  const repo = config.repository ?? {};
  if (env.LIFEBOAT_PASSWORD)
    return { kind: 'value', value: env.LIFEBOAT_PASSWORD, setting: 'LIFEBOAT_PASSWORD' };
  if (env.LIFEBOAT_PASSWORD_FILE)
    return { kind: 'file', value: env.LIFEBOAT_PASSWORD_FILE, setting: 'LIFEBOAT_PASSWORD_FILE' };
  if (env.LIFEBOAT_PASSWORD_COMMAND)
    return { kind: 'command', value: env.LIFEBOAT_PASSWORD_COMMAND, setting: 'LIFEBOAT_PASSWORD_COMMAND' };
  if (repo.password) return { kind: 'value', value: repo.password, setting: 'repository.password' };
  if (repo.password_file)
    return { kind: 'file', value: repo.password_file, setting: 'repository.password_file' };
  if (repo.password_command)
    return { kind: 'command', value: repo.password_command, setting: 'repository.password_command' };
  return undefined;
}

export interface RepositoryGiven {
  url?: string;
  passwordFile?: string;
  passwordCommand?: string;
  /** The config file's password settings, not the environment's. */
  passwordFromConfig?: boolean;
}

/**
 * The environment with the repository and its password given another way (--repo,
 * --password-file, a restore's recovery settings): they then win over LIFEBOAT_PASSWORD and
 * the other password settings of the environment.
 */
export function withRepositoryEnv(env: NodeJS.ProcessEnv, given: RepositoryGiven): NodeJS.ProcessEnv {
  const out = { ...env };
  if (given.url) out.LIFEBOAT_REPO = given.url;
  if (given.passwordFile || given.passwordCommand || given.passwordFromConfig) {
    delete out.LIFEBOAT_PASSWORD;
    delete out.LIFEBOAT_PASSWORD_FILE;
    delete out.LIFEBOAT_PASSWORD_COMMAND;
    if (given.passwordFile) out.LIFEBOAT_PASSWORD_FILE = given.passwordFile;
    else if (given.passwordCommand) out.LIFEBOAT_PASSWORD_COMMAND = given.passwordCommand;
  }
  return out;
}

/** URL: LIFEBOAT_REPO, then repository.url. Password: from passwordSource(). */
export async function resolveRepository(
  config: Pick<LifeboatConfig, 'repository'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RepositorySettings> {
  const url = env.LIFEBOAT_REPO || config.repository?.url;
  if (!url) {
    throw new LifeboatError(
      'usage',
      '[config] no repository given: set repository.url in lifeboat.yaml or LIFEBOAT_REPO',
    );
  }
  const from = passwordSource(config, env);
  let password: string | undefined;
  if (from?.kind === 'value') password = from.value;
  else if (from?.kind === 'file') password = await readPasswordFile(from.value, from.setting);
  else if (from?.kind === 'command') password = await runPasswordCommand(from.value, from.setting);
  if (!password) {
    throw new LifeboatError(
      'usage',
      '[config] no repository password given: set LIFEBOAT_PASSWORD, LIFEBOAT_PASSWORD_FILE or LIFEBOAT_PASSWORD_COMMAND, or repository.password, password_file or password_command in lifeboat.yaml (on a terminal, it is asked for)',
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
