/**
 * @module test/postgres/postgres-table-restore
 * `restore --table T` into a live database where a view (and a view on it), a materialized
 * view with an index, functions of T's row type, and another table's foreign key and policy
 * depend on T, through the real CLI against a
 * throwaway server: `--data-only` replaces T's rows in one transaction and leaves every
 * dependent as it was (same OIDs); the replace mode drops and re-creates them from the
 * snapshot; a dependent the snapshot does not hold makes it refuse before any change.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { sql, writeConfig } from './pg-helpers.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED postgres table restores: ${unavailable}`);

const SCHEMA = `
CREATE TABLE orders (id serial PRIMARY KEY, amount numeric NOT NULL CHECK (amount >= 0), note text);
CREATE TABLE order_items (id serial PRIMARY KEY, order_id int NOT NULL REFERENCES orders (id), qty int);
CREATE TABLE audit (id serial PRIMARY KEY, what text);
CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit (what) VALUES ('order ' || NEW.id); RETURN NEW; END $$;
CREATE TRIGGER orders_log AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();
CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 50;
CREATE VIEW biggest_orders AS SELECT id FROM big_orders WHERE amount > 90;
CREATE FUNCTION order_total(o orders) RETURNS numeric LANGUAGE sql AS 'SELECT o.amount * 2';
CREATE FUNCTION all_orders() RETURNS SETOF orders LANGUAGE sql BEGIN ATOMIC SELECT * FROM orders; END;
COMMENT ON VIEW big_orders IS 'orders over 50';
ALTER TABLE order_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_of_orders ON order_items USING (order_id IN (SELECT id FROM orders));
INSERT INTO orders (amount, note) SELECT g, 'order ' || g FROM generate_series(1, 100) g;
INSERT INTO order_items (order_id, qty) SELECT 1 + g % 100, g FROM generate_series(1, 300) g;
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events SELECT g, DATE '2024-01-01' + g FROM generate_series(1, 50) g;
-- After the rows: a restore re-creates it with its data as of then (REFRESH).
CREATE MATERIALIZED VIEW order_sums AS SELECT count(*) AS n, sum(amount) AS total FROM orders;
CREATE UNIQUE INDEX order_sums_n ON order_sums (n);
`;

/** A table's rows as one md5, in a stable order. */
async function checksum(url: string, table: string): Promise<string> {
  const [r] = await sql<{ d: string; n: string }>(
    url,
    `SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) AS d, count(*) AS n FROM ${table} x`,
  );
  return `${r.n} rows ${r.d}`;
}

/** Each dependent's OID and definition: equal OIDs mean untouched, equal definitions the same object. */
async function dependents(url: string): Promise<Record<string, string>> {
  const rows = await sql<{ k: string; v: string }>(
    url,
    `SELECT 'view ' || c.relname AS k, c.oid || ' ' || pg_get_viewdef(c.oid) AS v FROM pg_class c
      WHERE c.relname IN ('big_orders', 'biggest_orders')
     UNION ALL SELECT 'function ' || p.proname, p.oid || ' ' || pg_get_functiondef(p.oid) FROM pg_proc p
      WHERE p.proname IN ('order_total', 'all_orders')
     UNION ALL SELECT 'fk ' || conname, oid || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
      WHERE conname = 'order_items_order_id_fkey'
     UNION ALL SELECT 'matview', c.oid || ' ' || pg_get_viewdef(c.oid) || (SELECT string_agg(indexdef, ';') FROM pg_indexes
      WHERE tablename = 'order_sums') || (SELECT n || ' ' || total FROM order_sums) FROM pg_class c WHERE c.relname = 'order_sums'
     UNION ALL SELECT 'policy ' || polname, p.oid || ' ' || pg_get_expr(polqual, polrelid) FROM pg_policy p
     UNION ALL SELECT 'comment', coalesce(obj_description('big_orders'::regclass, 'pg_class'), 'none')`,
  );
  return Object.fromEntries(rows.map((r) => [r.k, r.v]));
}

/** The same without the OIDs. */
function definitions(deps: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, String(v).replace(/^\d+ /, '')]));
}

