/**
 * The mysql engine through the shared source contract (testing/source-contract), against a
 * throwaway mariadbd: the database "shop" backed up, restored into new databases.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type MariadbServer, mariadbUnavailable, startMariadb } from '../../testing/servers/mariadb.js';
import { runSourceContract } from '../../testing/source-contract.js';

/** table → digest of its rows, for every table of `db`; "missing" without the database. */
function tables(server: MariadbServer, db: string): Record<string, string> {
  const exists = server.rootSql(
    `SELECT schema_name FROM information_schema.schemata WHERE schema_name = '${db}'`,
  );
  if (!exists.trim()) return { missing: '' };
  const names = server
    .rootSql(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = '${db}' AND table_type = 'BASE TABLE' ORDER BY 1`,
    )
    .split('\n')
    .filter(Boolean);
  return Object.fromEntries(
    names.map((t) => [
      t,
      createHash('sha256')
        .update(server.rootSql(`SELECT * FROM \`${db}\`.\`${t}\` ORDER BY 1`))
        .digest('hex'),
    ]),
  );
}

runSourceContract(
  'mysql',
  async (defer) => {
    const server = await startMariadb();
    defer(() => server.stop());
    server.rootSql(`CREATE DATABASE shop;
      USE shop;
      CREATE TABLE shop.customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100));
      INSERT INTO shop.customers (name) SELECT CONCAT('customer ', seq) FROM seq_1_to_300;
      CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, total DECIMAL(10,2));
      INSERT INTO shop.orders (total) SELECT seq * 1.5 FROM seq_1_to_100;`);
    let n = 0;
    const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));
    return {
      config: { type: 'mysql', url: server.urlFor('shop') },
      target: async () => server.urlFor(`restored_${n++}`),
      digest: async (target) => JSON.stringify(tables(server, target ? databaseOf(target) : 'shop')),
      scopes: {
        tables: {
          options: { tables: ['customers'] },
          check: async (to) => {
            const got = tables(server, databaseOf(to));
            assert.deepEqual(Object.keys(got), ['customers']);
            assert.equal(got.customers, tables(server, 'shop').customers);
          },
        },
      },
      checkDump: async (file) => assert.match(await readFile(file, 'utf8'), /CREATE TABLE `customers`/),
    };
  },
  { skip: mariadbUnavailable() ?? undefined },
);
