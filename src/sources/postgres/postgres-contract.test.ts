/**
 * The postgres engine (logical) through the shared source contract (testing/source-contract),
 * against a throwaway cluster: the database "shop" backed up, restored into new databases.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { type PostgresServer, postgresUnavailable, startPostgres } from '../../testing/servers/postgres.js';
import { runSourceContract } from '../../testing/source-contract.js';

async function sql(url: string, text: string): Promise<unknown[][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query({ text, rowMode: 'array' })).rows as unknown[][];
  } finally {
    await client.end();
  }
}

/** "schema.table" → digest of its rows, for every user table; "missing" without the database. */
async function tables(server: PostgresServer, database: string): Promise<Record<string, string>> {
  const exists = await sql(server.url, `SELECT 1 FROM pg_database WHERE datname = '${database}'`);
  if (exists.length === 0) return { missing: '' };
  const url = server.urlFor(database);
  const names = await sql(
    url,
    "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
  );
  const out: Record<string, string> = {};
  for (const [name] of names as [string][]) {
    const [schema, table] = name.split('.');
    const rows = await sql(url, `SELECT * FROM "${schema}"."${table}" ORDER BY 1`);
    out[name] = createHash('sha256').update(JSON.stringify(rows)).digest('hex');
  }
  return out;
}

runSourceContract(
  'postgres',
  async (defer) => {
    const server = await startPostgres();
    defer(() => server.stop());
    await sql(server.url, 'CREATE DATABASE shop');
    const shop = server.urlFor('shop');
    await sql(
      shop,
      `CREATE TABLE customers (id serial PRIMARY KEY, name text);
       INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 300) g;
       CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers, total numeric);
       INSERT INTO orders (customer, total) SELECT g, g * 1.5 FROM generate_series(1, 100) g;
       CREATE SCHEMA sales;
       CREATE TABLE sales.audit (id serial PRIMARY KEY, note text);
       INSERT INTO sales.audit (note) SELECT 'note ' || g FROM generate_series(1, 40) g;`,
    );
    let n = 0;
    const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));
    return {
      config: { type: 'postgres', url: shop },
      target: async () => server.urlFor(`restored_${n++}`),
      digest: async (target) => JSON.stringify(await tables(server, target ? databaseOf(target) : 'shop')),
      scopes: {
        tables: {
          options: { tables: ['customers'] },
          check: async (to) => {
            const got = await tables(server, databaseOf(to));
            assert.deepEqual(Object.keys(got), ['public.customers']);
            assert.equal(got['public.customers'], (await tables(server, 'shop'))['public.customers']);
          },
        },
        schemas: {
          options: { schemas: ['sales'] },
          check: async (to) => {
            const got = await tables(server, databaseOf(to));
            assert.deepEqual(got, { 'sales.audit': (await tables(server, 'shop'))['sales.audit'] });
          },
        },
      },
      checkDump: async (file) => {
        const { readFile } = await import('node:fs/promises');
        // A pg_dump custom-format archive.
        assert.equal((await readFile(file)).subarray(0, 5).toString(), 'PGDMP');
      },
    };
  },
  { skip: postgresUnavailable() ?? undefined },
);
