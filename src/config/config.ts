/**
 * @module config/config
 * Loading lifeboat.yaml: find the file, parse YAML, interpolate `${NAME}` from the
 * environment, validate. Every error names the file and the field and says what to do.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { describe, errnoCode, LifeboatError } from '../errors.js';
import { describeIssues } from './config-issues.js';
import { configSchema, type LifeboatConfig } from './config-schema.js';
import { interpolateEnv } from './interpolate.js';

export type {
  ConfiguredSource,
  HooksConfig,
  LifeboatConfig,
  NotificationConfig,
  RepositoryConfig,
  RetentionConfig,
  ScheduleConfig,
  ServerConfig,
} from './config-schema.js';
export { configJsonSchema } from './config-schema.js';
export { parseDuration } from './duration.js';
export { type RepositorySettings, resolveRepository } from './repository-settings.js';

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
  return parseConfig(text, file, env);
}

/** Parses and validates config text; `file` names it in messages and anchors relative paths. */
export function parseConfig(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): LifeboatConfig {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const pos = err.linePos?.[0];
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    // The parser's own message ends with an excerpt of the file, which may hold a secret.
    const reason = err.message.split(' at line ')[0];
    throw new LifeboatError('config_invalid', `[config] ${file}: YAML syntax error${where}: ${reason}`, {
      cause: err,
    });
  }
  let raw: unknown = doc.toJS() ?? {};
  raw = interpolateEnv(raw, env, file);
  // `sources:` with every entry commented out is an empty list of sources, not an error.
  if (isRecord(raw) && raw.sources === null) raw.sources = {};

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = describeIssues(parsed.error.issues, raw).map((l) => `[config] ${file}: ${l}`);
    throw new LifeboatError('config_invalid', lines.join('\n'));
  }
  const config = parsed.data as unknown as LifeboatConfig;
  // Sources are looked up by names from requests: "constructor" or "toString" must find nothing.
  config.sources = Object.assign(Object.create(null), config.sources ?? {});
  const pwFile = config.repository?.password_file;
  if (config.repository && pwFile && !isAbsolute(pwFile)) {
    config.repository.password_file = resolve(dirname(resolve(file)), pwFile);
  }
  return config;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
