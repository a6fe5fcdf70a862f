/**
 * @module config/config-issues
 * Turns schema validation issues into messages that name the field by its path and say what
 * is expected. Messages name types and keys, never values, so secrets stay out of them.
 */
import type { z } from 'zod';
import { knownSourceTypes } from '../sources/registry.js';
import {
  configSchema,
  hooksSchema,
  repositorySchema,
  retentionSchema,
  sourceConfigSchema,
} from './config-schema.js';

type Issue = z.core.$ZodIssue;

/** One line per issue: `sources.uploads.path: expected a string (required)`. */
export function describeIssues(issues: readonly Issue[], data: unknown): string[] {
  return issues.flatMap((issue) => describeIssue(issue, data));
}

function describeIssue(issue: Issue, data: unknown): string[] {
  const path = issue.path.map(String);
  const at = (text: string, p: string[] = path) => (p.length > 0 ? `${fieldName(p)}: ${text}` : text);
  const value = valueAt(data, path);
  switch (issue.code) {
    case 'invalid_type': {
      const expected = `expected ${typeName(issue.expected)}`;
      if (value === undefined) return [at(`${expected} (required)`)];
      const hint = issue.expected === 'string' && typeof value !== 'object' ? ' (put it in quotes)' : '';
      return [at(`${expected}, got ${typeOf(value)}${hint}`)];
    }
    case 'unrecognized_keys': {
      const known = knownKeys(path, data);
      const list = known ? ` (known: ${known.join(', ')})` : '';
      const where = path.length === 0 ? 'unknown top-level key' : 'unknown key';
      return issue.keys.map((k) => at(`${where} "${k}"${list}`));
    }
    case 'invalid_union':
      if ('discriminator' in issue && issue.discriminator === 'type') {
        const known = knownSourceTypes().join(', ');
        return [
          value === undefined
            ? at(`expected a source type (required; known: ${known})`)
            : at(`unknown source type ${JSON.stringify(String(value))} (known: ${known})`),
        ];
      }
      return [at('does not match any allowed form')];
    case 'invalid_key': {
      const parent = path.slice(0, -1);
      const what = parent.length === 1 && parent[0] === 'sources' ? 'source name' : 'name';
      return [
        at(
          `"${path[path.length - 1]}" is not a valid ${what} (use letters, digits, ".", "_" and "-", starting with a letter or digit)`,
          parent,
        ),
      ];
    }
    case 'too_small':
      if (issue.origin === 'string') return [at('expected a non-empty string')];
      if (issue.origin === 'array') return [at(`expected at least ${issue.minimum} items`)];
      return [at(`expected a number >= ${issue.minimum}`)];
    case 'too_big':
      return [at(`expected at most ${issue.maximum}`)];
    case 'invalid_value':
      return [at(`expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`)];
    default:
      return [at(issue.message)];
  }
}

/** `sources.app-db.url`, `notifications[0].type`. */
export function fieldName(path: string[]): string {
  return path.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function valueAt(data: unknown, path: string[]): unknown {
  let v = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

function knownKeys(path: string[], data: unknown): string[] | undefined {
  const [first, name, third] = path;
  if (path.length === 0) return Object.keys(configSchema.shape);
  if (path.length === 1 && first === 'repository') return Object.keys(repositorySchema.shape);
  if (first !== 'sources' || name === undefined) return undefined;
  if (path.length === 3 && third === 'retention') return Object.keys(retentionSchema.shape);
  if (path.length === 3 && third === 'hooks') return Object.keys(hooksSchema.shape);
  if (path.length !== 2) return undefined;
  const type = valueAt(data, [...path, 'type']);
  if (typeof type !== 'string' || !knownSourceTypes().includes(type)) return undefined;
  return Object.keys(sourceConfigSchema(type).shape);
}

function typeName(expected: string): string {
  switch (expected) {
    case 'int':
      return 'a whole number';
    case 'object':
    case 'record':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'boolean':
      return 'true or false';
    default:
      return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
  }
}

function typeOf(value: unknown): string {
  if (value === null) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number' && !Number.isInteger(value)) return 'a fractional number';
  return typeName(typeof value);
}
