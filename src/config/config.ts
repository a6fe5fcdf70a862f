/**
 * @module config/config
 * Parsing lifeboat.yaml (config-load.ts finds and reads it): parse YAML, interpolate `${NAME}` from the
 * environment, make relative paths relative to the file's folder, validate. Every error names
 * the file and the field and says what to do. A source's unset `${NAME}` fails only the
 * command that reads that setting, so `audit list` needs no database password.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { LifeboatError } from '../errors.js';
import { type ChannelConfig, notificationSchema } from '../notify/notification-config.js';
import { describeIssues } from './config-issues.js';
import { configSchema, type LifeboatConfig } from './config-schema.js';
import { interpolateEnv, type UnsetReference } from './interpolate.js';

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
  const deferred: UnsetReference[] = [];
  raw = interpolateEnv(raw, env, file, [], deferred);
  // Only a source's settings and a notification channel's wait until they are used: the rest
  // every command may need.
  const early = deferred.find((d) => d.path[0] !== 'sources' && d.path[0] !== 'notifications');
  if (early) throw early.error;
  const channels = setAsideUnsetChannels(raw, deferred, file);
  // `sources:` with every entry commented out is an empty list of sources, not an error.
  if (isRecord(raw) && raw.sources === null) raw.sources = {};
  if (isRecord(raw)) resolvePaths(raw, dirname(resolve(file)));

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = describeIssues(parsed.error.issues, raw).map((l) => `[config] ${file}: ${l}`);
    throw new LifeboatError('config_invalid', lines.join('\n'));
  }
  const config = parsed.data as unknown as LifeboatConfig;
  // Sources are looked up by names from requests: "constructor" or "toString" must find nothing.
  config.sources = Object.assign(Object.create(null), config.sources ?? {});
  const inSources = deferred.filter((d) => d.path[0] === 'sources');
  for (const d of inSources) failOnRead(config, d);
  if (inSources.length > 0) unsetInSources.set(config, { file, references: inSources });
  if (channels.length > 0) unsetInChannels.set(config, channels);
  return config;
}

/** A `notifications:` entry that uses an unset variable: left out of the config's channels. */
export interface UnsetChannel {
  /** Its place in the file's list (`notifications.<position>`). */
  position: number;
  /** The entry as validated, with UNSET_PLACEHOLDER where the variable was. */
  config: ChannelConfig;
  /** The error of its first unset variable: raised when the channel sends. */
  error: LifeboatError;
}

const unsetInChannels = new WeakMap<LifeboatConfig, UnsetChannel[]>();

/**
 * The notification channels left out of `config.notifications` for an unset variable: a
 * command that sends (serve) builds each as a channel that fails with that error when it
 * sends; the others (a worker, a backup) never read them.
 */
export function unsetChannels(config: LifeboatConfig): readonly UnsetChannel[] {
  return unsetInChannels.get(config) ?? [];
}

/**
 * Takes the `notifications:` entries that use an unset variable out of `raw` and checks each
 * one against its channel's schema, except the settings that use the variable (their value is
 * not known yet).
 */
function setAsideUnsetChannels(raw: unknown, deferred: UnsetReference[], file: string): UnsetChannel[] {
  const refs = deferred.filter((d) => d.path[0] === 'notifications');
  if (refs.length === 0 || !isRecord(raw) || !Array.isArray(raw.notifications)) return [];
  const list = raw.notifications as unknown[];
  const positions = [...new Set(refs.map((d) => Number(d.path[1])))];
  const out: UnsetChannel[] = [];
  for (const position of positions) {
    const unsetPaths = refs.filter((d) => Number(d.path[1]) === position).map((d) => d.path.join('.'));
    const entry = list[position];
    const checked = notificationSchema.safeParse(entry);
    const issues = checked.success
      ? []
      : checked.error.issues.filter(
          (i) => !unsetPaths.includes(['notifications', String(position), ...i.path.map(String)].join('.')),
        );
    if (issues.length > 0) {
      const lines = describeIssues(
        issues.map((i) => ({ ...i, path: ['notifications', position, ...i.path] })),
        raw,
      ).map((l) => `[config] ${file}: ${l}`);
      throw new LifeboatError('config_invalid', lines.join('\n'));
    }
    // The placeholder broke only the unset settings: the entry as written, type and all.
    const error = refs.find((d) => Number(d.path[1]) === position)!.error;
    out.push({ position, config: (checked.success ? checked.data : entry) as ChannelConfig, error });
  }
  raw.notifications = list.filter((_, i) => !positions.includes(i));
  return out;
}

