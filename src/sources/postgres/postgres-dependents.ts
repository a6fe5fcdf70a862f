/**
 * @module sources/postgres/postgres-dependents
 * What in a live database depends on tables a restore is about to drop and re-create: views
 * (and views on them), functions taking or returning their row type, foreign keys, triggers,
 * policies and rules of other tables, found through pg_depend, the same graph DROP ... CASCADE
 * follows. The restore then re-creates from the snapshot what the snapshot holds, and refuses,
 * before changing anything, when something would be lost.
 */
import { type PgClient, query } from './postgres-catalog.js';
import type { Dependent } from './postgres-toc.js';

interface Row {
  root: string;
  what: string;
  kind: string;
  schema: string | null;
  name: string | null;
  tbl: string | null;
  rel: string | null;
  own: boolean;
}

/**
 * Walks pg_depend from the tables: what depends on them (normal, automatic or internal), and
 * for an object internal to another (a view's _RETURN rule, an index of a constraint) that
 * owner too, so a view found through its rule is followed to the views built on it. Each
 * object comes with the relation it belongs to (`rel`) and whether that is one of the tables.
 */
const DEPENDENTS_SQL = `
WITH RECURSIVE roots AS (
  SELECT c.oid, n.nspname || '.' || c.relname AS root
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN unnest($1::text[], $2::text[]) AS w(s, t) ON w.s = n.nspname AND w.t = c.relname
), closure(classid, objid, root) AS (
  SELECT 'pg_class'::regclass::oid, oid, root FROM roots
  UNION
  SELECT CASE WHEN d.refclassid = p.classid AND d.refobjid = p.objid THEN d.classid ELSE d.refclassid END,
         CASE WHEN d.refclassid = p.classid AND d.refobjid = p.objid THEN d.objid ELSE d.refobjid END,
         p.root
    FROM closure p JOIN pg_depend d
      ON (d.refclassid = p.classid AND d.refobjid = p.objid AND d.deptype IN ('n', 'a', 'i'))
      OR (d.classid = p.classid AND d.objid = p.objid AND d.deptype = 'i')
), objects AS (
  SELECT classid, objid, min(root) AS root FROM closure GROUP BY classid, objid
), described AS (
  SELECT o.root, pg_describe_object(o.classid, o.objid, 0) AS what,
    CASE o.classid
      WHEN 'pg_class'::regclass THEN CASE WHEN r.relnamespace = 'pg_toast'::regnamespace THEN 'INTERNAL' ELSE CASE r.relkind
        WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 't' THEN 'INTERNAL'
        WHEN 'i' THEN 'INDEX' WHEN 'I' THEN 'INDEX' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END END
      WHEN 'pg_proc'::regclass THEN CASE pr.prokind
        WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END
      WHEN 'pg_constraint'::regclass THEN CASE co.contype WHEN 'f' THEN 'FK CONSTRAINT' ELSE 'CONSTRAINT' END
      WHEN 'pg_trigger'::regclass THEN CASE WHEN tg.tgisinternal THEN 'INTERNAL' ELSE 'TRIGGER' END
      WHEN 'pg_policy'::regclass THEN 'POLICY'
      WHEN 'pg_rewrite'::regclass THEN CASE rw.rulename WHEN '_RETURN' THEN 'INTERNAL' ELSE 'RULE' END
      WHEN 'pg_type'::regclass THEN
        CASE WHEN ty.typrelid <> 0 OR coalesce(el.typrelid, 0) <> 0 THEN 'INTERNAL' ELSE 'OTHER' END
      ELSE 'OTHER' END AS kind,
    CASE o.classid
      WHEN 'pg_class'::regclass THEN coalesce(ix.indrelid, seq.refobjid, toast.oid, o.objid)
      WHEN 'pg_type'::regclass THEN coalesce(nullif(ty.typrelid, 0), nullif(el.typrelid, 0))
      WHEN 'pg_constraint'::regclass THEN nullif(co.conrelid, 0)
      WHEN 'pg_trigger'::regclass THEN tg.tgrelid
      WHEN 'pg_policy'::regclass THEN po.polrelid
      WHEN 'pg_rewrite'::regclass THEN rw.ev_class
      WHEN 'pg_attrdef'::regclass THEN ad.adrelid
      WHEN 'pg_statistic_ext'::regclass THEN sx.stxrelid
    END AS rel,
    CASE o.classid WHEN 'pg_proc'::regclass THEN pn.nspname ELSE rn.nspname END AS rel_schema,
    CASE o.classid
      WHEN 'pg_proc'::regclass THEN pr.proname || '(' || coalesce(array_to_string(array(
        SELECT format_type(a.t, NULL) FROM unnest(pr.proargtypes::oid[]) WITH ORDINALITY a(t, i) ORDER BY a.i
      ), ', '), '') || ')'
      WHEN 'pg_constraint'::regclass THEN co.conname
      WHEN 'pg_trigger'::regclass THEN tg.tgname
      WHEN 'pg_policy'::regclass THEN po.polname
      WHEN 'pg_rewrite'::regclass THEN rw.rulename
      ELSE NULL END AS part
  FROM objects o
  LEFT JOIN pg_class r ON o.classid = 'pg_class'::regclass AND r.oid = o.objid
  LEFT JOIN pg_index ix ON o.classid = 'pg_class'::regclass AND ix.indexrelid = o.objid
  LEFT JOIN pg_depend seq ON o.classid = 'pg_class'::regclass AND r.relkind = 'S'
    AND seq.classid = 'pg_class'::regclass AND seq.objid = o.objid
    AND seq.refclassid = 'pg_class'::regclass AND seq.deptype IN ('a', 'i')
  LEFT JOIN pg_class toast ON r.relkind = 't' AND toast.reltoastrelid = o.objid
  LEFT JOIN pg_proc pr ON o.classid = 'pg_proc'::regclass AND pr.oid = o.objid
  LEFT JOIN pg_namespace pn ON pn.oid = pr.pronamespace
  LEFT JOIN pg_constraint co ON o.classid = 'pg_constraint'::regclass AND co.oid = o.objid
  LEFT JOIN pg_trigger tg ON o.classid = 'pg_trigger'::regclass AND tg.oid = o.objid
  LEFT JOIN pg_policy po ON o.classid = 'pg_policy'::regclass AND po.oid = o.objid
  LEFT JOIN pg_rewrite rw ON o.classid = 'pg_rewrite'::regclass AND rw.oid = o.objid
  LEFT JOIN pg_attrdef ad ON o.classid = 'pg_attrdef'::regclass AND ad.oid = o.objid
  LEFT JOIN pg_statistic_ext sx ON o.classid = 'pg_statistic_ext'::regclass AND sx.oid = o.objid
  LEFT JOIN pg_type ty ON o.classid = 'pg_type'::regclass AND ty.oid = o.objid
  LEFT JOIN pg_type el ON el.oid = ty.typelem AND ty.typcategory = 'A'
  LEFT JOIN pg_class owner ON owner.oid = CASE o.classid
      WHEN 'pg_class'::regclass THEN coalesce(ix.indrelid, seq.refobjid, toast.oid, o.objid)
      WHEN 'pg_constraint'::regclass THEN co.conrelid WHEN 'pg_trigger'::regclass THEN tg.tgrelid
      WHEN 'pg_policy'::regclass THEN po.polrelid WHEN 'pg_rewrite'::regclass THEN rw.ev_class
      WHEN 'pg_attrdef'::regclass THEN ad.adrelid END
  LEFT JOIN pg_namespace rn ON rn.oid = owner.relnamespace
  WHERE NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = o.classid AND e.objid = o.objid AND e.deptype = 'e')
)
SELECT d.root, d.what, d.kind, d.rel_schema AS schema,
       CASE WHEN d.kind IN ('VIEW', 'MATERIALIZED VIEW', 'TABLE') THEN c.relname ELSE d.part END AS name,
       c.relname AS tbl, d.rel::text AS rel, d.rel IN (SELECT oid FROM roots) AS own
  FROM described d LEFT JOIN pg_class c ON c.oid = d.rel
 ORDER BY d.root, d.what`;

