/**
 * @module cli/context
 * What every command needs: the loaded config, the repository settings, and a way to open
 * the repository or build a source. Errors here say which setting is missing.
 */
import type { LifeboatConfig } from '../config/config.js';
import { loadConfig, resolveRepository } from '../config/config.js';
import { LifeboatError } from '../errors.js';
import { Repository, type RepositoryOptions } from '../repo/repository.js';
import type { Backend } from '../storage/backend.js';
import { openBackend } from '../storage/registry.js';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
}

export class CliContext {
  private constructor(
    readonly config: LifeboatConfig,
    readonly options: GlobalOptions,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<CliContext> {
    return new CliContext(await loadConfig(options.config, env), options, env);
  }

  /** Repository options from the environment: test hooks that make scrypt cheap. */
  repoOptions(): RepositoryOptions {
    const n = Number(this.env.LIFEBOAT_KDF_N);
    return Number.isInteger(n) && n >= 2 ? { kdf: { N: n, r: 8, p: 1 } } : {};
  }

  async openRepository(): Promise<Repository> {
    const { url, password } = await resolveRepository(this.config, this.env);
    return Repository.open(openBackend(url), password, this.repoOptions());
  }

  /** The repository's backend without opening it (no password needed: `key import`). */
  openBackend(): Backend {
    const url = this.env.LIFEBOAT_REPO || this.config.repository?.url;
    if (!url) {
      throw new LifeboatError(
        'usage',
        '[config] no repository given: set repository.url in lifeboat.yaml or LIFEBOAT_REPO',
      );
    }
    return openBackend(url);
  }

  async initRepository(): Promise<Repository> {
    const { url, password } = await resolveRepository(this.config, this.env);
    return Repository.init(openBackend(url), password, this.repoOptions());
  }
}
