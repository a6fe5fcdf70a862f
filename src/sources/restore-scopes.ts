/**
 * @module sources/restore-scopes
 * The restore scopes, each declared once: engines list the ones they honour, and the CLI's
 * flags, the API's request fields and the dashboard wizard's controls are built from these.
 * The order here is the order the CLI's help lists them in.
 */
import { LifeboatError } from '../errors.js';
import type { RestoreOptions, RestoreScope, ScopeField } from './source.js';

export const RESTORE_SCOPES = {
  include: {
    field: 'include',
    flag: 'include',
    type: 'names',
    value: 'path',
    help: 'restore only this path (repeatable)',
    label: 'Only these paths',
  },
  tables: {
    field: 'tables',
    flag: 'table',
    type: 'names',
    value: 'name',
    help: 'restore only this table (repeatable)',
    label: 'Only these tables',
    choices: 'rows',
  },
  schemas: {
    field: 'schemas',
    flag: 'schema',
    type: 'names',
    value: 'name',
    help: 'restore only this schema (PostgreSQL; repeatable)',
    label: 'Only these schemas',
  },
  db: {
    field: 'db',
    flag: 'db',
    type: 'integer',
    value: 'n',
    help: 'restore only this database number (Redis)',
    label: 'Only this database number',
  },
  pattern: {
    field: 'pattern',
    flag: 'pattern',
    type: 'text',
    value: 'glob',
    help: 'restore only keys matching this glob (Redis KEYS syntax)',
    label: 'Only keys matching this glob',
  },
  collections: {
    field: 'collections',
    flag: 'collection',
    type: 'names',
    value: 'name',
    help: 'restore only this collection, "coll" or "db.coll" (MongoDB; repeatable)',
    label: 'Only these collections',
    choices: 'documents',
  },
} as const satisfies Record<ScopeField, RestoreScope>;

/** Every scope, in the CLI's order. */
export const ALL_SCOPES: readonly RestoreScope[] = Object.values(RESTORE_SCOPES);

/** The scope values of a restore, as RestoreOptions takes them. */
export type ScopeValues = Partial<Pick<RestoreOptions, ScopeField>>;

/**
 * The scopes given in `given`, keyed by CLI flag (commander's parsed options, strings) or by
 * field (an API request, already typed): only those present. A CLI integer is checked here.
 */
export function scopeValues(given: Record<string, unknown>, key: 'flag' | 'field'): ScopeValues {
  const out: Record<string, unknown> = {};
  for (const scope of ALL_SCOPES) {
    let value = given[scope[key]];
    if (value === undefined) continue;
    if (scope.type === 'integer' && typeof value === 'string') {
      if (!/^\d+$/.test(value)) {
        throw new LifeboatError('usage', `[restore] --${scope.flag} expects a whole number, got "${value}"`);
      }
      value = Number(value);
    }
    out[scope.field] = value;
  }
  return out as ScopeValues;
}