/**
 * The objects outside `tables` ("schema.table", present in the database) that depend on
 * them, as the snapshot's table of contents would name them. Parts of the tables themselves
 * (indexes, constraints, triggers, owned sequences, row types) are left out: the partial
 * restore brings those along.
 */
export async function dependentsOf(client: PgClient, tables: string[]): Promise<Dependent[]> {
  if (tables.length === 0) return [];
  const split = tables.map((t) => {
    const dot = t.indexOf('.');
    return [t.slice(0, dot), t.slice(dot + 1)];
  });
  // Without a search path, names come schema-qualified, as pg_dump prints them.
  await query(client, "SELECT pg_catalog.set_config('search_path', '', false)", [], 'clearing search_path');
  const rows = await query<Row>(
    client,
    DEPENDENTS_SQL,
    [split.map((s) => s[0]), split.map((s) => s[1])],
    'listing what depends on the tables',
  );
  const live = rows.filter((r) => !r.own && r.kind !== 'INTERNAL');
  // Views found: what belongs to them (their rules, indexes, triggers) comes back with them.
  const relations = new Set(
    live.filter((r) => r.kind === 'VIEW' || r.kind === 'MATERIALIZED VIEW').map((r) => r.rel),
  );
  const out: Dependent[] = [];
  for (const r of live) {
    const base = { what: r.what, on: r.root, schema: r.schema ?? '', name: r.name ?? '' };
    if (r.kind === 'VIEW' || r.kind === 'MATERIALIZED VIEW') out.push({ ...base, kind: 'relation' });
    else if (r.kind === 'FUNCTION' || r.kind === 'PROCEDURE' || r.kind === 'AGGREGATE') {
      out.push({ ...base, kind: 'routine', desc: r.kind });
    } else if (r.rel !== null && relations.has(r.rel)) {
      // part of a dependent view
    } else if (['FK CONSTRAINT', 'TRIGGER', 'POLICY', 'RULE'].includes(r.kind)) {
      out.push({ ...base, kind: 'table part', desc: r.kind, table: r.tbl ?? '' });
    } else out.push({ ...base, kind: 'other' });
  }
  return out;
}
