/**
 * @module config/interpolate
 * `${NAME}` in config string values takes NAME from the environment, so secrets stay out of
 * the file; `$${` writes a literal `${`. Keys are never interpolated. An unset NAME can be
 * deferred: the value is then recorded, and the error raised only when something reads it.
 */
import { LifeboatError } from '../errors.js';

const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A value that uses an unset variable: where it is, and the error reading it raises. */
export interface UnsetReference {
  path: string[];
  /** The first unset variable the value uses. */
  variable: string;
  error: LifeboatError;
}

/** What an unset variable's value becomes when deferred: a word most settings accept. */
export const UNSET_PLACEHOLDER = 'unset';

/**
 * A copy of `value` with every string interpolated from `env`. `file` and the path of each
 * value name the place in errors; values themselves never appear in messages. With
 * `deferred`, a value using an unset variable gets UNSET_PLACEHOLDER in its place and is
 * listed there instead of failing; other mistakes (a "${" not closed) still throw.
 */
export function interpolateEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  file: string,
  path: string[] = [],
  deferred?: UnsetReference[],
): unknown {
  if (typeof value === 'string') {
    try {
      return interpolateString(value, env, file, path);
    } catch (err) {
      if (!deferred || !(err instanceof UnsetVariable)) throw err;
      deferred.push({ path, variable: err.variable, error: err });
      return interpolateString(value, { ...env, [err.variable]: UNSET_PLACEHOLDER }, file, path, deferred);
    }
  }
  if (Array.isArray(value))
    return value.map((v, i) => interpolateEnv(v, env, file, [...path, String(i)], deferred));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: interpolateEnv(v, env, file, [...path, k], deferred),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

class UnsetVariable extends LifeboatError {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super('config_invalid', message);
  }
}

function interpolateString(
  text: string,
  env: NodeJS.ProcessEnv,
  file: string,
  path: string[],
  deferred?: UnsetReference[],
): string {
  const field = path.join('.') || '(top level)';
  return text.replace(REFERENCE, (match: string, name: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) {
      throw new LifeboatError(
        'config_invalid',
        `[config] ${file}: ${field} has a "\${" without a closing "}" (write $\${ for a literal \${)`,
      );
    }
    if (!NAME.test(name)) {
      throw new LifeboatError(
        'config_invalid',
        `[config] ${file}: ${field} has a \${...} that is not a variable name (use letters, digits and _; write $\${ for a literal \${)`,
      );
    }
    const found = env[name];
    if (found === undefined) {
      const message = `[config] ${file}: ${field} uses \${${name}}, which is not set (export it or edit the file)`;
      // A second unset name in a value already deferred: the first one's error stands.
      if (deferred) return UNSET_PLACEHOLDER;
      throw new UnsetVariable(name, message);
    }
    return found;
  });
}
