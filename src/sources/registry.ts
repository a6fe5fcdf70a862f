/**
 * @module sources/registry
 * Source engines keyed by `type`: each engine folder's `Engine` (sources/source.ts): its
 * declaration (restore scopes, statistics, drills) and its factory, imported only when a
 * source is built, so that loading the config does not load every engine's drivers. The
 * engines' config schemas are in engine-schemas.ts, loaded only where settings are checked:
 * most commands import this module and never validate a source. Adding an engine means its
 * folder, one entry here and in engine-schemas.ts, and a test file that runs the source
 * contract suite (testing/source-contract).
 */
import { LifeboatError } from '../errors.js';
import { commandEngine } from './command/command-engine.js';
import { filesEngine } from './files/files-engine.js';
import { lmdbEngine } from './lmdb/lmdb-engine.js';
import { mongodbEngine } from './mongodb/mongodb-engine.js';
import { mariadbEngine, mysqlEngine } from './mysql/mysql-engine.js';
import { postgresEngine } from './postgres/postgres-engine.js';
import { redisEngine } from './redis/redis-engine.js';
import { ALL_SCOPES } from './restore-scopes.js';
import type { Engine, EngineDeclaration, RestoreScope, Source } from './source.js';
import { sqliteEngine } from './sqlite/sqlite-engine.js';

/** A source's settings as the config file or the command line gives them. */
export type SourceConfig = { type: string } & Record<string, unknown>;

/** Source names: they appear in snapshots, URLs and file names. */
export const SOURCE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const engines: Record<string, Engine> = {
  files: filesEngine,
  sqlite: sqliteEngine,
  mysql: mysqlEngine,
  mariadb: mariadbEngine,
  postgres: postgresEngine,
  redis: redisEngine,
  lmdb: lmdbEngine,
  mongodb: mongodbEngine,
  command: commandEngine,
};

/** What the engine of `type` declares (scopes, statistics, drills); undefined for an unknown type. */
export function engineDeclaration(type: string): EngineDeclaration | undefined {
  return Object.hasOwn(engines, type) ? engines[type] : undefined;
}

/** Every engine's declaration without its functions, by type in name order: what the API serves. */
export function engineFacts(): {
  type: string;
  restore: EngineDeclaration['restore'];
  stats: EngineDeclaration['stats'];
}[] {
  return knownSourceTypes().map((type) => ({
    type,
    restore: engines[type].restore,
    stats: engines[type].stats,
  }));
}

/**
 * The restore scopes any engine honours, each once, in the CLI's order: what the CLI's
 * restore flags and the API's restore request are built from.
 */
export function restoreScopes(): RestoreScope[] {
  const used = new Set(Object.values(engines).flatMap((e) => e.restore.scopes.map((s) => s.field)));
  return ALL_SCOPES.filter((s) => used.has(s.field));
}

export function knownSourceTypes(): string[] {
  return Object.keys(engines).sort();
}

/**
 * Starts loading the modules of the engines of `types` (unknown ones are ignored), so that a
 * caller can overlap them with other waits, such as the repository key's derivation, which
 * runs off the main thread. createSource awaits the same load and reports its failure.
 */
export function preloadEngines(types: Iterable<string>): void {
  for (const type of new Set(types)) {
    if (Object.hasOwn(engines, type)) engines[type].load().catch(() => {});
  }
}

/**
 * Builds the source `name` from its settings. The settings are checked against the engine's
 * schema here too, since they may come from a snapshot rather than a validated config file
 * (a restore of a snapshot loads the schemas here, with the engine).
 */
export async function createSource(
  name: string,
  config: SourceConfig | Record<string, unknown>,
): Promise<Source> {
  const type = String(config.type);
  const engine = Object.hasOwn(engines, type) ? engines[type] : undefined;
  if (!engine) throw unknownSourceType(type);
  const { sourceSchemas } = await import('./engine-schemas.js');
  const parsed = sourceSchemas[type].safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length > 0 ? issue.path.join('.') : 'settings';
    throw new LifeboatError(
      'config_invalid',
      `[source:${type}] source "${name}": ${field}: ${issue.message} (check its settings in the config)`,
    );
  }
  const create = await engine.load();
  return create(name, parsed.data as never);
}

/** The error for a type no engine has, listing the known ones. */
export function unknownSourceType(
  type: string,
  code: 'usage' | 'config_invalid' = 'config_invalid',
): LifeboatError {
  return new LifeboatError(
    code,
    `[source] unknown source type "${type}" (known: ${knownSourceTypes().join(', ')})`,
  );
}
