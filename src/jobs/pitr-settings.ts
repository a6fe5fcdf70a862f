/**
 * @module jobs/pitr-settings
 * What `restore --at` leaves in the data directory for PostgreSQL's restore_command
 * (`wal-fetch --settings FILE`, the file sources/postgres/recovery-config.ts names): the
 * repository the restore read and how to get its password (a file or a command, never the
 * password), so recovery fetches WAL from that repository whatever config or environment the
 * server has. recovery_end_command removes it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { LifeboatConfig } from '../config/config.js';
import { passwordSource, type RepositoryGiven } from '../config/repository-settings.js';
import { describe, errnoCode, LifeboatError } from '../errors.js';
import { redactUrl } from '../storage/redact-url.js';

export interface RecoverySettings {
  /** The repository's URL (never one holding credentials). */
  repository: string;
  password_file?: string;
  password_command?: string;
  /** The password is repository.password of this config file (restore_command passes --config). */
  password_in_config?: string;
}

/**
 * The settings for a restore made with `config` and `env`, or a usage error when PostgreSQL
 * could not follow them: a password given only as LIFEBOAT_PASSWORD (the server's
 * environment does not have it), a URL that holds credentials. `configFile` is the config
 * restore_command passes with --config.
 */
export function recoverySettings(
  config: Pick<LifeboatConfig, 'repository'>,
  env: NodeJS.ProcessEnv,
  configFile: string | undefined,
): RecoverySettings {
  const url = env.LIFEBOAT_REPO || config.repository?.url;
  if (!url) {
    throw new LifeboatError(
      'usage',
      '[config] no repository given: set repository.url in lifeboat.yaml, LIFEBOAT_REPO or --repo',
    );
  }
  if (redactUrl(url) !== url) {
    throw new LifeboatError(
      'usage',
      `[restore] the repository URL ${redactUrl(url)} holds credentials, which PostgreSQL's restore_command would have to carry: give the URL without them and the credentials in the config's repository section (or the server's environment)`,
    );
  }
  // A plain path is read from the data directory (the server's working directory).
  const repository = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : resolve(url);
  const from = passwordSource(config, env);
  if (!from) {
    throw new LifeboatError(
      'usage',
      '[config] no repository password given: set LIFEBOAT_PASSWORD_FILE or LIFEBOAT_PASSWORD_COMMAND, --password-file, or repository.password_file or password_command in lifeboat.yaml',
    );
  }
  if (from.kind === 'file') return { repository, password_file: resolve(from.value) };
  if (from.kind === 'command') return { repository, password_command: from.value };
  if (from.setting === 'repository.password' && configFile) {
    return { repository, password_in_config: resolve(configFile) };
  }
  throw new LifeboatError(
    'usage',
    "[restore] the repository password was given only in the environment (LIFEBOAT_PASSWORD), which PostgreSQL's restore_command does not have: give it by file or command instead (--password-file FILE, LIFEBOAT_PASSWORD_FILE or LIFEBOAT_PASSWORD_COMMAND, readable by the server's OS user), so recovery can read the archive",
  );
}

/** Reads the settings file `path` (relative to the working directory: the data directory). */
export async function readRecoverySettings(path: string): Promise<RecoverySettings> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new LifeboatError(
      'usage',
      `[wal-fetch] cannot read the recovery settings ${resolve(path)}: ${errnoCode(err) === 'ENOENT' ? 'file not found' : describe(err)} (restore --at writes them into the data directory)`,
      { cause: err },
    );
  }
  const s = parsed as Partial<RecoverySettings> | null;
  if (!s || typeof s.repository !== 'string' || !s.repository) {
    throw new LifeboatError('usage', `[wal-fetch] the recovery settings ${resolve(path)} name no repository`);
  }
  if (!s.password_file && !s.password_command && !s.password_in_config) {
    throw new LifeboatError(
      'usage',
      `[wal-fetch] the recovery settings ${resolve(path)} say nothing of the password (restore again with a password file or command)`,
    );
  }
  return s as RecoverySettings;
}

/** The repository the settings name, and its password got their way. */
export function settingsRepository(s: RecoverySettings): RepositoryGiven {
  return {
    url: s.repository,
    passwordFile: s.password_file,
    passwordCommand: s.password_command,
    // password_in_config: the config (passed with --config) gives it, not the environment.
    passwordFromConfig: !!s.password_in_config,
  };
}

/** What a restore writes as RECOVERY_SETTINGS. */
export function settingsText(s: RecoverySettings): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}
