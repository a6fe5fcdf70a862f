/**
 * @module config/interpolate
 * `${NAME}` in config string values takes NAME from the environment, so secrets stay out of
 * the file; `$${` writes a literal `${`. Keys are never interpolated.
 */
import { LifeboatError } from '../errors.js';

const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A copy of `value` with every string interpolated from `env`. `file` and the path of each
 * value name the place in errors; values themselves never appear in messages.
 */
export function interpolateEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  file: string,
  path: string[] = [],
): unknown {
  if (typeof value === 'string') return interpolateString(value, env, file, path);
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, file, [...path, String(i)]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: interpolateEnv(v, env, file, [...path, k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

function interpolateString(text: string, env: NodeJS.ProcessEnv, file: string, path: string[]): string {
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
      throw new LifeboatError(
        'config_invalid',
        `[config] ${file}: ${field} uses \${${name}}, which is not set (export it or edit the file)`,
      );
    }
    return found;
  });
}
