/**
 * @module cli/context
 * What every command needs: the loaded config, the repository settings, and a way to open
 * the repository or build a source. Errors here say which setting is missing.
 */
import { isByteRate, parseByteRate } from '../byte-size.js';
import type { LifeboatConfig } from '../config/config.js';
import { loadConfig } from '../config/config-load.js';
import {
  passwordSource,
  type RepositoryGiven,
  resolveRepository,
  withRepositoryEnv,
} from '../config/repository-settings.js';
import { storageOptionsFromConfig } from '../config/storage-settings.js';
import { describe, LifeboatError } from '../errors.js';
import { Repository, type RepositoryOptions } from '../repo/repository.js';
import type { Backend } from '../storage/backend.js';
import { openBackend, redactUrl, type StorageOptions } from '../storage/registry.js';
import { askPassword, askTwice, canPrompt } from './password-prompt.js';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
  /** --limit-upload / --limit-download: KiB/s, or a size per second (2MiB). */
  limitUpload?: string;
  limitDownload?: string;
  /** --repo and --password-file: over LIFEBOAT_REPO, the password settings and the config. */
  repo?: string;
  passwordFile?: string;
}

export class CliContext {
  /** Backends this command opened, closed when it ends (sftp keeps a connection open). */
  private constructor(
    readonly config: LifeboatConfig,
    readonly options: GlobalOptions,
    readonly env: NodeJS.ProcessEnv,
    private readonly opened: Backend[] = [],
  ) {}

  static async create(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<CliContext> {
    const config = await loadConfig(options.config, env);
    const given = { url: options.repo, passwordFile: options.passwordFile };
    return new CliContext(config, options, withRepositoryEnv(env, given));
  }

  /**
   * This context with the repository and its password given another way (a restore's
   * recovery settings); what it opens is closed with this context.
   */
  withRepository(given: RepositoryGiven): CliContext {
    return new CliContext(this.config, this.options, withRepositoryEnv(this.env, given), this.opened);
  }

  /** Repository options from the environment: test hooks that make scrypt cheap. */
  repoOptions(): RepositoryOptions {
    const n = Number(this.env.LIFEBOAT_KDF_N);
    const options: RepositoryOptions = Number.isInteger(n) && n >= 2 ? { kdf: { N: n, r: 8, p: 1 } } : {};
    const uploads = this.config.repository?.upload_concurrency;
    if (uploads) options.uploadConcurrency = uploads;
    // LIFEBOAT_SEAL_WORKERS: compression/encryption threads (default: one per core, at most 4).
    const workers = this.env.LIFEBOAT_SEAL_WORKERS;
    if (workers !== undefined && /^\d+$/.test(workers)) options.sealWorkers = Number(workers);
    return options;
  }

  /** A backend for `url` with this config's storage settings, closed by close(). */
  async backendFor(url: string): Promise<Backend> {
    const backend = await openBackend(url, this.storageOptions());
    this.opened.push(backend);
    return backend;
  }

  /** Releases the connections of every backend this command opened. */
  async close(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((b) => b.close().catch(() => {})));
  }

  /** Backend settings from the repository section, with --limit-* over the config's limits. */
  storageOptions(): StorageOptions {
    const options = storageOptionsFromConfig(this.config.repository, this.env);
    const up = parseLimit(this.options.limitUpload, '--limit-upload');
    const down = parseLimit(this.options.limitDownload, '--limit-download');
    if (up !== undefined) options.limitUploadBytesPerSecond = up;
    if (down !== undefined) options.limitDownloadBytesPerSecond = down;
    if (this.options.debug && options.retry) {
      options.retry.onRetry = (e) =>
        process.stderr.write(
          `lifeboat: retrying ${e.what} in ${e.delayMs}ms (attempt ${e.attempt}): ${describe(e.error)}\n`,
        );
    }
    return options;
  }

  /** Another repository (copy's destination), with this config's storage settings. */
  async openRepositoryAt(url: string, password: string): Promise<Repository> {
    return Repository.open(await this.backendFor(url), password, this.repoOptions());
  }

  async openRepository(): Promise<Repository> {
    await this.promptForPassword(false);
    const { url, password } = await resolveRepository(this.config, this.env);
    return Repository.open(await this.backendFor(url), password, this.repoOptions());
  }

  /**
   * No password setting, on a terminal: the password is typed (twice for a new repository),
   * and kept for the rest of this command. Without a terminal, resolveRepository says which
   * settings give one.
   */
  async promptForPassword(isNew: boolean): Promise<void> {
    const url = this.env.LIFEBOAT_REPO || this.config.repository?.url;
    if (!url || passwordSource(this.config, this.env) || !canPrompt()) return;
    this.env.LIFEBOAT_PASSWORD = isNew
      ? await askTwice('password for the new repository', 'init')
      : await askPassword(`password for the repository at ${redactUrl(url)}: `, 'repo');
  }

  /** The repository's backend without opening it (no password needed: `key import`). */
  async openBackend(): Promise<Backend> {
    const url = this.env.LIFEBOAT_REPO || this.config.repository?.url;
    if (!url) {
      throw new LifeboatError(
        'usage',
        '[config] no repository given: set repository.url in lifeboat.yaml or LIFEBOAT_REPO',
      );
    }
    return this.backendFor(url);
  }

  async initRepository(): Promise<Repository> {
    await this.promptForPassword(true);
    const { url, password } = await resolveRepository(this.config, this.env);
    return Repository.init(await this.backendFor(url), password, this.repoOptions());
  }
}

/** A --limit-* value in bytes per second: KiB/s as a number, or a size per second; 0 means unlimited. */
function parseLimit(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!isByteRate(value)) {
    throw new LifeboatError(
      'usage',
      `[cli] ${flag} "${value}" is not a rate: give KiB/s as a number, e.g. 2048, or a size per second such as 2MiB`,
    );
  }
  return parseByteRate(value);
}
