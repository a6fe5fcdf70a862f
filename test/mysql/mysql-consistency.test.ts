/**
 * @module test/mysql/mysql-consistency
 * A backup taken while transfers run restores to a consistent state. Two connections keep
 * moving amounts between accounts (and opening new ones), each transfer one transaction that
 * updates two balances and inserts a ledger row referencing both accounts. A large table
 * sits between `accounts` and `ledger` in the dump, so a dump without one consistent
 * snapshot would read the ledger well after the balances. The restored copy must balance:
 * the total is unchanged, every ledger row's accounts exist, and every balance equals its
 * opening amount minus what the ledger says went out plus what came in.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { type MariadbServer, startMariadb } from '../../src/testing/servers/mariadb.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { createBigTable, mysqlSkipReason, rows } from './mysql-fixture.js';

const skip = mysqlSkipReason();
const ACCOUNTS = 200;
const OPENING = 1000;

interface Load {
  commits(): number;
  stop(): Promise<{ commits: number; rollbacks: number }>;
}

/** Transfers on `connections` connections until stopped; bounded to 10 minutes in any case. */
async function startTransfers(server: MariadbServer, connections: number): Promise<Load> {
  let running = true;
  let commits = 0;
  let rollbacks = 0;
  const deadline = Date.now() + 10 * 60_000;
  const worker = async (seed: number) => {
    const conn = await mysql.createConnection({
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      database: 'bank',
    });
    let n = seed;
    try {
      while (running && Date.now() < deadline) {
        n++;
        const from = 1 + ((n * 7919) % ACCOUNTS);
        let to = 1 + ((n * 104729) % ACCOUNTS);
        if (to === from) to = 1 + (to % ACCOUNTS);
        const amount = ((n * 31) % 10_000) / 100 + 0.01;
        try {
          await conn.beginTransaction();
          if (n % 25 === 0) {
            const [opened] = await conn.query<mysql.ResultSetHeader>(
              'INSERT INTO accounts (owner, balance, opening) VALUES (?, 0, 0)',
              [`new-${seed}-${n}`],
            );
            to = opened.insertId;
          }
          await conn.query('UPDATE accounts SET balance = balance - ? WHERE id = ?', [amount, from]);
          await conn.query('UPDATE accounts SET balance = balance + ? WHERE id = ?', [amount, to]);
          await conn.query('INSERT INTO ledger (from_id, to_id, amount) VALUES (?, ?, ?)', [
            from,
            to,
            amount,
          ]);
          await conn.commit();
          commits++;
        } catch {
          // Two writers may deadlock; InnoDB rolls one back, which is fine for the invariants.
          await conn.rollback().catch(() => {});
          rollbacks++;
        }
      }
    } finally {
      await conn.end();
    }
  };
  const workers = Array.from({ length: connections }, (_, i) => worker(i * 1_000_000));
  return {
    commits: () => commits,
    async stop() {
      running = false;
      await Promise.all(workers);
      return { commits, rollbacks };
    },
  };
}

/** Checks the bank invariants in `db`; returns the ledger's row count. */
function assertBalanced(server: MariadbServer, db: string): number {
  const [[total, accounts, ledger]] = rows(
    server,
    `SELECT (SELECT SUM(balance) FROM ${db}.accounts), (SELECT COUNT(*) FROM ${db}.accounts), (SELECT COUNT(*) FROM ${db}.ledger)`,
  );
  assert.equal(Number(total), ACCOUNTS * OPENING, `${db}: money appeared or vanished`);
  const [[orphans]] = rows(
    server,
    `SELECT COUNT(*) FROM ${db}.ledger l LEFT JOIN ${db}.accounts f ON f.id = l.from_id LEFT JOIN ${db}.accounts t ON t.id = l.to_id WHERE f.id IS NULL OR t.id IS NULL`,
  );
  assert.equal(orphans, '0', `${db}: ledger rows point at missing accounts`);
  const [[wrong]] = rows(
    server,
    `SELECT COUNT(*) FROM ${db}.accounts a
       LEFT JOIN (SELECT from_id AS id, SUM(amount) AS s FROM ${db}.ledger GROUP BY from_id) o ON o.id = a.id
       LEFT JOIN (SELECT to_id AS id, SUM(amount) AS s FROM ${db}.ledger GROUP BY to_id) i ON i.id = a.id
      WHERE a.balance <> a.opening - COALESCE(o.s, 0) + COALESCE(i.s, 0)`,
  );
  assert.equal(wrong, '0', `${db}: balances disagree with the ledger`);
  assert.ok(Number(accounts) >= ACCOUNTS);
  return Number(ledger);
}

