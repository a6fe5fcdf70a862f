/**
 * @module test/mongodb/mongodb-live
 * The MongoDB engine through the real CLI against a real server: a throwaway single-node
 * replica set started from `mongod` on PATH (snapshot reads need a replica set), or the
 * server at LIFEBOAT_TEST_MONGO_URL. Backup, drop, restore, and compare every document, the
 * indexes and the options; when mongorestore is installed, it must accept the dumped archive.
 * Prints SKIPPED with the reason when neither a mongod nor a URL is available.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BSON, Decimal128, type Document, Int32, Long } from 'bson';
import { MongoClient } from 'mongodb';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { has, mongoUnavailable, startMongod } from '../helpers/mongo.js';

const externalUrl = process.env.LIFEBOAT_TEST_MONGO_URL;
const skip = mongoUnavailable();
if (skip) console.log(`SKIPPED mongodb live suite: ${skip}`);

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Every document (as canonical BSON hex, by _id), the indexes and options of a database. */
async function snapshotOf(client: MongoClient, db: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const info of await client.db(db).listCollections().toArray()) {
    const coll = client.db(db).collection(info.name);
    const docs = info.type === 'view' ? [] : await coll.find({}, { raw: true, sort: { _id: 1 } }).toArray();
    const indexes =
      info.type === 'view'
        ? []
        : (await coll.listIndexes().toArray())
            .map(({ v: _v, ...i }) => i)
            .sort((a, b) => String(a.name).localeCompare(String(b.name)));
    out[info.name] = {
      type: info.type,
      options: (info as Document).options,
      indexes,
      docs: docs.map((d) => Buffer.from(d as unknown as Uint8Array).toString('hex')),
    };
  }
  return out;
}

describe('mongodb engine against a live server', { skip: skip ?? false }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let url: string;
  let mongod: ChildProcess | undefined;
  let client: MongoClient;
  const db = `lifeboat_test_${randomBytes(4).toString('hex')}`;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-mongo-'));
    if (externalUrl) url = externalUrl;
    else ({ url, child: mongod } = await startMongod(dir));
    client = new MongoClient(url);
    await client.connect();
    const d = client.db(db);
    await d.createCollection('capped', { capped: true, size: 1 << 20 });
    await d.collection('capped').insertMany([{ n: 1 }, { n: 2 }]);
    await d.collection<Document & { _id: Int32 }>('items').insertMany(
      Array.from({ length: 3000 }, (_, i) => ({
        _id: new Int32(i),
        name: `item ${i}`,
        price: Decimal128.fromString(`${i}.99`),
        big: Long.fromBigInt(BigInt(i) << 40n),
        tags: ['x', i % 3],
        at: new Date(1_700_000_000_000 + i),
      })),
    );
    await d.collection('items').createIndex({ name: 1 }, { unique: true });
    await d.collection('items').createIndex({ tags: 1, at: -1 }, { name: 'tags_at' });
    await d.createCollection('cheap', {
      viewOn: 'items',
      pipeline: [{ $match: { price: { $lt: Decimal128.fromString('10') } } }],
    });
    await d.createCollection('empty');
    env = repoEnv(join(dir, 'repo'), { LIFEBOAT_CONFIG: join(dir, 'lifeboat.yaml') });
    await writeFile(
      join(dir, 'lifeboat.yaml'),
      `sources:\n  docs:\n    type: mongodb\n    url: "${url}"\n    databases: [${db}]\n`,
    );
    assert.equal((await runCli(['init'], env, { cwd: dir })).code, 0);
  });

  after(async () => {
    await client
      ?.db(db)
      .dropDatabase()
      .catch(() => {});
    await client?.close();
    if (mongod) {
      mongod.kill('SIGTERM');
      await new Promise((r) => mongod!.once('exit', r));
    }
    await cleanup?.();
  });

  it('backs up, restores after a drop, and compares every document, index and option', async () => {
    const before = await snapshotOf(client, db);
    const b = await runCli(['backup', 'docs'], env, { cwd: dir });
    assert.equal(b.code, 0, show(['backup'], b));
    const snap = JSON.parse((await runCli(['snapshots', '--json'], env, { cwd: dir })).stdout)[0];
    assert.deepEqual(snap.stats.documents, {
      [`${db}.capped`]: 2,
      [`${db}.cheap`]: 0,
      [`${db}.empty`]: 0,
      [`${db}.items`]: 3000,
    });
    assert.equal(snap.meta.consistent, 'snapshot');

    const refused = await runCli(['restore', 'latest'], env, { cwd: dir });
    assert.equal(refused.code, 1, show(['restore'], refused));
    assert.match(refused.stderr, /already holds documents in/);

    await client.db(db).dropDatabase();
    const r = await runCli(['restore', 'latest'], env, { cwd: dir });
    assert.equal(r.code, 0, show(['restore'], r));
    assert.deepEqual(await snapshotOf(client, db), before);
  });

  it('restore --at TIME --collection takes the newest snapshot at or before TIME', async () => {
    const before = (await snapshotOf(client, db)) as Record<string, { docs: string[] }>;
    const first = await runCli(['backup', 'docs'], env, { cwd: dir });
    assert.equal(first.code, 0, show(['backup'], first));
    await new Promise((r) => setTimeout(r, 1100));
    const T = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await client
      .db(db)
      .collection<Document & { _id: Int32 }>('items')
      .deleteMany({ _id: { $lt: new Int32(1000) } });
    const second = await runCli(['backup', 'docs'], env, { cwd: dir });
    assert.equal(second.code, 0, show(['backup'], second));

    await client.db(db).collection('items').drop();
    const args = ['restore', 'latest', '--source', 'docs', '--at', T, '--collection', `${db}.items`];
    const r = await runCli(args, env, { cwd: dir });
    assert.equal(r.code, 0, show(args, r));
    assert.match(r.stdout, /is the newest at or before/);
    const after = (await snapshotOf(client, db)) as Record<string, { docs: string[] }>;
    assert.deepEqual(after.items, before.items, 'the collection as it was at TIME');
  });

  it('writes an archive mongorestore accepts', async (t) => {
    if (!has('mongorestore')) {
      console.log('SKIPPED mongorestore check: mongorestore is not installed');
      t.skip('mongorestore is not installed');
      return;
    }
    const file = join(dir, 'dump.archive');
    assert.equal((await runCli(['dump', 'latest', '--output', file], env, { cwd: dir })).code, 0);
    const copy = `${db}_copy`;
    const m = spawnSync(
      'mongorestore',
      [`--uri=${url}`, `--archive=${file}`, `--nsFrom=${db}.*`, `--nsTo=${copy}.*`],
      { encoding: 'utf8' },
    );
    assert.equal(m.status, 0, m.stderr);
    try {
      const a = (await snapshotOf(client, db)) as Record<string, { docs: string[] }>;
      const c = (await snapshotOf(client, copy)) as Record<string, { docs: string[] }>;
      assert.deepEqual(c.items.docs, a.items.docs);
      assert.equal(BSON.deserialize(Buffer.from(c.items.docs[5], 'hex')).name, 'item 5');
    } finally {
      await client.db(copy).dropDatabase();
    }
  });
});
