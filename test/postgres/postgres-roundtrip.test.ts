/**
 * @module test/postgres/postgres-roundtrip
 * PostgreSQL through the real CLI against a throwaway server: `databases: all` with globals
 * (one snapshot per database plus "<source>/globals"), restores into new databases compared
 * table by table (with sequences and large objects), the refusal of a non-empty target and
 * --overwrite, `lifeboat dump` read by plain pg_restore, --dry-run, --table and --schema,
 * the parallel restore (jobs: 2), and the roles restored into a second server.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { FIXTURE_SQL } from './fixture.js';
import { databaseDigest, sql, writeConfig } from './pg-helpers.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED postgres round trips: ${unavailable}`);

interface Listed {
  id: string;
  source: string;
  engine: string;
  stats: Record<string, unknown> & { rows?: Record<string, number> };
  meta: Record<string, unknown>;
  sourceConfig: Record<string, unknown>;
}

describe('postgres round trips through the CLI', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let config: string;
  let original: Record<string, string>;

  async function cli(args: string[], cfg = config): Promise<CliResult> {
    return runCli(['--config', cfg, ...args], env, { cwd: dir });
  }
  async function ok(args: string[], cfg = config): Promise<CliResult> {
    const r = await cli(args, cfg);
    assert.equal(
      r.code,
      0,
      `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
    return r;
  }
  async function snapshots(): Promise<Listed[]> {
    return JSON.parse((await ok(['snapshots', '--json'])).stdout);
  }
  async function dbExists(name: string): Promise<boolean> {
    return (await sql(server.url, 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length > 0;
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-pg-rt-'));
    server = await startPostgres();
    await sql(server.url, 'CREATE DATABASE shop');
    await sql(server.url, "CREATE ROLE app_reader LOGIN PASSWORD 'reader-pw' CONNECTION LIMIT 7");
    await sql(server.urlFor('shop'), FIXTURE_SQL);
    await sql(server.urlFor('shop'), 'GRANT SELECT ON sales.orders TO app_reader');
    original = await databaseDigest(server.urlFor('shop'));
    env = repoEnv(join(dir, 'repo'));
    config = await writeConfig(dir, {
      pg: { type: 'postgres', url: server.url, databases: 'all', globals: true },
    });
    await ok(['init']);
    await ok(['backup', 'pg']);
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('takes one snapshot per database plus the globals, with exact row counts and no password', async () => {
    const list = await snapshots();
    assert.deepEqual(list.map((s) => s.source).sort(), ['pg/globals', 'pg/postgres', 'pg/shop']);
    const shop = list.find((s) => s.source === 'pg/shop')!;
    assert.equal(shop.engine, 'postgres');
    assert.equal(shop.meta.database, 'shop');
    assert.equal(
      shop.meta.serverVersionNum,
      Number(
        (await sql<{ v: string }>(server.url, "SELECT current_setting('server_version_num') AS v"))[0].v,
      ),
    );
    assert.match(String(shop.stats.schemaDigest), /^[0-9a-f]{64}$/);
    assert.deepEqual(shop.stats.rowsEstimated, []);
    const counts = await sql<{ t: string; n: string }>(
      server.urlFor('shop'),
      `SELECT 'public.customers' AS t, count(*) AS n FROM public.customers UNION ALL SELECT 'sales.orders', count(*) FROM sales.orders
       UNION ALL SELECT 'sales.audit', count(*) FROM sales.audit UNION ALL SELECT 'public.events_2023', count(*) FROM public.events_2023
       UNION ALL SELECT 'public.events_2024', count(*) FROM public.events_2024 UNION ALL SELECT 'Odd Schema.Mixed Case Table', count(*) FROM "Odd Schema"."Mixed Case Table"
       UNION ALL SELECT 'public.docs', count(*) FROM public.docs`,
    );
    for (const { t, n } of counts) assert.equal(shop.stats.rows?.[t], Number(n), t);
    assert.equal(shop.stats.largeObjects, 2);
    const globals = list.find((s) => s.source === 'pg/globals')!;
    assert.ok((globals.meta.roles as string[]).includes('app_reader'));
    // The recorded settings keep the URL but never the password.
    assert.equal(shop.sourceConfig.url, server.url.replace(/:[^:@/]*@/, '@'));
    const all = (await ok(['snapshots', '--json'])).stdout;
    assert.ok(
      !all.includes('S3cret') && !all.includes(encodeURIComponent(server.password)),
      'password in snapshots',
    );
  });

  it('restores into a new database, identical table by table, sequences and large objects included', async () => {
    const r = await ok([
      'restore',
      'latest',
      '--source',
      'pg/shop',
      '--to',
      server.urlFor('shop_copy'),
      '--json',
    ]);
    const out = JSON.parse(r.stdout);
    assert.equal(out.stats.schemaMatches, true);
    assert.equal(out.target, `127.0.0.1:${server.port}/shop_copy`);
    const copy = await databaseDigest(server.urlFor('shop_copy'));
    assert.deepEqual(copy, original);
    assert.equal(copy['sequence sales.orders_id_seq'], '5000');
    // The restored database works: identity and trigger carry on.
    await sql(server.urlFor('shop_copy'), 'INSERT INTO sales.orders (customer_id, amount) VALUES (2, 7)');
    const [row] = await sql<{ id: string; n: string }>(
      server.urlFor('shop_copy'),
      'SELECT max(o.id) AS id, (SELECT count(*) FROM sales.audit) AS n FROM sales.orders o',
    );
    assert.equal(row.id, '5001');
    assert.equal(row.n, '2001');
  });

  it('refuses a non-empty target and replaces it with --overwrite', async () => {
    await sql(server.urlFor('shop_copy'), "UPDATE public.customers SET name = 'changed' WHERE id = 1");
    const refused = await cli([
      'restore',
      'latest',
      '--source',
      'pg/shop',
      '--to',
      server.urlFor('shop_copy'),
    ]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /restore target 127\.0\.0\.1:\d+\/shop_copy is not empty: it has .*--overwrite/,
    );
    assert.ok(!refused.stderr.includes('S3cret'));
    const [changed] = await sql<{ name: string }>(
      server.urlFor('shop_copy'),
      'SELECT name FROM public.customers WHERE id = 1',
    );
    assert.equal(changed.name, 'changed');
    await ok(['restore', 'latest', '--source', 'pg/shop', '--to', server.urlFor('shop_copy'), '--overwrite']);
    assert.deepEqual(await databaseDigest(server.urlFor('shop_copy')), original);
  });

  it('`lifeboat dump` hands back an archive plain pg_restore restores', async () => {
    const file = join(dir, 'shop.pgdump');
    await ok(['dump', 'latest', '--source', 'pg/shop', '--output', file]);
    await sql(server.url, 'CREATE DATABASE shop_native');
    const r = spawnSync(
      join(server.binDir, 'pg_restore'),
      [
        '-h',
        server.host,
        '-p',
        String(server.port),
        '-U',
        server.user,
        '-d',
        'shop_native',
        '--exit-on-error',
        file,
      ],
      { env: { ...process.env, PGPASSWORD: server.password }, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await databaseDigest(server.urlFor('shop_native')), original);
  });

  it('--dry-run lists the archive and writes nothing', async () => {
    const r = await ok([
      'restore',
      'latest',
      '--source',
      'pg/shop',
      '--to',
      server.urlFor('shop_dry'),
      '--dry-run',
    ]);
    assert.match(r.stdout, /^CREATE DATABASE shop_dry$/m);
    assert.match(r.stdout, /^TABLE DATA sales\.orders \(2000 rows\)$/m);
    assert.match(r.stdout, /^TRIGGER sales\.orders orders_log$/m);
    assert.match(r.stdout, /^would restore snapshot [0-9a-f]{8} \(pg\/shop\)/m);
    assert.equal(await dbExists('shop_dry'), false);
  });

  it('--table restores one table with its indexes, sequence and data; --schema one schema', async () => {
    await ok([
      'restore',
      'latest',
      '--source',
      'pg/shop',
      '--to',
      server.urlFor('only_customers'),
      '--table',
      'customers',
    ]);
    const got = await databaseDigest(server.urlFor('only_customers'));
    assert.deepEqual(
      Object.keys(got).filter((k) => k.startsWith('table')),
      ['table public.customers'],
    );
    assert.equal(got['table public.customers'], original['table public.customers']);
    assert.equal(got['sequence public.customers_id_seq'], original['sequence public.customers_id_seq']);
    const idx = await sql(
      server.urlFor('only_customers'),
      "SELECT 1 FROM pg_indexes WHERE indexname = 'customers_pkey'",
    );
    assert.equal(idx.length, 1);

    // Into the original database: a damaged table comes back, the rest is untouched.
    await sql(server.urlFor('shop'), 'DELETE FROM sales.audit WHERE id % 2 = 0');
    const refused = await cli(['restore', 'latest', '--source', 'pg/shop', '--table', 'sales.audit']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not empty: it has sales\.audit/);
    await ok(['restore', 'latest', '--source', 'pg/shop', '--table', 'sales.audit', '--overwrite']);
    assert.deepEqual(await databaseDigest(server.urlFor('shop')), original);

    await ok([
      'restore',
      'latest',
      '--source',
      'pg/shop',
      '--to',
      server.urlFor('only_odd'),
      '--schema',
      'Odd Schema',
    ]);
    const odd = await databaseDigest(server.urlFor('only_odd'));
    assert.deepEqual(odd, {
      'table Odd Schema.Mixed Case Table': original['table Odd Schema.Mixed Case Table'],
    });

    const missing = await cli([
      'restore',
      'latest',
      '--source',
      'pg/shop',
      '--to',
      server.urlFor('x'),
      '--table',
      'nope',
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no table nope in the snapshot of pg\/shop/);
  });

  it('restores in parallel from a temporary file with jobs: 2', async () => {
    const parallel = await writeConfig(
      dir,
      { pg: { type: 'postgres', url: server.url, databases: 'all', globals: true, jobs: 2 } },
      'parallel.yaml',
    );
    await ok(['restore', 'latest', '--source', 'pg/shop', '--to', server.urlFor('shop_par')], parallel);
    assert.deepEqual(await databaseDigest(server.urlFor('shop_par')), original);
    assert.doesNotMatch(
      (await ok(['restore', 'latest', '--source', 'pg/shop', '--to', server.urlFor('shop_par2')], parallel))
        .stdout,
      /not used/,
    );
    // One table: pg_restore -j has nothing to share out, so the archive streams.
    const one = await ok(
      [
        'restore',
        'latest',
        '--source',
        'pg/shop',
        '--table',
        'public.customers',
        '--to',
        server.urlFor('shop_one'),
      ],
      parallel,
    );
    assert.match(
      one.stdout,
      /^warning: jobs: 2 not used: fewer than two large tables, so the archive was streamed$/m,
    );
    const [{ n }] = await sql<{ n: string }>(
      server.urlFor('shop_one'),
      'SELECT count(*) AS n FROM public.customers',
    );
    assert.equal(Number(n), 504);
  });

  it('restores roles into another server, and refuses to alter existing ones without --overwrite', async () => {
    const other = await startPostgres();
    try {
      const to = other.url;
      const dry = await ok(['restore', 'latest', '--source', 'pg/globals', '--to', to, '--dry-run']);
      assert.match(dry.stdout, /^ROLE app_reader$/m);
      assert.match(dry.stdout, /^ROLE lbtest \(skipped: the role of this connection\)$/m);
      await ok(['restore', 'latest', '--source', 'pg/globals', '--to', to]);
      const [role] = await sql<{ rolcanlogin: boolean; rolconnlimit: number }>(
        other.url,
        "SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = 'app_reader'",
      );
      assert.deepEqual(role, { rolcanlogin: true, rolconnlimit: 7 });
      // The role's password came along: it can log in with it.
      const url = `postgres://app_reader:reader-pw@127.0.0.1:${other.port}/postgres`;
      assert.deepEqual(await sql(url, 'SELECT 1 AS one'), [{ one: 1 }]);
      const again = await cli(['restore', 'latest', '--source', 'pg/globals', '--to', to]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already has role "app_reader" \(pass --overwrite/);
      await ok(['restore', 'latest', '--source', 'pg/globals', '--to', to, '--overwrite']);
      // The whole database, owners and grants included, now restores there too.
      await ok(['restore', 'latest', '--source', 'pg/shop', '--to', other.urlFor('shop')]);
      assert.deepEqual(await databaseDigest(other.urlFor('shop')), original);
      const grants = await sql(
        other.urlFor('shop'),
        "SELECT 1 FROM information_schema.role_table_grants WHERE grantee = 'app_reader' AND table_name = 'orders'",
      );
      assert.equal(grants.length, 1);
    } finally {
      await other.stop();
    }
  });
});
