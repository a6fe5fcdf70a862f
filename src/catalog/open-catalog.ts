/**
 * @module catalog/open-catalog
 * Where the catalog lives and how to open it: a file path opens the SQLite catalog, a
 * postgres:// URL the PostgreSQL one (fleet mode). The SQLite module (and better-sqlite3) is
 * loaded only when a catalog is opened, so commands that never open one stay light.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Clock } from '../clock.js';
import type { LifeboatConfig } from '../config/config.js';
import { LifeboatError } from '../errors.js';
import type { CatalogStore } from './catalog-store.js';

/** True for a catalog location that names a PostgreSQL database rather than a file. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** Opens (creating when missing) the catalog at `location`: a SQLite file path or a postgres:// URL. */
export async function openCatalog(location: string, clock: Clock): Promise<CatalogStore> {
  if (isPostgresLocation(location)) {
    // The URL may carry a password: it is not repeated here.
    throw new LifeboatError(
      'config_invalid',
      '[catalog] a PostgreSQL catalog (postgres:// URL in server.catalog or LIFEBOAT_CATALOG) needs the fleet mode, which this build does not have; give a file path for the SQLite catalog',
    );
  }
  const { SqliteCatalog } = await import('./catalog.js');
  const catalog: CatalogStore = SqliteCatalog.open(location, clock);
  return catalog;
}

/**
 * Where the catalog lives: LIFEBOAT_CATALOG, else `server.catalog` (a path relative to the
 * config file, or a postgres:// URL, returned as it is), else `lifeboat.catalog.sqlite` beside
 * the config file (or in the working directory when there is none).
 */
export function catalogPath(
  config: Pick<LifeboatConfig, 'server'>,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (env.LIFEBOAT_CATALOG) {
    return isPostgresLocation(env.LIFEBOAT_CATALOG) ? env.LIFEBOAT_CATALOG : resolve(env.LIFEBOAT_CATALOG);
  }
  const base = configFile ? dirname(resolve(configFile)) : process.cwd();
  const configured = config.server?.catalog;
  if (configured) {
    if (isPostgresLocation(configured) || isAbsolute(configured)) return configured;
    return resolve(base, configured);
  }
  return resolve(base, 'lifeboat.catalog.sqlite');
}
