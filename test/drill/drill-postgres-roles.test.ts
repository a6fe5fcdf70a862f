/**
 * @module test/drill/drill-postgres-roles
 * Drills of PostgreSQL databases as they are deployed, whose objects belong to `postgres` or
 * to application roles that the drill's scratch cluster (superuser "lbtest") lacks: with the
 * source's globals saved, its roles are loaded into the scratch cluster first; without, the
 * roles the archive names are created NOLOGIN. Ownership and grants come out as the source's.
 */
import assert from 'node:assert/strict';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { sql } from '../postgres/pg-helpers.js';

const skip = postgresUnavailable();
if (skip) console.log(`SKIPPED postgres role drills: ${skip}`);

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
interface Report {
  source: string;
  passed: boolean;
  checks: Check[];
}

/** Application roles: an owner that cannot log in, a reader that can, with a grant. */
const APP_ROLES =
  "CREATE ROLE app_owner NOLOGIN; CREATE ROLE app_reader LOGIN PASSWORD 'reader-pw' CONNECTION LIMIT 5";
const SHOP_SQL = `
CREATE SCHEMA sales AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE sales.orders (id int PRIMARY KEY, amount numeric);
CREATE VIEW sales.big AS SELECT * FROM sales.orders WHERE amount > 5;
INSERT INTO sales.orders SELECT g, g FROM generate_series(1, 40) g;
GRANT USAGE ON SCHEMA sales TO app_reader;
GRANT SELECT ON sales.orders, sales.big TO app_reader;
RESET ROLE;
`;

/** What the drill's sql checks compare: owners, privileges, and the reader's attributes. */
const FACTS = {
  owners: `SELECT string_agg(c.relname || ':' || pg_get_userbyid(c.relowner), ',' ORDER BY c.relname)
             FROM pg_class c WHERE c.relnamespace = 'sales'::regnamespace`,
  acls: `SELECT string_agg(c.relname || ':' || c.relacl::text, ',' ORDER BY c.relname)
           FROM pg_class c WHERE c.relnamespace = 'sales'::regnamespace AND c.relacl IS NOT NULL`,
  schema: `SELECT pg_get_userbyid(nspowner) || ' ' || nspacl::text FROM pg_namespace WHERE nspname = 'sales'`,
  reader: `SELECT rolcanlogin::text || ' ' || rolconnlimit FROM pg_roles WHERE rolname = 'app_reader'`,
};

async function facts(url: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, q] of Object.entries(FACTS)) {
    const [row] = await sql<Record<string, string>>(url, q);
    out[k] = String(Object.values(row)[0]);
  }
  return out;
}

