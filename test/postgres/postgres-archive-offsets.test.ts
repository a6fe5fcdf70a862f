/**
 * @module test/postgres/postgres-archive-offsets
 * An archive streamed from pg_dump, written with its data offsets filled in, is byte for byte
 * the archive pg_dump writes to a file itself (but for the creation time in the header), with
 * -Z0 and -Z6 and large objects; `pg_restore -j 2` restores it to the same data.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArchiveOffsets, writeSeekableArchive } from '../../src/sources/postgres/postgres-archive-offsets.js';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { tempDir } from '../helpers/cli.js';
import { FIXTURE_SQL } from './fixture.js';
import { databaseDigest, sql } from './pg-helpers.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED postgres archive offsets: ${unavailable}`);

/** Creation time and the rest of the header end well before this byte. */
const HEADER = 128;

describe('data offsets of a streamed archive', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let conn: string[];

  before(async () => {
    server = await startPostgres();
    ({ dir, cleanup } = await tempDir('lifeboat-pg-offsets-'));
    await sql(server.url, 'CREATE DATABASE shop');
    await sql(server.urlFor('shop'), FIXTURE_SQL);
    // Two tables of many rows: many chunks to walk with -Z0.
    await sql(
      server.urlFor('shop'),
      'CREATE TABLE big1 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g; CREATE TABLE big2 AS SELECT * FROM big1; ALTER TABLE big2 ADD PRIMARY KEY (id)',
    );
    env = { ...process.env, PGPASSWORD: server.password };
    conn = ['-h', server.host, '-p', String(server.port), '-U', server.user];
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  for (const level of [0, 6]) {
    it(`matches pg_dump's own file with -Z${level}, and pg_restore -j 2 restores it`, async () => {
      const streamed = join(dir, `streamed-${level}.pgdump`);
      const own = join(dir, `own-${level}.pgdump`);
      const dump = spawn(join(server.binDir, 'pg_dump'), [...conn, '-Fc', `-Z${level}`, 'shop'], {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const filled = await writeSeekableArchive(dump.stdout, streamed);
      assert.ok(filled >= 5, `${filled} offsets filled`);
      const made = spawnSync(
        join(server.binDir, 'pg_dump'),
        [...conn, '-Fc', `-Z${level}`, '-f', own, 'shop'],
        {
          env,
        },
      );
      assert.equal(made.status, 0, String(made.stderr));
      const a = await readFile(streamed);
      const b = await readFile(own);
      assert.equal(a.length, b.length);
      assert.ok(a.subarray(HEADER).equals(b.subarray(HEADER)), 'the TOC and data match pg_dump -f');

      // Rows counted from the archive: those of count(*), for -Z0 only.
      const walker = new ArchiveOffsets();
      walker.push(a);
      walker.end();
      const tables = await sql<{ t: string }>(
        server.urlFor('shop'),
        "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_name <> 'events'",
      );
      const expected: Record<string, number> = {};
      for (const { t } of tables) {
        const [schema, name] = t.split('.');
        const [{ n }] = await sql<{ n: string }>(
          server.urlFor('shop'),
          `SELECT count(*) AS n FROM "${schema}"."${name}"`,
        );
        expected[t] = Number(n);
      }
      assert.deepEqual(walker.rows(), level === 0 ? expected : undefined);

      await sql(server.url, `CREATE DATABASE par${level}`);
      const restored = spawnSync(
        join(server.binDir, 'pg_restore'),
        [...conn, '-j', '2', '--exit-on-error', '-d', `par${level}`, streamed],
        { env },
      );
      assert.equal(restored.status, 0, String(restored.stderr));
      assert.deepEqual(
        await databaseDigest(server.urlFor(`par${level}`)),
        await databaseDigest(server.urlFor('shop')),
      );
    });
  }
});
