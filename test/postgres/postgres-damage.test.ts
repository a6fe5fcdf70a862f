/**
 * @module test/postgres/postgres-damage
 * A PostgreSQL restore that meets a damaged blob of its pg_dump archive (a byte flipped in
 * the pack on disk): it fails naming the artifact and the damaged bytes, a database it
 * created is dropped again, and an existing target is left as it was (one transaction).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from '../../src/testing/servers/postgres.js';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { artifactChunks } from '../helpers/repo-blobs.js';
import { flipByte, note, STACK_LINE } from '../helpers/repo-files.js';
import { sql, writeConfig } from './pg-helpers.js';

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SKIPPED postgres damage: ${unavailable}`);

describe('a postgres restore that meets a damaged blob', { skip: unavailable ?? false }, () => {
  let server: PostgresServer;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let config: string;

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(['--config', config, ...args], env, { cwd: dir });

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-pg-damage-'));
    server = await startPostgres();
    await sql(server.url, 'CREATE DATABASE shop');
    // md5 text compresses little: the archive spans several chunks.
    await sql(
      server.urlFor('shop'),
      `CREATE TABLE orders (id int PRIMARY KEY, a text, b text);
       INSERT INTO orders SELECT g, md5(g::text) || md5((g * 3)::text), md5((g * 7)::text) FROM generate_series(1, 150000) g;
       CREATE TABLE users (id int PRIMARY KEY, name text);
       INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 500) g`,
    );
    env = repoEnv(join(dir, 'repo'));
    config = await writeConfig(dir, { shop: { type: 'postgres', url: server.urlFor('shop') } });
    assert.equal((await cli(['init'])).code, 0);
    const b = await cli(['backup']);
    assert.equal(b.code, 0, b.stderr);
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('fails naming the artifact and its bytes; leaves no database and an existing one untouched', async () => {
    const [snap] = JSON.parse((await cli(['snapshots', '--json'])).stdout) as { root: string }[];
    const { name: artifact, chunks } = await artifactChunks(join(dir, 'repo'), snap.root);
    assert.ok(chunks.length >= 3, `the archive is only ${chunks.length} chunks`);
    const chunk = chunks[Math.floor(chunks.length / 2)];
    const hit = { ...chunk, at: chunk.offset + Math.floor(chunk.length / 2) };
    await sql(server.url, 'CREATE DATABASE shop_old');
    await sql(
      server.urlFor('shop_old'),
      "CREATE TABLE kept (x text); INSERT INTO kept VALUES ('the old data')",
    );
    const unflip = await flipByte(hit.file, hit.at);
    try {
      const r = await cli(['restore', 'latest', '--source', 'shop', '--to', server.urlFor('shop_new')]);
      note(`postgres restore with bytes ${hit.start}-${hit.end} damaged: exit ${r.code}\n${r.stderr}`);
      assert.equal(r.code, 1);
      assert.doesNotMatch(r.stderr, STACK_LINE);
      assert.ok(
        r.stderr.includes(`artifact "${artifact}" is damaged: bytes ${hit.start}-${hit.end}`),
        r.stderr,
      );
      // The table whose data the bytes held, from the archive's TOC and block walk.
      assert.ok(r.stderr.includes('the damaged bytes held TABLE DATA public.orders'), r.stderr);
      const dbs = await sql<{ datname: string }>(server.url, 'SELECT datname FROM pg_database');
      assert.ok(!dbs.some((d) => d.datname === 'shop_new'), 'the half-restored database was left');

      const o = await cli([
        'restore',
        'latest',
        '--source',
        'shop',
        '--to',
        server.urlFor('shop_old'),
        '--overwrite',
      ]);
      assert.equal(o.code, 1);
      assert.ok(o.stderr.includes(`bytes ${hit.start}-${hit.end}`), o.stderr);
      const tables = await sql<{ tablename: string }>(
        server.urlFor('shop_old'),
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
      );
      assert.deepEqual(
        tables.map((t) => t.tablename),
        ['kept'],
      );
      assert.deepEqual(await sql(server.urlFor('shop_old'), 'SELECT x FROM kept'), [{ x: 'the old data' }]);
    } finally {
      await unflip();
    }
  });
});