describe('postgres restore --table with dependent objects', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let config: string;
  let url: string;
  let snapOrders: string;
  let snapItems: string;
  let snapDeps: Record<string, string>;

  async function cli(args: string[]): Promise<CliResult> {
    return runCli(['--config', config, ...args], env, { cwd: dir });
  }
  async function ok(args: string[]): Promise<CliResult> {
    const r = await cli(args);
    assert.equal(
      r.code,
      0,
      `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
    return r;
  }
  const restore = (...extra: string[]) => [
    'restore',
    'latest',
    '--source',
    'shop',
    '--table',
    'orders',
    ...extra,
  ];

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-pg-table-'));
    server = await startPostgres();
    await sql(server.url, 'CREATE DATABASE shop');
    url = server.urlFor('shop');
    await sql(url, SCHEMA);
    snapOrders = await checksum(url, 'orders');
    snapItems = await checksum(url, 'order_items');
    snapDeps = await dependents(url);
    env = repoEnv(join(dir, 'repo'));
    config = await writeConfig(dir, { shop: { type: 'postgres', url } });
    await ok(['init']);
    await ok(['backup', 'shop']);
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('--data-only replaces the rows in one transaction and leaves the dependents untouched', async () => {
    // The damage: rows deleted, changed and added; the sequence moves on past the snapshot.
    await sql(
      url,
      "DELETE FROM order_items WHERE order_id > 80; DELETE FROM orders WHERE id > 80; UPDATE orders SET note = 'changed' WHERE id < 10",
    );
    await sql(url, 'INSERT INTO orders (amount) VALUES (1), (2)');
    const [{ n: auditBefore }] = await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM audit');
    const [{ v: seqBefore }] = await sql<{ v: string }>(url, 'SELECT last_value AS v FROM orders_id_seq');
    const refused = await cli(restore('--data-only'));
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /not empty: it has public\.orders .*--overwrite/);

    const r = await ok(restore('--data-only', '--overwrite'));
    assert.match(r.stdout, /restored snapshot [0-9a-f]{8} \(shop\/shop\)/);
    assert.equal(await checksum(url, 'orders'), snapOrders);
    assert.deepEqual(
      await dependents(url),
      snapDeps,
      'views, functions and the foreign key are the same objects',
    );
    // No trigger fired while the rows went in; the sequence did not go back.
    const [{ n: auditAfter }] = await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM audit');
    assert.equal(auditAfter, auditBefore);
    const [{ v: seqAfter }] = await sql<{ v: string }>(url, 'SELECT last_value AS v FROM orders_id_seq');
    assert.equal(seqAfter, seqBefore);
    const [{ id }] = await sql<{ id: number }>(url, 'INSERT INTO orders (amount) VALUES (3) RETURNING id');
    assert.equal(id, Number(seqBefore) + 1);
    await sql(url, `DELETE FROM orders WHERE id = ${id}`);
  });

  it('--data-only leaves the table as it was when a row violates a constraint midway', async () => {
    await sql(url, "UPDATE orders SET note = 'live' WHERE id = 5");
    const live = await checksum(url, 'orders');
    // A check added after the backup that some of the snapshot's rows break.
    await sql(url, 'ALTER TABLE orders ADD CONSTRAINT small CHECK (amount < 60) NOT VALID');
    const failed = await cli(restore('--data-only', '--overwrite'));
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /violates check constraint "small"/);
    assert.match(failed.stderr, /one transaction, so the target is unchanged/);
    assert.equal(await checksum(url, 'orders'), live);
    await sql(url, 'ALTER TABLE orders DROP CONSTRAINT small');

    // Another table refers to an order the snapshot does not hold: the foreign key check fails.
    await sql(
      url,
      'INSERT INTO orders (id, amount) VALUES (500, 1); INSERT INTO order_items (order_id, qty) VALUES (500, 1)',
    );
    const live2 = await checksum(url, 'orders');
    const fk = await cli(restore('--data-only', '--overwrite'));
    assert.equal(fk.code, 1, fk.stderr);
    assert.match(
      fk.stderr,
      /foreign key order_items_order_id_fkey of public\.order_items: key \(order_id\)=\(500\) is not present in public\.orders/,
    );
    assert.equal(await checksum(url, 'orders'), live2);
    await sql(url, 'DELETE FROM order_items WHERE order_id = 500; DELETE FROM orders WHERE id = 500');

    // A role that may write the table but not keep its triggers quiet: refused, with what it needs.
    await sql(
      url,
      "CREATE ROLE clerk LOGIN PASSWORD 'clerk-pw'; GRANT ALL ON ALL TABLES IN SCHEMA public TO clerk",
    );
    const live3 = await checksum(url, 'orders');
    const to = `postgres://clerk:clerk-pw@127.0.0.1:${server.port}/shop`;
    const denied = await cli([...restore('--data-only', '--overwrite'), '--to', to]);
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stderr, /permission denied to set parameter "session_replication_role"/);
    assert.match(denied.stderr, /needs a superuser or GRANT SET ON PARAMETER session_replication_role/);
    assert.ok(!denied.stderr.includes('clerk-pw'));
    assert.equal(await checksum(url, 'orders'), live3);
  });

  it('replaces the table and drops and re-creates the views, functions, foreign key and policy the snapshot holds', async () => {
    await sql(
      url,
      'UPDATE orders SET amount = amount + 1 WHERE id % 3 = 0; INSERT INTO order_items (order_id, qty) VALUES (7, 1)',
    );
    const before = await dependents(url);
    const dry = await ok(restore('--overwrite', '--dry-run'));
    assert.match(dry.stdout, /^VIEW public\.biggest_orders$/m);
    assert.match(dry.stdout, /^FUNCTION public\.order_total\(public\.orders\)$/m);
    assert.match(dry.stdout, /^FK CONSTRAINT public\.order_items order_items_order_id_fkey$/m);
    assert.match(
      dry.stdout,
      /^view public\.big_orders: dropped and re-created from the snapshot \(it depends on public\.orders\)$/m,
    );

    const r = await ok(restore('--overwrite'));
    assert.match(r.stdout, /restored snapshot/);
    assert.equal(await checksum(url, 'orders'), snapOrders);
    const after = await dependents(url);
    assert.deepEqual(definitions(after), definitions(snapDeps));
    for (const k of Object.keys(after).filter((k) => k !== 'comment')) {
      assert.notEqual(after[k], before[k], `${k} was re-created`);
    }
    // The other table kept its rows, and its foreign key holds again.
    assert.notEqual(await checksum(url, 'order_items'), snapItems);
    await assert.rejects(sql(url, 'INSERT INTO order_items (order_id, qty) VALUES (9999, 1)'), /foreign key/);
  });

  it('refuses, naming it, a dependent the snapshot does not hold, and changes nothing', async () => {
    await sql(url, 'CREATE VIEW recent_orders AS SELECT * FROM orders WHERE id > 90');
    await sql(url, "UPDATE orders SET note = 'after the backup' WHERE id = 1");
    const live = await checksum(url, 'orders');
    const deps = await dependents(url);
    const r = await cli(restore('--overwrite'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /view public\.recent_orders depends on public\.orders and is not in the snapshot \(use --data-only to replace only the rows, or drop it first; 127\.0\.0\.1:\d+\/shop was not changed\)/,
    );
    assert.equal(await checksum(url, 'orders'), live);
    assert.deepEqual(await dependents(url), deps);
    assert.equal((await sql(url, "SELECT 1 FROM pg_views WHERE viewname = 'recent_orders'")).length, 1);
    // The dry run refuses the same way; --data-only goes ahead, the new view kept.
    assert.equal((await cli(restore('--overwrite', '--dry-run'))).code, 1);
    await ok(restore('--data-only', '--overwrite'));
    assert.equal(await checksum(url, 'orders'), snapOrders);
    assert.equal((await sql(url, "SELECT 1 FROM pg_views WHERE viewname = 'recent_orders'")).length, 1);
  });

  it('--data-only needs tables that exist, --table or --schema, and a PostgreSQL database snapshot', async () => {
    const noTable = await cli([
      'restore',
      'latest',
      '--source',
      'shop',
      '--to',
      server.urlFor('fresh'),
      '--data-only',
    ]);
    assert.equal(noTable.code, 2, noTable.stderr);
    assert.match(
      noTable.stderr,
      /--data-only replaces the rows of chosen tables: name them with --table or --schema/,
    );
    const missing = await cli([...restore('--data-only'), '--to', server.urlFor('fresh')]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(
      missing.stderr,
      /does not hold public\.orders \(restore without --data-only to create them\)/,
    );
    // A partitioned table: its rows are its partitions'; replacing it would take them along.
    const parted = await cli([
      'restore',
      'latest',
      '--source',
      'shop',
      '--table',
      'events',
      '--data-only',
      '--overwrite',
    ]);
    assert.equal(parted.code, 2, parted.stderr);
    assert.match(
      parted.stderr,
      /no rows of public\.events of their own \(a partitioned table: name its partitions with --table\)/,
    );
    const whole = await cli(['restore', 'latest', '--source', 'shop', '--table', 'events', '--overwrite']);
    assert.equal(whole.code, 1, whole.stderr);
    assert.match(
      whole.stderr,
      /table public\.events_2024 depends on public\.events and cannot be dropped and re-created on its own/,
    );
    const snapEvents = await checksum(url, 'events_2024');
    await sql(url, 'DELETE FROM events WHERE id < 10');
    await ok([
      'restore',
      'latest',
      '--source',
      'shop',
      '--table',
      'events_2024',
      '--data-only',
      '--overwrite',
    ]);
    assert.equal(await checksum(url, 'events_2024'), snapEvents);
    const db = new Database(join(dir, 'app.db'));
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)');
    db.close();
    await writeConfig(dir, {
      shop: { type: 'postgres', url },
      app: { type: 'sqlite', path: join(dir, 'app.db') },
    });
    await ok(['backup', 'app']);
    const sqlite = await cli([
      'restore',
      'latest',
      '--source',
      'app',
      '--table',
      't',
      '--data-only',
      '--to',
      join(dir, 'x.db'),
    ]);
    assert.equal(sqlite.code, 2, sqlite.stderr);
    assert.match(
      sqlite.stderr,
      /\[restore\] --data-only applies to PostgreSQL database snapshots, not to app \(sqlite, logical\)/,
    );
  });
});
