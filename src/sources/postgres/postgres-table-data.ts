/**
 * @module sources/postgres/postgres-table-data
 * `restore --table T --data-only`: the rows of chosen tables replaced by the snapshot's in one
 * transaction, their definitions and everything that depends on them (views, functions,
 * foreign keys of other tables) left as they are. pg_restore turns the tables' data entries
 * into SQL, which psql runs between statements of ours:
 *
 *   BEGIN; replica mode (no trigger fires, no foreign key cascades); TRUNCATE, or DELETE where
 *   another table's foreign key refers to the table; COPY ...; every foreign key that touches
 *   the tables checked; owned sequences moved forward past the rows loaded, never back; COMMIT.
 *
 * COMMIT is sent only when pg_restore's script ended complete: a truncated archive, a failed
 * statement or a violated foreign key leaves the tables as they were.
 */
import { LifeboatError } from '../../errors.js';
import { type PgClient, query, quoteIdent, quoteLiteral } from './postgres-catalog.js';

interface ForeignKey {
  name: string;
  child: string;
  parent: string;
  childQ: string;
  parentQ: string;
  cols: string[];
  refcols: string[];
  validated: boolean;
}

interface OwnedSequence {
  seq: string;
  col: string;
  tbl: string;
}

/** What psql runs around pg_restore's script. */
export interface DataOnlyScript {
  before: string;
  after: string;
}

/** How pg_restore ends a complete script (newer ones add psql's \unrestrict after it). */
export const SCRIPT_COMPLETE = /-- PostgreSQL database dump complete\s*--\s*(\\unrestrict \S+\s*)?$/;

/**
 * The statements around the load, from the target's catalog. `tables` ("schema.table") must
 * exist there and hold ordinary tables (partitions, not the partitioned table).
 */
export async function dataOnlyScript(client: PgClient, tables: string[]): Promise<DataOnlyScript> {
  const rels = await query<{ name: string; q: string; kind: string }>(
    client,
    `SELECT n.nspname || '.' || c.relname AS name, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS q,
            c.relkind::text AS kind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname || '.' || c.relname = ANY($1)`,
    [tables],
    'looking up the tables',
  );
  const missing = tables.filter((t) => !rels.some((r) => r.name === t));
  if (missing.length > 0) {
    throw new LifeboatError(
      'not_found',
      `[source:postgres] --data-only replaces the rows of existing tables: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not in the target (restore without --data-only to create ${missing.length === 1 ? 'it' : 'them'})`,
    );
  }
  const notPlain = rels.filter((r) => r.kind !== 'r');
  if (notPlain.length > 0) {
    throw new LifeboatError(
      'usage',
      `[source:postgres] --data-only loads ordinary tables: ${notPlain.map((r) => r.name).join(', ')} ${notPlain.length === 1 ? 'is' : 'are'} not one (name a partitioned table's partitions with --table)`,
    );
  }
  const fks = await foreignKeys(client, tables);
  const sequences = await ownedSequences(client, tables);
  const chosen = new Set(tables);
  const quoted = new Map(rels.map((r) => [r.name, r.q]));

  // TRUNCATE refuses a table another table's foreign key refers to; those rows are deleted.
  const referenced = new Set(fks.filter((f) => !chosen.has(f.child)).map((f) => f.parent));
  const truncate = tables.filter((t) => !referenced.has(t)).map((t) => quoted.get(t));
  const remove = tables.filter((t) => referenced.has(t)).map((t) => quoted.get(t));
  const before = [
    'BEGIN;',
    'SET LOCAL session_replication_role = replica;',
    `LOCK TABLE ${tables.map((t) => `ONLY ${quoted.get(t)}`).join(', ')} IN ACCESS EXCLUSIVE MODE;`,
    ...(truncate.length > 0 ? [`TRUNCATE ONLY ${truncate.join(', ')};`] : []),
    ...remove.map((t) => `DELETE FROM ONLY ${t};`),
    '',
  ].join('\n');

  // Other tables on either side of a foreign key keep still while it is checked.
  const others = [...new Set(fks.flatMap((f) => [f.childQ, f.parentQ]))].filter(
    (q) => ![...quoted.values()].includes(q),
  );
  const after = [
    ...(others.length > 0 ? [`LOCK TABLE ${others.map((q) => `ONLY ${q}`).join(', ')} IN SHARE MODE;`] : []),
    // A NOT VALID key promises nothing about rows already there, as after pg_restore.
    ...fks.filter((f) => f.validated).map(checkForeignKey),
    ...sequences.map(
      (s) =>
        `SELECT pg_catalog.setval(${quoteLiteral(s.seq)}, m.v) FROM (SELECT max(${s.col}) AS v FROM ${s.tbl}) m, ${s.seq} s WHERE m.v > s.last_value OR (m.v = s.last_value AND NOT s.is_called);`,
    ),
    'COMMIT;',
    '',
  ].join('\n');
  return { before, after };
}

