/**
 * @module sources/restore-scopes
 * The restore scopes, each declared once: engines list the ones they honour, and the CLI's
 * flags, the API's request fields and the dashboard wizard's controls are built from these.
 * The order here is the order the CLI's help lists them in.
 */
import { LifeboatError } from '../errors.js';

/** A RestoreOptions field that narrows a restore to part of a snapshot. */
export type ScopeField = 'include' | 'tables' | 'schemas' | 'db' | 'pattern' | 'collections';

/**
 * One way to restore part of a snapshot. Declared once (sources/restore-scopes) and listed by
 * the engines that honour it. An engine MUST honour every scope it lists; a non-empty scope
 * it does not list it SHOULD refuse (a 'usage' LifeboatError naming the flag) rather than
 * restore everything.
 */
export interface RestoreScope {
  /** The RestoreOptions field it fills; also the field of the API's restore request. */
  field: ScopeField;
  /** The CLI flag, without its dashes ("table" for `--table <name>`). */
  flag: string;
  /**
   * 'names': a list (the flag repeats, the API takes an array); 'text': one string;
   * 'integer': one whole number, 0 or more.
   */
  type: 'names' | 'text' | 'integer';
  /** What the CLI's help shows after the flag ("name", "n", "glob", "path"). */
  value: string;
  /** One line: the CLI's help and the API's description. */
  help: string;
  /** The wizard's label: "Only these tables". */
  label: string;
  /** The statistic whose keys are the choices (the wizard offers them as checkboxes): "rows". */
  choices?: string;
}

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
export interface ScopeValues {
  include?: string[];
  tables?: string[];
  schemas?: string[];
  db?: number;
  pattern?: string;
  collections?: string[];
}

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
