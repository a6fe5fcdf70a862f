/**
 * Unit tests of the PostgreSQL engine's pure parts: URL handling (the password only in the
 * environment), client version checks with injected versions, the missing-binary message,
 * the archive listing and partial-restore selection, sizes, the globals filter, where a
 * restore goes, the roles an archive names, the entries of dependents, and the data-only
 * script's end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLifeboatError } from '../../errors.js';
import { parsePgUrl, toolConnArgs, toolEnv, withDatabase } from './postgres-connection.js';
import { filterGlobals } from './postgres-globals.js';
import { parallelHelps, restoreTarget } from './postgres-restore.js';
import { archiveRoles, rolesInSql } from './postgres-roles.js';
import { SCRIPT_COMPLETE, wrapScript } from './postgres-table-data.js';
import {
  type Dependent,
  dependentEntries,
  describeEntry,
  missingSupport,
  parseToc,
  selectEntries,
} from './postgres-toc.js';
import { checkClientVersion, parseToolVersion, resolveTool } from './postgres-tools.js';

test('the password goes to PGPASSWORD only, never into the arguments', () => {
  const conn = parsePgUrl(
    'postgres://app%40x:p%40ss%3Aw%2Frd@db.example:6543/sales?sslmode=require&connect_timeout=5',
  );
  assert.deepEqual(
    { host: conn.host, port: conn.port, user: conn.user, password: conn.password, database: conn.database },
    { host: 'db.example', port: 6543, user: 'app@x', password: 'p@ss:w/rd', database: 'sales' },
  );
  const args = toolConnArgs(conn);
  assert.deepEqual(args, ['-h', 'db.example', '-p', '6543', '-U', 'app@x', '-d', "dbname='sales'"]);
  assert.ok(!args.join(' ').includes('p@ss'));
  assert.deepEqual(toolEnv(conn), { PGPASSWORD: 'p@ss:w/rd', PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '5' });
});

test('socket folders, odd database names and bad URLs', () => {
  const sock = parsePgUrl('postgresql://me@/app?host=/var/run/postgresql&port=5433');
  assert.equal(sock.host, '/var/run/postgresql');
  assert.equal(sock.port, 5433);
  assert.equal(sock.password, undefined);
  assert.deepEqual(toolConnArgs(withDatabase(sock, "it's=odd\\")), [
    '-h',
    '/var/run/postgresql',
    '-p',
    '5433',
    '-U',
    'me',
    '-d',
    "dbname='it\\'s=odd\\\\'",
  ]);
  for (const bad of [
    'mysql://x/y',
    'postgres://h/db?password=x',
    'postgres://h/db?frobnicate=1',
    'not a url',
  ]) {
    assert.throws(
      () => parsePgUrl(bad),
      (e: unknown) => isLifeboatError(e) && e.code === 'config_invalid',
      bad,
    );
  }
  assert.throws(
    () => parsePgUrl('postgres://u:secretpw@h/db?frobnicate=1'),
    (e: Error) => !e.message.includes('secretpw'),
  );
});

test('client versions: pg_dump older than the server fails naming the package', () => {
  assert.deepEqual(parseToolVersion('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n'), {
    text: '15.20',
    major: 15,
    num: 150020,
  });
  assert.deepEqual(parseToolVersion('pg_restore (PostgreSQL) 9.6.24'), {
    text: '9.6.24',
    major: 9,
    num: 90624,
  });
  assert.equal(parseToolVersion('garbage'), undefined);
  const args = { tool: 'pg_dump' as const, clientText: '15.20', neededText: '16.4', source: 'app/sales' };
  assert.throws(
    () => checkClientVersion({ ...args, clientMajor: 15, neededMajor: 16 }),
    /\[source:postgres\] pg_dump 15\.20 is too old for source "app\/sales": the server is PostgreSQL 16\.4 \(install postgresql-client-16, e\.g\. apt-get install postgresql-client-16, or set bin_dir .*\/usr\/lib\/postgresql\/16\/bin\)/,
  );
  checkClientVersion({ ...args, clientMajor: 16, neededMajor: 16 });
  checkClientVersion({ ...args, clientMajor: 17, neededMajor: 16 });
  assert.throws(
    () =>
      checkClientVersion({
        tool: 'pg_restore',
        clientMajor: 14,
        clientText: '14.1',
        neededMajor: 15,
        neededText: '15.2',
        source: 's',
      }),
    /pg_restore 14\.1 is too old .*written by pg_dump 15\.2 .*postgresql-client-15/,
  );
});

test('a bin_dir without the program names the package', async () => {
  await assert.rejects(
    resolveTool('pg_dump', { binDir: '/nonexistent', serverMajor: 15, source: 'app' }),
    /pg_dump not found in bin_dir \/nonexistent of source "app": install postgresql-client-15/,
  );
});

const LISTING = `;
; Archive created at 2024-01-01 00:00:00 UTC
;
215; 2615 16390 SCHEMA - sales lbtest
216; 2615 16391 SCHEMA - Odd Schema lbtest
900; 1247 16400 TYPE public mood lbtest
217; 1259 16401 TABLE public customers lbtest
218; 1259 16402 SEQUENCE public customers_id_seq lbtest
219; 1259 16403 TABLE sales orders lbtest
220; 1259 16404 TABLE Odd Schema Mixed Case Table lbtest
3400; 0 16401 TABLE DATA public customers lbtest
3401; 0 16403 TABLE DATA sales orders lbtest
3402; 0 0 SEQUENCE SET public customers_id_seq lbtest
3403; 2606 16405 CONSTRAINT public customers customers_pkey lbtest
3404; 1259 16406 INDEX sales orders_customer lbtest
3405; 2620 16407 TRIGGER sales orders orders_log lbtest
3406; 2606 16408 FK CONSTRAINT sales orders orders_customer_id_fkey lbtest
3407; 0 0 COMMENT sales TABLE orders lbtest
3408; 0 0 ACL sales TABLE orders lbtest
`;

test('the archive listing parses, schema names with spaces included', () => {
  const toc = parseToc(LISTING);
  assert.equal(toc.length, 16);
  const odd = toc.find((e) => e.id === 220)!;
  assert.deepEqual([odd.desc, odd.schema, odd.rest], ['TABLE', 'Odd Schema', 'Mixed Case Table lbtest']);
  assert.equal(describeEntry(toc.find((e) => e.id === 3401)!), 'TABLE DATA sales.orders');
  assert.equal(
    describeEntry(toc.find((e) => e.id === 3406)!),
    'FK CONSTRAINT sales.orders orders_customer_id_fkey',
  );
});

test('a partial restore takes a table with what hangs on it, and nothing else', () => {
  const toc = parseToc(LISTING);
  const owned = {
    'sales.orders_customer': 'orders',
    'public.customers_id_seq': 'customers',
    'public.customers_pkey': 'customers',
  };
  const ids = (tables: string[], schemas: string[] = []) =>
    selectEntries(toc, { tables, schemas, owned }).map((e) => e.id);
  assert.deepEqual(ids(['sales.orders']), [219, 3401, 3404, 3405, 3406, 3407, 3408]);
  assert.deepEqual(ids(['public.customers']), [217, 218, 3400, 3402, 3403]);
  assert.deepEqual(ids([], ['Odd Schema']), [216, 220]);
  // Types and schemas the target lacks come along.
  assert.deepEqual(
    missingSupport(toc, new Set(['SCHEMA sales', 'SCHEMA public'])).map((e) => e.id),
    [216, 900],
  );
});

test('restoring globals leaves the connecting role alone and keeps existing roles', () => {
  const sql = [
    'CREATE ROLE lbtest;',
    "ALTER ROLE lbtest WITH SUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$x';",
    'CREATE ROLE app_reader;',
    "ALTER ROLE app_reader WITH LOGIN PASSWORD 'SCRAM-SHA-256$y';",
    'CREATE ROLE "Odd Role";',
    'GRANT app_reader TO lbtest;',
  ].join('\n');
  assert.equal(
    filterGlobals(sql, 'lbtest', ['Odd Role']),
    [
      'CREATE ROLE app_reader;',
      "ALTER ROLE app_reader WITH LOGIN PASSWORD 'SCRAM-SHA-256$y';",
      'GRANT app_reader TO lbtest;',
    ].join('\n'),
  );
});

test('restore targets: the original, another database, another server', () => {
  const url = 'postgres://app:pw@db:5432/app';
  assert.deepEqual(restoreTarget(url, 'sales', undefined), parsePgUrl('postgres://app:pw@db:5432/sales'));
  assert.equal(restoreTarget(url, 'sales', 'sales_copy').database, 'sales_copy');
  // Same server without a user: the source's credentials.
  const same = restoreTarget(url, 'sales', 'postgres://db:5432/x');
  assert.deepEqual([same.user, same.password, same.database], ['app', 'pw', 'x']);
  // Another server never receives the source's password.
  const other = restoreTarget(url, 'sales', 'postgres://elsewhere:5432/');
  assert.deepEqual([other.user, other.password, other.database], [undefined, undefined, 'sales']);
});

test('the roles an archive names: owners, grantees, grantors, default privileges, policies', () => {
  const toc = parseToc(
    [
      '215; 1259 16388 TABLE public orders app_owner',
      '3373; 0 0 ACL public TABLE orders app_owner',
      '216; 1255 16417 FUNCTION public all_orders() postgres',
    ].join('\n'),
  );
  const sql = [
    'GRANT SELECT ON TABLE public.orders TO app_reader;',
    'GRANT SELECT,INSERT ON TABLE public.orders TO "Mixed Role", PUBLIC WITH GRANT OPTION;',
    'REVOKE ALL ON TABLE public.orders FROM app_owner;',
    'SET SESSION AUTHORIZATION grantor_role;',
    'ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA public GRANT SELECT ON TABLES TO reporting;',
    'CREATE POLICY mine ON public.orders TO tenant USING ((owner = CURRENT_USER));',
    "COMMENT ON TABLE public.orders IS 'GRANT nothing TO nobody';",
  ].join('\n');
  assert.deepEqual(rolesInSql(sql).sort(), [
    'Mixed Role',
    'app_owner',
    'app_reader',
    'grantor_role',
    'reporting',
    'tenant',
  ]);
  assert.deepEqual(archiveRoles(toc, sql), [
    'Mixed Role',
    'app_owner',
    'app_reader',
    'grantor_role',
    'postgres',
    'reporting',
    'tenant',
  ]);
});

test('the entries that re-create what depends on a replaced table, and what the archive lacks', () => {
  const toc = parseToc(
    [
      '215; 1259 16388 TABLE public orders lb',
      '220; 1255 16416 FUNCTION public order_total(public.orders) lb',
      '3380; 0 0 ACL public FUNCTION order_total(public.orders) lb',
      '218; 1259 16408 VIEW public big_orders lb',
      '3381; 0 0 COMMENT public VIEW big_orders lb',
      '3382; 0 0 ACL public TABLE big_orders lb',
      '217; 1259 16397 TABLE public order_items lb',
      '3366; 0 16397 TABLE DATA public order_items lb',
      '3218; 2606 16403 FK CONSTRAINT public order_items order_items_order_id_fkey lb',
      '3219; 2606 16404 FK CONSTRAINT public order_items order_items_other_fkey lb',
    ].join('\n'),
  );
  const dep = (kind: Dependent['kind'], name: string, extra: Partial<Dependent> = {}): Dependent => ({
    what: `${kind} ${name}`,
    on: 'public.orders',
    kind,
    schema: 'public',
    name,
    ...extra,
  });
  const { entries, missing } = dependentEntries(
    toc,
    [
      dep('relation', 'big_orders'),
      dep('routine', 'order_total(public.orders)', { desc: 'FUNCTION' }),
      dep('table part', 'order_items_order_id_fkey', { desc: 'FK CONSTRAINT', table: 'order_items' }),
      dep('relation', 'recent_orders'),
      dep('other', 'events_2023'),
    ],
    {},
  );
  assert.deepEqual(
    entries.map((e) => e.id),
    [220, 3380, 218, 3381, 3382, 3218],
  );
  assert.deepEqual(
    missing.map((d) => d.name),
    ['recent_orders', 'events_2023'],
  );
});

test("a data-only load commits only after pg_restore's complete script", async () => {
  const around = { before: 'BEGIN;\n', after: 'COMMIT;\n' };
  const collect = async (parts: string[]) => {
    const out: string[] = [];
    for await (const b of wrapScript(
      (async function* () {
        for (const p of parts) yield Buffer.from(p);
      })(),
      around,
    ))
      out.push(b.toString());
    return out.join('');
  };
  const complete =
    'COPY t FROM stdin;\n1\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc123\n\n';
  assert.ok((await collect([complete.slice(0, 20), complete.slice(20)])).endsWith('\nCOMMIT;\n'));
  assert.ok(SCRIPT_COMPLETE.test('--\n-- PostgreSQL database dump complete\n--\n\n'));
  await assert.rejects(
    collect(['COPY t FROM stdin;\n1\n']),
    /ended before its last line, so nothing was committed/,
  );
});

test('parallelHelps: pg_restore -j only with two or more tables each holding a tenth of the rows', () => {
  const pgbench = {
    'public.pgbench_accounts': 1_000_000,
    'public.pgbench_branches': 10,
    'public.pgbench_tellers': 100,
  };
  assert.equal(parallelHelps(pgbench), false);
  assert.equal(parallelHelps({ ...pgbench, 'public.accounts_copy': 1_000_000 }), true);
  assert.equal(
    parallelHelps({ ...pgbench, 'public.accounts_copy': 1_000_000 }, ['public.accounts_copy']),
    false,
  );
  assert.equal(parallelHelps({}), false);
});
