/**
 * @module config/config-load
 * Finding and reading lifeboat.yaml. The parser (config.ts: YAML, the schema of every engine
 * and backend) is loaded only when there is a file to parse: a command given its repository
 * by the environment alone starts without it.
 */
import { readFile } from 'node:fs/promises';
import { describe, errnoCode, LifeboatError } from '../errors.js';
import type { LifeboatConfig } from './config-schema.js';

const DEFAULT_FILE = 'lifeboat.yaml';

/**
 * The config from `path`, else LIFEBOAT_CONFIG, else ./lifeboat.yaml when it exists, else an
 * empty config (sources given on the command line, repository from the environment).
 */
export async function loadConfig(
  path?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LifeboatConfig> {
  const chosen = path || env.LIFEBOAT_CONFIG || undefined;
  const file = chosen ?? DEFAULT_FILE;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (chosen === undefined && errnoCode(err) === 'ENOENT') return { sources: {} };
    const reason = errnoCode(err) === 'ENOENT' ? 'file not found' : describe(err);
    const from = path ? '--config' : 'LIFEBOAT_CONFIG';
    throw new LifeboatError('config_invalid', `[config] cannot read ${file}: ${reason} (check ${from})`, {
      cause: err,
    });
  }
  const { parseConfig } = await import('./config.js');
  return parseConfig(text, file, env);
}

/**
 * Reads every setting of a source, so one that uses an unset `${NAME}` (config.ts makes it
 * throw when read) fails now, before a command starts work that needs it (a backup of several
 * sources checks them all first).
 */
export function requireSettings(source: unknown): void {
  JSON.stringify(source);
}
