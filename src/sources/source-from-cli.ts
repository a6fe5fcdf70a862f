/**
 * @module sources/source-from-cli
 * A source given on the command line (`lifeboat backup --type files --name uploads --path
 * /srv/uploads`): its settings, checked by the engine's schema, with messages that name the
 * flags. Apart from the registry because it loads the schemas (engine-schemas).
 */
import { LifeboatError } from '../errors.js';
import { sourceSchema } from './engine-schemas.js';
import { SOURCE_NAME_PATTERN, type SourceConfig, unknownSourceType } from './registry.js';

export interface CliSourceArgs {
  type: string;
  name: string;
  path?: string;
  url?: string;
  exclude?: string[];
  /** postgres: logical (pg_dump) or physical (pg_basebackup, point-in-time recovery). */
  method?: string;
  /** command: what prints the data, run by /bin/sh -c. */
  command?: string;
}

/** The settings of the source the flags name, validated by its engine's schema. */
export function sourceFromCli(args: CliSourceArgs): SourceConfig {
  if (!SOURCE_NAME_PATTERN.test(args.name)) {
    throw new LifeboatError(
      'usage',
      `[source] --name "${args.name}" is not a valid source name (use letters, digits, ".", "_" and "-", starting with a letter or digit)`,
    );
  }
  const schema = sourceSchema(args.type);
  if (!schema) throw unknownSourceType(args.type, 'usage');
  const config: Record<string, unknown> = { type: args.type };
  if (args.path !== undefined) config.path = args.path;
  if (args.url !== undefined) config.url = args.url;
  if (args.exclude !== undefined && args.exclude.length > 0) config.exclude = args.exclude;
  if (args.method !== undefined) config.method = args.method;
  if (args.command !== undefined) config.command = args.command;
  const parsed = schema.strict().safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue.code === 'unrecognized_keys') {
      const flags = issue.keys.map((k) => `--${k}`).join(', ');
      throw new LifeboatError('usage', `[source] ${flags} does not apply to --type ${args.type}`);
    }
    const key = String(issue.path[0] ?? 'type');
    const missing = config[key] === undefined;
    throw new LifeboatError(
      'usage',
      missing
        ? `[source] --type ${args.type} needs --${key}`
        : `[source] --${key}: ${issue.message} (for --type ${args.type})`,
    );
  }
  return parsed.data as SourceConfig;
}
