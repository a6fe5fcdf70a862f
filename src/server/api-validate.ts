/**
 * @module server/api-validate
 * Request validation from a route's spec: the path parameters, query and body are parsed
 * with the schemas the spec names before its handler runs (server/http-api), and a bad one
 * is a 400 naming the first bad field (`body.to`, `query.limit`).
 */
import type { z } from 'zod';
import { ApiError } from './api-error.js';

type Where = 'body' | 'query' | 'path';

/** Parses `data` or throws a 400 that names the first bad field. */
export function validate<T extends z.ZodType>(schema: T, data: unknown, where: Where): z.infer<T> {
  const r = schema.safeParse(data ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path.map(String);
  let field = path.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
  let text: string;
  switch (issue.code) {
    case 'invalid_type': {
      const value = valueAt(data, path);
      text =
        value === undefined
          ? `expected ${article(issue.expected)} (required)`
          : `expected ${article(issue.expected)}, got ${kindOf(value)}`;
      break;
    }
    case 'unrecognized_keys':
      field = [field, issue.keys[0]].filter(Boolean).join('.');
      text = `unknown ${where === 'query' ? 'parameter' : 'field'} (allowed: ${allowedKeys(schema).join(', ') || 'none'})`;
      break;
    case 'invalid_value':
      text = `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
      break;
    case 'too_small':
      text =
        issue.origin === 'string'
          ? 'expected a non-empty string'
          : issue.origin === 'array'
            ? `expected at least ${issue.minimum} items`
            : `expected a number >= ${issue.minimum}`;
      break;
    case 'too_big':
      text =
        issue.origin === 'array'
          ? `expected at most ${issue.maximum} items`
          : `expected at most ${issue.maximum}`;
      break;
    default:
      text = issue.message;
  }
  const name = field ? `${where}.${field}` : where;
  throw new ApiError(400, 'invalid_request', `[api] ${name}: ${text}`, field || undefined);
}

function allowedKeys(schema: z.ZodType): string[] {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

function valueAt(data: unknown, path: string[]): unknown {
  let v = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

function article(type: string): string {
  if (type === 'object') return 'an object';
  if (type === 'array') return 'a list';
  if (type === 'int') return 'a whole number';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return article(typeof value);
}
