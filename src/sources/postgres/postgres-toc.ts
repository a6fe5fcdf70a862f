/**
 * @module sources/postgres/postgres-toc
 * The table of contents of a pg_dump archive as `pg_restore -l` prints it, and the choice of
 * entries for a partial restore (`--table`, `--schema`), which becomes a `pg_restore -L` list.
 * Choosing entries ourselves, rather than with pg_restore's -t/-n, keeps a table's indexes,
 * constraints, triggers, defaults and owned sequences with it, and lets "--table a.t
 * --table b.u" mean exactly those two tables.
 */

export interface TocEntry {
  /** The line as printed, for the -L list. */
  line: string;
  id: number;
  /** "TABLE", "TABLE DATA", "FK CONSTRAINT", ... */
  desc: string;
  /** The entry's schema, "-" for objects outside schemas. */
  schema: string;
  /** Tag and owner as printed: "accounts lbtest", "accounts accounts_pkey lbtest". */
  rest: string;
}

/** Entry kinds, longest first so "TABLE DATA" wins over "TABLE". */
const DESCS = [
  'ACCESS METHOD',
  'ACL',
  'AGGREGATE',
  'BLOB',
  'BLOB METADATA',
  'BLOBS',
  'CAST',
  'CHECK CONSTRAINT',
  'COLLATION',
  'COMMENT',
  'CONSTRAINT',
  'CONVERSION',
  'DATABASE',
  'DATABASE PROPERTIES',
  'DEFAULT',
  'DEFAULT ACL',
  'DOMAIN',
  'ENCODING',
  'EVENT TRIGGER',
  'EXTENSION',
  'FK CONSTRAINT',
  'FOREIGN DATA WRAPPER',
  'FOREIGN TABLE',
  'FUNCTION',
  'INDEX',
  'INDEX ATTACH',
  'LARGE OBJECT',
  'MATERIALIZED VIEW',
  'MATERIALIZED VIEW DATA',
  'OPERATOR',
  'OPERATOR CLASS',
  'OPERATOR FAMILY',
  'POLICY',
  'PROCEDURAL LANGUAGE',
  'PROCEDURE',
  'PUBLICATION',
  'PUBLICATION TABLE',
  'PUBLICATION TABLES IN SCHEMA',
  'ROW SECURITY',
  'RULE',
  'SCHEMA',
  'SEARCHPATH',
  'SECURITY LABEL',
  'SEQUENCE',
  'SEQUENCE OWNED BY',
  'SEQUENCE SET',
  'SERVER',
  'SHELL TYPE',
  'STATISTICS',
  'STDSTRINGS',
  'SUBSCRIPTION',
  'TABLE',
  'TABLE ATTACH',
  'TABLE DATA',
  'TEXT SEARCH CONFIGURATION',
  'TEXT SEARCH DICTIONARY',
  'TEXT SEARCH PARSER',
  'TEXT SEARCH TEMPLATE',
  'TRANSFORM',
  'TRIGGER',
  'TYPE',
  'USER MAPPING',
  'VIEW',
].sort((a, b) => b.length - a.length);

/**
 * Parses `pg_restore -l` output; comment lines (";") are skipped. Names are printed unquoted,
 * so a schema name with a space is found by matching the archive's own SCHEMA entries.
 */
export function parseToc(listing: string): TocEntry[] {
  const raw: { line: string; id: number; desc: string; after: string }[] = [];
  for (const line of listing.split('\n')) {
    const m = /^(\d+); \d+ \d+ (.*)$/.exec(line);
    if (!m) continue;
    const desc = DESCS.find((d) => m[2].startsWith(`${d} `));
    if (desc) raw.push({ line, id: Number(m[1]), desc, after: m[2].slice(desc.length + 1) });
  }
  const schemas = raw
    .filter((r) => r.desc === 'SCHEMA' && r.after.startsWith('- '))
    .map((r) => {
      const words = r.after.slice(2).trimEnd().split(' ');
      return words.length > 1 ? words.slice(0, -1).join(' ') : words[0];
    })
    .filter((name) => name.includes(' '))
    .sort((a, b) => b.length - a.length);
  return raw.map(({ line, id, desc, after }) => {
    const known = schemas.find((sch) => after.startsWith(`${sch} `));
    const space = known ? known.length : after.indexOf(' ');
    const schema = space < 0 ? after : after.slice(0, space);
    const rest = space < 0 ? '' : after.slice(space + 1);
    return { line, id, desc, schema, rest };
  });
}

