/**
 * The mongodb engine through the shared source contract (testing/source-contract), against
 * two throwaway single-node replica sets from `mongod` (one holding the data, one to restore
 * into). Skipped, with the reason, where mongod is not installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startMongod } from '../../testing/servers/mongod.js';
import { runSourceContract } from '../../testing/source-contract.js';

const DB = 'shop';

/** collection → digest of its documents by _id. */
async function collections(url: string): Promise<Record<string, string>> {
  const client = new MongoClient(url);
  await client.connect();
  try {
    const out: Record<string, string> = {};
    for (const info of await client.db(DB).listCollections().toArray()) {
      const docs = await client
        .db(DB)
        .collection(info.name)
        .find({}, { sort: { _id: 1 } })
        .toArray();
      out[info.name] = createHash('sha256').update(JSON.stringify(docs)).digest('hex');
    }
    return Object.fromEntries(Object.entries(out).sort());
  } finally {
    await client.close();
  }
}

const skip = spawnSync('mongod', ['--version']).error
  ? 'no mongod on PATH (the contract restores into a second, throwaway server)'
  : undefined;

runSourceContract(
  'mongodb',
  async (defer) => {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-mongo-contract-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const source = await startMongod(join(dir, 'source'));
    defer(async () => source.child.kill());
    const target = await startMongod(join(dir, 'target'));
    defer(async () => target.child.kill());
    const client = new MongoClient(source.url);
    await client.connect();
    await client
      .db(DB)
      .collection<{ _id: number; name: string }>('customers')
      .insertMany(Array.from({ length: 300 }, (_, i) => ({ _id: i, name: `customer ${i}` })));
    await client
      .db(DB)
      .collection<{ _id: number; total: number }>('orders')
      .insertMany(Array.from({ length: 100 }, (_, i) => ({ _id: i, total: i * 1.5 })));
    await client.close();
    const empty = async () => {
      const c = new MongoClient(target.url);
      await c.connect();
      await c.db(DB).dropDatabase();
      await c.close();
      return target.url;
    };
    return {
      config: { type: 'mongodb', url: source.url, databases: [DB] },
      target: empty,
      digest: async (to) => JSON.stringify(await collections(to ?? source.url)),
      scopes: {
        collections: {
          options: { collections: [`${DB}.customers`] },
          check: async (to) => {
            const got = await collections(to);
            assert.deepEqual(got, { customers: (await collections(source.url)).customers });
          },
        },
      },
      drill: { scratchUrl: target.url },
    };
  },
  { skip },
);
