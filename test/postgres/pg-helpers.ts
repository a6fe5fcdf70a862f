/**
 * @module test/postgres/pg-helpers
 * What the PostgreSQL suites share: SQL against a test server, a config file for the CLI,
 * and the data comparison (a digest per table, sequences' values, large objects' content).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';

/** Runs SQL (one or several statements) and returns the last result's rows. */
export async function sql<T = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    const r = await client.query(text, params);
    const last = Array.isArray(r) ? r[r.length - 1] : r;
    return last.rows as T[];
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The data of a database, comparable between source and restore: per table an md5 of all
 * rows in text form, sorted; each sequence's last_value and is_called; each large object's
 * md5; row counts.
 */
export async function databaseDigest(url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, string> = {};
    const tables = await client.query<{ s: string; t: string }>(
      `SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname !~ '^pg_toast' ORDER BY 1, 2`,
    );
    for (const { s, t } of tables.rows) {
      const q = `"${s.replace(/"/g, '""')}"."${t.replace(/"/g, '""')}"`;
      const r = await client.query<{ d: string; n: string }>(
        `SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) AS d, count(*) AS n FROM ${q} x`,
      );
      out[`table ${s}.${t}`] = `${r.rows[0].n} rows ${r.rows[0].d}`;
    }
    const seqs = await client.query<{ s: string; q: string; v: string; c: boolean }>(
      `SELECT schemaname AS s, sequencename AS q, last_value::text AS v, true AS c FROM pg_sequences ORDER BY 1, 2`,
    );
    for (const r of seqs.rows) out[`sequence ${r.s}.${r.q}`] = String(r.v);
    const los = await client.query<{ oid: string; d: string }>(
      `SELECT m.oid::text AS oid, md5(coalesce(string_agg(l.data, ''::bytea ORDER BY l.pageno), ''::bytea)) AS d
         FROM pg_largeobject_metadata m LEFT JOIN pg_largeobject l ON l.loid = m.oid GROUP BY m.oid ORDER BY 1`,
    );
    for (const r of los.rows) out[`large object ${r.oid}`] = r.d;
    return out;
  } finally {
    await client.end();
  }
}

/** Writes lifeboat.yaml in `dir` with these sources; returns its path. */
export async function writeConfig(
  dir: string,
  sources: Record<string, unknown>,
  name = 'lifeboat.yaml',
): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, stringify({ sources }));
  return path;
}

/** Command lines of every process now running (for the "password not in ps" checks). */
export async function allCommandLines(): Promise<{ pid: number; cmd: string }[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const out: { pid: number; cmd: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const raw = await readFile(`/proc/${name}/cmdline`);
      out.push({ pid: Number(name), cmd: raw.toString('utf8').split('\0').join(' ') });
    } catch {
      // gone already
    }
  }
  return out;
}