describe('drills of postgres databases owned by postgres or application roles', {
  skip: skip ?? false,
}, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let config: string;
  const sources: Record<string, unknown> = {};

  async function cli(args: string[]): Promise<CliResult> {
    await writeFile(config, JSON.stringify({ sources }));
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
  const detail = (report: Report, name: string) => report.checks.find((c) => c.name === name)?.detail;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-drill-roles-'));
    env = repoEnv(join(dir, 'repo'));
    config = join(dir, 'lifeboat.yaml');
    await ok(['init']);
  });
  after(() => cleanup());

  it('passes for a database whose tables belong to postgres, the cluster superuser', async () => {
    let server: PostgresServer | undefined;
    try {
      server = await startPostgres({ superuser: 'postgres' });
      assert.match(server.url, /^postgres:\/\/postgres:/);
      await sql(server.url, 'CREATE DATABASE chatcard');
      await sql(
        server.urlFor('chatcard'),
        'CREATE TABLE cards (id int PRIMARY KEY, body text); INSERT INTO cards SELECT g, md5(g::text) FROM generate_series(1, 75) g',
      );
      sources.chatcard = {
        type: 'postgres',
        url: server.urlFor('chatcard'),
        drill: {
          checks: [
            {
              name: 'owner',
              sql: "SELECT tableowner FROM pg_tables WHERE tablename = 'cards'",
              expect: 'postgres',
            },
          ],
        },
      };
      await ok(['backup', 'chatcard']);
      await server.stop();
      const r = await ok(['drill', 'chatcard', '--json']);
      const report = JSON.parse(r.stdout) as Report;
      assert.equal(report.passed, true, r.stdout);
      assert.equal(detail(report, 'owner'), 'postgres');
      assert.equal(detail(report, 'roles'), 'no globals saved (globals: true); created NOLOGIN: postgres');
      assert.equal(detail(report, 'count rows'), '1 match');
    } finally {
      await server?.stop();
    }
  });

  it('fails the roles check, naming why, when the globals cannot be loaded; the database is still drilled', async () => {
    let server: PostgresServer | undefined;
    let space: string | undefined;
    try {
      server = await startPostgres({ superuser: 'postgres' });
      // A tablespace: its folder is the source's, so the scratch cluster cannot create it again.
      space = await mkdtemp(join(tmpdir(), 'lifeboat-space-'));
      if (process.getuid?.() === 0) await chown(space, 65534, 65534);
      await sql(server.url, 'CREATE ROLE app_owner NOLOGIN');
      await sql(server.url, `CREATE TABLESPACE archive LOCATION '${space}'`);
      await sql(server.url, 'CREATE DATABASE shop OWNER app_owner');
      await sql(
        server.urlFor('shop'),
        'SET ROLE app_owner; CREATE TABLE t (id int); INSERT INTO t VALUES (1)',
      );
      sources.spaced = { type: 'postgres', url: server.url, databases: ['shop'], globals: true };
      await ok(['backup', 'spaced']);
      await server.stop();
      const args = ['drill', 'spaced/shop', '--json'];
      const r = await cli(args);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout) as Report;
      assert.equal(report.passed, false);
      assert.deepEqual(
        report.checks.filter((c) => !c.ok).map((c) => c.name),
        ['roles'],
      );
      assert.match(
        String(detail(report, 'roles')),
        /^loading the globals spaced\/globals [0-9a-f]{8} failed: .*tablespace.*; none had to be created$/s,
      );
      assert.equal(detail(report, 'count rows'), '1 match');
    } finally {
      await server?.stop();
      if (space) await rm(space, { recursive: true, force: true });
    }
  });

  for (const globals of [true, false]) {
    it(`passes for tables of application roles ${globals ? 'with the globals loaded first' : 'without globals: the roles created NOLOGIN'}`, async () => {
      let server: PostgresServer | undefined;
      const name = globals ? 'neo' : 'neo-bare';
      try {
        server = await startPostgres({ superuser: 'postgres' });
        await sql(server.url, APP_ROLES);
        await sql(server.url, 'CREATE DATABASE shop OWNER app_owner');
        await sql(server.urlFor('shop'), SHOP_SQL);
        const source = await facts(server.urlFor('shop'));
        assert.equal(source.owners, 'big:app_owner,orders:app_owner,orders_pkey:app_owner');
        assert.equal(source.reader, 'true 5');
        // Without the globals the reader comes back as a NOLOGIN role without a limit.
        const expected = globals ? source : { ...source, reader: 'false -1' };
        sources[name] = {
          type: 'postgres',
          url: server.url,
          databases: ['shop'],
          globals,
          drill: {
            checks: Object.entries(FACTS).map(([k, q]) => ({ name: k, sql: q, expect: expected[k] })),
          },
        };
        await ok(['backup', name]);
        await server.stop();
        // The checks are about the database: drill its unit (the globals unit has its own drill).
        const r = await ok(['drill', `${name}/shop`, '--json']);
        const shop = JSON.parse(r.stdout) as Report;
        assert.equal(shop.passed, true, r.stdout);
        for (const k of Object.keys(FACTS)) assert.equal(detail(shop, k), expected[k], k);
        if (globals) {
          assert.match(
            String(detail(shop, 'roles')),
            new RegExp(
              `^\\d+ roles loaded from the globals ${name}/globals [0-9a-f]{8}; none had to be created$`,
            ),
          );
        } else {
          assert.equal(
            detail(shop, 'roles'),
            'no globals saved (globals: true); created NOLOGIN: app_owner, app_reader',
          );
        }
      } finally {
        await server?.stop();
      }
    });
  }
});