/** The settings of each parsed config that use an unset variable, kept for requireEverySource. */
const unsetInSources = new WeakMap<LifeboatConfig, { file: string; references: UnsetReference[] }>();

/**
 * For a command that touches every source (`serve` runs every schedule): fails now, naming
 * each source and the unset variable it uses, instead of when that source's job first runs.
 */
export function requireEverySource(
  config: LifeboatConfig,
  command: string,
  /** Only the sources this process runs (fleet mode: those whose `runs_on` its labels reach). */
  runs?: (source: string) => boolean,
): void {
  const unset = unsetInSources.get(config);
  const references = unset?.references.filter((d) => !runs || runs(String(d.path[1])));
  const why = runs ? `${command} runs its jobs` : `${command} uses every source`;
  if (!unset || !references?.length) return;
  const lines = references.map(
    (d) =>
      `[config] ${unset.file}: source "${d.path[1]}" uses \${${d.variable}} (in ${d.path.join('.')}), which is not set; ${why}: set ${d.variable} in its environment or remove the source from the file`,
  );
  throw new LifeboatError('config_invalid', lines.join('\n'));
}

/**
 * Settings that name a local file or folder, by where they sit (`*` any source), resolved
 * against the config file's folder, as a shell would from there. The repository URL counts
 * when it is a plain path (no scheme); PEM text given in place of a TLS file stays as it is.
 */
const PATH_SETTINGS = [
  ['repository', 'url'],
  ['repository', 'password_file'],
  ['sources', '*', 'path'],
  ['sources', '*', 'bin_dir'],
  ['sources', '*', 'tls', 'ca'],
  ['sources', '*', 'tls', 'cert'],
  ['sources', '*', 'tls', 'key'],
  ['server', 'catalog'],
];

function resolvePaths(raw: Record<string, unknown>, base: string): void {
  const visit = (node: unknown, rest: string[]): void => {
    if (!isRecord(node)) return;
    const [key, ...more] = rest;
    const keys = key === '*' ? Object.keys(node) : [key];
    for (const k of keys) {
      const value = node[k];
      if (more.length > 0) visit(value, more);
      else if (typeof value === 'string' && isLocalRelative(value)) node[k] = resolve(base, value);
    }
  };
  for (const setting of PATH_SETTINGS) visit(raw, setting);
}

function isLocalRelative(value: string): boolean {
  return (
    value !== '' &&
    !value.startsWith('-----') &&
    !isAbsolute(value) &&
    !/^[a-z][a-z0-9+.-]*:/i.test(value) &&
    !value.includes('\n')
  );
}

/**
 * The setting that used an unset variable throws its error when read (the source holding it
 * is still listed; reading its other settings works). When validation reshaped the value,
 * the whole source throws instead.
 */
function failOnRead(config: LifeboatConfig, d: UnsetReference): void {
  const path = d.path.slice(1);
  let parent: unknown = config.sources;
  for (const key of path.slice(0, -1))
    parent = isRecord(parent) || Array.isArray(parent) ? (parent as Record<string, unknown>)[key] : undefined;
  const leaf = path[path.length - 1];
  const holder = (isRecord(parent) || Array.isArray(parent)) && leaf in parent ? parent : config.sources;
  const key = holder === parent ? leaf : path[0];
  Object.defineProperty(holder, key, {
    enumerable: true,
    configurable: true,
    get() {
      throw d.error;
    },
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
