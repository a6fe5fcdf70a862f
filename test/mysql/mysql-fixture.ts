/**
 * @module test/mysql/mysql-fixture
 * Shared pieces of the MySQL/MariaDB suites: the reason to skip, a database with every kind of
 * value and object worth restoring, and exact comparisons (per-table digests of every value's
 * bytes, SHOW CREATE of every object).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type MariadbServer, mariadbUnavailable } from '../../src/testing/servers/mariadb.js';

/** Why the MariaDB suites cannot run here, printed as SKIPPED; null when they can. */
export function mysqlSkipReason(): string | null {
  const why = mariadbUnavailable();
  if (why) console.log(`SKIPPED: MySQL/MariaDB suites: ${why}`);
  return why;
}

/** A backquoted identifier. */
export function q(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Rows of a root query (tab-separated, batch escapes). */
export function rows(server: MariadbServer, sql: string): string[][] {
  return server
    .rootSql(sql)
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

export const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex');
export const ODD_TABLE = 'odd`name (x)';

/**
 * Creates `db` with utf8mb4 text and emoji, JSON, BLOBs with every byte, DECIMAL(20,6),
 * DATETIME(6), TIMESTAMP, ENUM/SET, BIT, a foreign key, an empty table, a table with an awkward
 * name, triggers, a procedure, a function, views (one calling the function) and an event.
 */
export function createVariedDatabase(server: MariadbServer, db: string, items = 5000): void {
  server.rootSql(`
CREATE DATABASE ${q(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE ${q(db)};
CREATE TABLE customers (
  id INT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(200) NOT NULL,
  profile JSON,
  avatar BLOB,
  balance DECIMAL(20,6) NOT NULL DEFAULT 0,
  born DATETIME(6),
  seen TIMESTAMP NULL DEFAULT NULL,
  tier ENUM('free','pro','team') NOT NULL DEFAULT 'free',
  flags SET('a','b','c'),
  bits BIT(8),
  note TEXT
) ENGINE=InnoDB;
CREATE TABLE orders (
  id INT PRIMARY KEY AUTO_INCREMENT,
  customer_id INT NOT NULL,
  total DECIMAL(20,6) NOT NULL,
  placed DATETIME(6) NOT NULL,
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB;
CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(64), qty INT, price DECIMAL(20,6)) ENGINE=InnoDB;
CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, msg VARCHAR(255), at DATETIME(6)) ENGINE=InnoDB;
CREATE TABLE empty_one (id INT PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE ${q(ODD_TABLE)} (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
CREATE TRIGGER customers_ai AFTER INSERT ON customers FOR EACH ROW
  INSERT INTO audit (msg, at) VALUES (CONCAT('new customer ', NEW.id), NOW(6));
INSERT INTO customers (name, profile, avatar, balance, born, seen, tier, flags, bits, note) VALUES
  ('Zoë 😀 Ünïcødé (emoji) 𝄞', '{"langs": ["en", "日本語"], "n": 1.5, "nested": {"ok": true}}',
   UNHEX('${ALL_BYTES}'), 99999999999999.999999, '1999-12-31 23:59:59.999999', '2024-02-29 12:00:00',
   'pro', 'a,c', b'10100101', 'quote '' backslash \\\\ semicolon ; paren ( ) newline \\n tab \\t'),
  ('x', NULL, UNHEX('00'), -0.000001, '1000-01-01 00:00:00.000000', NULL, 'free', '', b'0', NULL),
  ('-- Dumping data for table \`items\`', '[]', '', 0, NULL, '2038-01-19 03:14:07', 'team', 'a,b,c', NULL,
   CONCAT('nul:', CHAR(0), ':end')),
  ('INSERT INTO \`customers\` VALUES (1),(2);', '{}', UNHEX('FF00FF'), 12.5, NULL, NULL, 'free', NULL, NULL, '');
INSERT INTO orders (customer_id, total, placed) VALUES
  (1, 10.000001, '2024-01-01 00:00:00.000001'), (1, 20.5, '2024-01-02 10:00:00.5'), (3, 0, '2024-03-03 03:03:03');
INSERT INTO items SELECT seq, CONCAT('item-', seq, IF(seq % 7 = 0, ' (seven); ''q''', '')), seq % 13, seq / 7
  FROM seq_1_to_${items};
INSERT INTO ${q(ODD_TABLE)} VALUES (1, 'one'), (2, 'two');
DELIMITER //
CREATE TRIGGER orders_bu BEFORE UPDATE ON orders FOR EACH ROW
BEGIN
  IF NEW.total < 0 THEN SET NEW.total = 0; END IF;
END//
CREATE FUNCTION with_tax(amount DECIMAL(20,6)) RETURNS DECIMAL(20,6) DETERMINISTIC
  RETURN amount * 1.2//
CREATE PROCEDURE add_order(IN cid INT, IN amount DECIMAL(20,6))
BEGIN
  INSERT INTO orders (customer_id, total, placed) VALUES (cid, amount, NOW(6));
  SELECT LAST_INSERT_ID() AS id;
END//
DELIMITER ;
CREATE VIEW customer_totals AS
  SELECT c.id, c.name, COUNT(o.id) AS orders, COALESCE(SUM(o.total), 0) AS total
  FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;
CREATE VIEW taxed AS SELECT id, with_tax(total) AS gross FROM orders;
CREATE EVENT purge_audit ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE
  DO DELETE FROM audit WHERE at < NOW() - INTERVAL 30 DAY;
`);
}

export interface TableDigest {
  rows: number;
  sha256: string;
}

/** Per base table: the row count and a SHA-256 over every row's bytes (NULL distinct), order-independent. */
export function tableDigests(server: MariadbServer, db: string): Record<string, TableDigest> {
  const tables = rows(
    server,
    `SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
  ).map((r) => Buffer.from(r[0], 'hex').toString('utf8'));
  const out: Record<string, TableDigest> = {};
  for (const table of tables) {
    const columns = rows(
      server,
      `SELECT HEX(COLUMN_NAME) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${db}' AND TABLE_NAME = CONVERT(0x${Buffer.from(table).toString('hex')} USING utf8mb4) ORDER BY ORDINAL_POSITION`,
    ).map((r) => Buffer.from(r[0], 'hex').toString('utf8'));
    // HEX(CONCAT(col)) is the value's exact bytes as text (numbers and times in full precision).
    const expr = columns.map((c) => `IFNULL(HEX(CONCAT(${q(c)})), 'NULL')`).join(", '|', ");
    const lines = rows(server, `SELECT CONCAT(${expr}) FROM ${q(db)}.${q(table)}`).map((r) => r[0]);
    lines.sort();
    const hash = createHash('sha256');
    for (const line of lines) hash.update(`${line}\n`);
    out[table] = { rows: lines.length, sha256: hash.digest('hex') };
  }
  return out;
}

/** SHOW CREATE of every table, view, trigger, routine and event in `db`, by kind and name. */
export function schemaObjects(server: MariadbServer, db: string): Record<string, string> {
  const list = (sql: string) => rows(server, sql).map((r) => Buffer.from(r[0], 'hex').toString('utf8'));
  const out: Record<string, string> = {};
  const show = (kind: string, name: string, sql: string, column: number) => {
    const r = rows(server, `USE ${q(db)}; ${sql}`);
    assert.ok(r.length > 0, `SHOW CREATE ${kind} ${name} returned nothing`);
    out[`${kind} ${name}`] = r[0][column];
  };
  for (const t of list(
    `SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}' AND TABLE_TYPE = 'BASE TABLE'`,
  ))
    show('table', t, `SHOW CREATE TABLE ${q(t)}`, 1);
  for (const v of list(`SELECT HEX(TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '${db}'`))
    show('view', v, `SHOW CREATE VIEW ${q(v)}`, 1);
  for (const t of list(
    `SELECT HEX(TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${db}'`,
  ))
    show('trigger', t, `SHOW CREATE TRIGGER ${q(t)}`, 2);
  for (const r of rows(
    server,
    `SELECT HEX(ROUTINE_NAME), ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${db}'`,
  )) {
    const name = Buffer.from(r[0], 'hex').toString('utf8');
    show(r[1].toLowerCase(), name, `SHOW CREATE ${r[1]} ${q(name)}`, 2);
  }
  for (const e of list(`SELECT HEX(EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${db}'`))
    show('event', e, `SHOW CREATE EVENT ${q(e)}`, 3);
  return out;
}

/** Asserts that `copy` holds exactly what `original` holds: every value and every object. */
export function assertSameDatabase(server: MariadbServer, original: string, copy: string): void {
  const want = tableDigests(server, original);
  assert.ok(Object.keys(want).length > 0, `no tables in ${original}`);
  assert.deepEqual(tableDigests(server, copy), want, `table contents of ${copy} differ from ${original}`);
  assert.deepEqual(schemaObjects(server, copy), schemaObjects(server, original), `objects of ${copy} differ`);
}

/** Fills `table` in `db` with `n` rows of ~`width` bytes, for dumps that take a while. */
export function createBigTable(
  server: MariadbServer,
  db: string,
  table: string,
  n: number,
  width = 200,
): void {
  server.rootSql(`
CREATE DATABASE IF NOT EXISTS ${q(db)};
USE ${q(db)};
CREATE TABLE ${q(db)}.${q(table)} (id INT PRIMARY KEY, payload VARCHAR(${width}), n BIGINT) ENGINE=InnoDB;
INSERT INTO ${q(db)}.${q(table)} SELECT seq, CONCAT(SHA2(seq, 256), REPEAT('x', ${Math.max(0, width - 64)})), seq * 7
  FROM seq_1_to_${n};
`);
}