/** A DO block that raises, naming the constraint and the first key without a match. */
function checkForeignKey(f: ForeignKey): string {
  const notNull = f.cols.map((c) => `x.${c} IS NOT NULL`).join(' AND ');
  const match = f.cols.map((c, i) => `y.${f.refcols[i]} = x.${c}`).join(' AND ');
  const key = `concat_ws(', ', ${f.cols.map((c) => `x.${c}::text`).join(', ')})`;
  const message = quoteLiteral;
  return [
    'DO $lifeboat$ DECLARE bad text; BEGIN',
    `  SELECT ${key} INTO bad FROM ${f.childQ} x WHERE ${notNull}`,
    `    AND NOT EXISTS (SELECT 1 FROM ${f.parentQ} y WHERE ${match}) LIMIT 1;`,
    `  IF FOUND THEN RAISE EXCEPTION USING MESSAGE = ${message(`foreign key ${f.name} of ${f.child}: key (${f.cols.join(', ')})=(`)} || bad || ${message(`) is not present in ${f.parent}`)}; END IF;`,
    'END $lifeboat$;',
  ].join('\n');
}

async function foreignKeys(client: PgClient, tables: string[]): Promise<ForeignKey[]> {
  const cols = (key: string, rel: string) =>
    `array(SELECT quote_ident(a.attname) FROM unnest(c.${key}) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.${rel} AND a.attnum = k.n ORDER BY k.i)`;
  return query<ForeignKey>(
    client,
    `SELECT c.conname AS name, c.convalidated AS validated,
            cn.nspname || '.' || cr.relname AS child, pn.nspname || '.' || pr.relname AS parent,
            quote_ident(cn.nspname) || '.' || quote_ident(cr.relname) AS "childQ",
            quote_ident(pn.nspname) || '.' || quote_ident(pr.relname) AS "parentQ",
            ${cols('conkey', 'conrelid')} AS cols, ${cols('confkey', 'confrelid')} AS refcols
       FROM pg_constraint c
       JOIN pg_class cr ON cr.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cr.relnamespace
       JOIN pg_class pr ON pr.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pr.relnamespace
      WHERE c.contype = 'f' AND c.conparentid = 0
        AND (cn.nspname || '.' || cr.relname = ANY($1) OR pn.nspname || '.' || pr.relname = ANY($1))
      ORDER BY 1`,
    [tables],
    'listing foreign keys',
  );
}

async function ownedSequences(client: PgClient, tables: string[]): Promise<OwnedSequence[]> {
  return query<OwnedSequence>(
    client,
    `SELECT quote_ident(sn.nspname) || '.' || quote_ident(s.relname) AS seq, quote_ident(a.attname) AS col,
            quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS tbl
       FROM pg_depend d
       JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace sn ON sn.oid = s.relnamespace
       JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
        AND d.deptype IN ('a', 'i') AND tn.nspname || '.' || t.relname = ANY($1)
      ORDER BY 1`,
    [tables],
    'listing owned sequences',
  );
}

/** Those of `tables` ("schema.table") that hold rows. */
export async function tablesWithRows(client: PgClient, tables: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const t of tables) {
    const dot = t.indexOf('.');
    const name = `${quoteIdent(t.slice(0, dot))}.${quoteIdent(t.slice(dot + 1))}`;
    const rows = await query(client, `SELECT 1 FROM ${name} LIMIT 1`, [], `reading ${t}`);
    if (rows.length > 0) out.push(t);
  }
  return out;
}

/**
 * pg_restore's script between `before` and `after`; `after` (and with it COMMIT) only when the
 * script ended complete, so a pg_restore that died midway commits nothing.
 */
export async function* wrapScript(
  script: AsyncIterable<Buffer>,
  around: DataOnlyScript,
): AsyncIterable<Buffer> {
  yield Buffer.from(around.before);
  let tail = '';
  for await (const chunk of script) {
    tail = (tail + chunk.toString('latin1')).slice(-200);
    yield chunk;
  }
  if (!SCRIPT_COMPLETE.test(tail)) {
    // psql ends without COMMIT: the server rolls the transaction back.
    throw new LifeboatError(
      'source_failed',
      "[source:postgres] pg_restore's script ended before its last line, so nothing was committed (run lifeboat check --read-data)",
    );
  }
  yield Buffer.from(`\n${around.after}`);
}
