/**
 * @module catalog/open-catalog
 * Where the catalog lives and how to open it: a file path opens the SQLite catalog, a
 * postgres:// URL the PostgreSQL one (catalog/pg-catalog). Each module (better-sqlite3, pg) is
 * loaded only when a catalog of its kind is opened, so commands that never open one stay light.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Clock } from '../clock.js';
import type { LifeboatConfig } from '../config/config.js';
import type { CatalogStore } from './catalog-store.js';

/** True for a catalog location that names a PostgreSQL database rather than a file. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** Opens (creating when missing) the catalog at `location`: a SQLite file path or a postgres:// URL. */
export async function openCatalog(location: string, clock: Clock): Promise<CatalogStore> {
  if (isPostgresLocation(location)) {
    const { PgCatalog } = await import('./pg-catalog.js');
    return PgCatalog.open(location, clock);
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