describe('mysql source: a backup under load restores consistent', { skip: skip ?? false }, () => {
  let server: MariadbServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let load: Load | undefined;

  const cli = async (args: string[]): Promise<CliResult> => {
    const r = await runCli(args, env, { cwd: dir });
    assert.equal(r.code, 0, `lifeboat ${args[0]} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };

  before(async () => {
    server = await startMariadb();
    ({ dir, cleanup } = await tempDir('lifeboat-mysql-load-'));
    env = repoEnv(join(dir, 'repo'));
    server.rootSql(`
CREATE DATABASE bank;
USE bank;
CREATE TABLE accounts (
  id INT PRIMARY KEY AUTO_INCREMENT,
  owner VARCHAR(64) NOT NULL,
  balance DECIMAL(20,2) NOT NULL,
  opening DECIMAL(20,2) NOT NULL
) ENGINE=InnoDB;
CREATE TABLE ledger (
  id BIGINT PRIMARY KEY AUTO_INCREMENT,
  from_id INT NOT NULL,
  to_id INT NOT NULL,
  amount DECIMAL(20,2) NOT NULL,
  at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  FOREIGN KEY (from_id) REFERENCES accounts (id),
  FOREIGN KEY (to_id) REFERENCES accounts (id)
) ENGINE=InnoDB;
INSERT INTO accounts (owner, balance, opening) SELECT CONCAT('owner-', seq), ${OPENING}, ${OPENING} FROM seq_1_to_${ACCOUNTS};
`);
    // Dumped between accounts and ledger (tables go in name order).
    createBigTable(server, 'bank', 'b_padding', 150_000);
    await cli(['init']);
  });

  after(async () => {
    await load?.stop();
    await server?.stop();
    await cleanup?.();
  });

  it('restores balanced books from a backup taken mid-transfers', async () => {
    load = await startTransfers(server, 2);
    while (load.commits() < 50) await new Promise((r) => setTimeout(r, 20));
    const [[ledgerAtStart]] = rows(server, 'SELECT COUNT(*) FROM bank.ledger');
    await cli(['backup', '--type', 'mysql', '--name', 'bank', '--url', server.urlFor('bank')]);
    const [[ledgerAtEnd]] = rows(server, 'SELECT COUNT(*) FROM bank.ledger');
    const { commits } = await load.stop();
    load = undefined;
    assert.ok(commits > 50, 'transfers ran');
    assert.ok(Number(ledgerAtEnd) > Number(ledgerAtStart), 'transfers committed while the backup ran');
    assertBalanced(server, 'bank'); // the live database itself is sound

    const [snap] = JSON.parse((await cli(['snapshots', '--json'])).stdout);
    await cli(['restore', snap.id, '--to', server.urlFor('bank_copy')]);
    const restoredLedger = assertBalanced(server, 'bank_copy');
    assert.equal(restoredLedger, snap.stats.rows.ledger, 'the recorded row count is the restored one');
    assert.ok(restoredLedger >= Number(ledgerAtStart) && restoredLedger <= Number(ledgerAtEnd));
    assert.equal(snap.stats.rows.b_padding, 150_000);
  });
});