/** "TABLE DATA public.accounts", for listings: the tag without its trailing owner. */
export function describeEntry(e: TocEntry): string {
  const words = e.rest.trimEnd().split(' ');
  const tag = words.length > 1 ? words.slice(0, -1).join(' ') : (words[0] ?? '');
  return e.schema === '-' ? `${e.desc} ${tag}` : `${e.desc} ${e.schema}.${tag}`;
}

export interface Selection {
  /** "schema.table" names. */
  tables: string[];
  schemas: string[];
  /** "schema.object" -> table, for indexes and owned sequences (snapshot meta). */
  owned: Record<string, string>;
}

/**
 * Entries of a partial restore: for each chosen table its definition, data and what hangs
 * on it (indexes, constraints, triggers, defaults, policies, owned sequences and their
 * values, comments, privileges); for each chosen schema everything in it and the schema.
 */
export function selectEntries(entries: TocEntry[], sel: Selection): TocEntry[] {
  const bySchema = new Map<string, Set<string>>();
  const names = (schema: string) => {
    let set = bySchema.get(schema);
    if (!set) {
      set = new Set();
      bySchema.set(schema, set);
    }
    return set;
  };
  for (const t of sel.tables) {
    const [schema, table] = splitName(t);
    names(schema).add(table);
    for (const [obj, owner] of Object.entries(sel.owned)) {
      const [s, o] = splitName(obj);
      if (s === schema && owner === table) names(schema).add(o);
    }
  }
  const schemas = new Set(sel.schemas);
  return entries.filter((e) => {
    if (schemas.has(e.schema)) return true;
    if (e.schema === '-' && e.desc === 'SCHEMA' && schemas.has(tagOf(e))) return true;
    if (e.schema === '-' && (e.desc === 'COMMENT' || e.desc === 'ACL')) {
      for (const s of schemas) if (e.rest.startsWith(`SCHEMA ${s} `) || e.rest === `SCHEMA ${s}`) return true;
    }
    const set = bySchema.get(e.schema);
    if (!set) return false;
    for (const n of set) {
      if (e.rest.startsWith(`${n} `) || e.rest === n) return true;
      if (e.desc === 'COMMENT' || e.desc === 'ACL' || e.desc === 'SECURITY LABEL') {
        for (const kind of RELATION_KINDS) if (e.rest.startsWith(`${kind} ${n} `)) return true;
        if (e.rest.startsWith(`COLUMN ${n}.`)) return true;
      }
    }
    return false;
  });
}

/** How COMMENT, ACL and SECURITY LABEL entries name a relation: "TABLE accounts", "VIEW totals". */
const RELATION_KINDS = ['TABLE', 'SEQUENCE', 'VIEW', 'MATERIALIZED VIEW', 'FOREIGN TABLE'];

/**
 * An object of the target that depends on a table a restore replaces (see
 * postgres-dependents), named as the archive's table of contents names it.
 */
export interface Dependent {
  /** As the target describes it, for messages: "view public.recent_orders". */
  what: string;
  /** The table it depends on, "schema.table". */
  on: string;
  /**
   * relation: a view or materialized view; routine: a function, procedure or aggregate;
   * table part: a foreign key, trigger, policy or rule of another table; other: what cannot
   * be dropped and re-created on its own (another table, a column default, a domain, ...).
   */
  kind: 'relation' | 'routine' | 'table part' | 'other';
  schema: string;
  /** The relation's name, the routine's signature ("total(public.orders)"), or the part's name. */
  name: string;
  /** Routines and table parts: the entry kind ("FUNCTION", "FK CONSTRAINT", "TRIGGER", ...). */
  desc?: string;
  /** Table parts: the table they belong to. */
  table?: string;
}

/**
 * The entries that re-create the dependents (with their comments, privileges, and for views
 * what hangs on them), and the dependents the archive does not hold.
 */
export function dependentEntries(
  entries: TocEntry[],
  deps: Dependent[],
  owned: Record<string, string>,
): { entries: TocEntry[]; missing: Dependent[] } {
  const picked = new Set<TocEntry>();
  const missing: Dependent[] = [];
  for (const d of deps) {
    const found = entriesOf(entries, d, owned);
    if (found.length === 0) missing.push(d);
    for (const e of found) picked.add(e);
  }
  return { entries: entries.filter((e) => picked.has(e)), missing };
}

function entriesOf(entries: TocEntry[], d: Dependent, owned: Record<string, string>): TocEntry[] {
  const inSchema = entries.filter((e) => e.schema === d.schema);
  if (d.kind === 'relation') {
    const main = inSchema.some(
      (e) => (e.desc === 'VIEW' || e.desc === 'MATERIALIZED VIEW') && tagOf(e) === d.name,
    );
    return main ? selectEntries(entries, { tables: [`${d.schema}.${d.name}`], schemas: [], owned }) : [];
  }
  if (d.kind === 'routine') {
    const main = inSchema.filter((e) => e.desc === d.desc && tagOf(e) === d.name);
    if (main.length === 0) return [];
    const about = inSchema.filter((e) => isAnnotation(e) && e.rest.startsWith(`${d.desc} ${d.name} `));
    return [...main, ...about];
  }
  if (d.kind === 'table part') {
    const main = inSchema.filter((e) => e.desc === d.desc && tagOf(e) === `${d.table} ${d.name}`);
    if (main.length === 0) return [];
    const word = d.desc === 'FK CONSTRAINT' ? 'CONSTRAINT' : d.desc;
    const about = inSchema.filter(
      (e) => isAnnotation(e) && e.rest.startsWith(`${word} ${d.name} ON ${d.table} `),
    );
    return [...main, ...about];
  }
  return [];
}

function isAnnotation(e: TocEntry): boolean {
  return e.desc === 'COMMENT' || e.desc === 'ACL' || e.desc === 'SECURITY LABEL';
}

function tagOf(e: TocEntry): string {
  const words = e.rest.trimEnd().split(' ');
  return words.length > 1 ? words.slice(0, -1).join(' ') : (words[0] ?? '');
}

/** "schema.table" -> [schema, table]; a bare name is in "public". */
export function splitName(name: string): [string, string] {
  const dot = name.indexOf('.');
  return dot < 0 ? ['public', name] : [name.slice(0, dot), name.slice(dot + 1)];
}

/** Kinds a table's definition may need that a partial restore brings along when the target lacks them. */
const SUPPORT = new Set(['SCHEMA', 'EXTENSION', 'TYPE', 'DOMAIN', 'SHELL TYPE', 'COLLATION']);

/**
 * The key by which `missingSupport` compares an entry with the target: "SCHEMA sales",
 * "TYPE public.mood". Undefined for other kinds.
 */
export function supportKey(e: TocEntry): string | undefined {
  if (!SUPPORT.has(e.desc)) return undefined;
  const tag = tagOf(e);
  if (e.desc === 'SCHEMA' || e.desc === 'EXTENSION') return `${e.desc} ${tag}`;
  return `TYPE ${e.schema}.${tag}`;
}

/**
 * Schemas, extensions, types and domains of the archive that the target does not have
 * (`present` holds their supportKey), so that a table restored into another database finds
 * the types of its columns.
 */
export function missingSupport(entries: TocEntry[], present: Set<string>): TocEntry[] {
  return entries.filter((e) => {
    const key = supportKey(e);
    return key !== undefined && !present.has(key);
  });
}
