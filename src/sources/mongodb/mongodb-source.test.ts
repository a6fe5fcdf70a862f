import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BSON, Decimal128, type Document, Double, EJSON, Int32, Long, ObjectId } from 'bson';
import { isLifeboatError, type LifeboatError } from '../../errors.js';
import { silentProgress } from '../../progress.js';
import { MemoryContentStore } from '../../testing/memory-content-store.js';
import { loadArtifacts, readArtifact } from '../artifact.js';
import type { BackupResult, RestoreOptions } from '../source.js';
import { readArchive } from './mongo-archive.js';
import type { CollectionInfo, MongoBackupReader, MongoRestoreTarget } from './mongo-driver.js';
import { createMongodbSource, type MongoConnectors } from './mongodb-source.js';

interface FakeCollection {
  info: CollectionInfo;
  indexes: Document[];
  docs: Uint8Array[];
}

/** Source data as a server would hand it over: raw BSON documents, index and collection specs. */
function sourceData(): Map<string, FakeCollection[]> {
  const orders = Array.from({ length: 2500 }, (_, i) =>
    BSON.serialize({
      _id: new ObjectId(i.toString(16).padStart(24, '0')),
      n: new Int32(i),
      price: new Double(i + 0.5),
      big: Long.fromBigInt(BigInt(i) << 40n),
      exact: Decimal128.fromString('1.10'),
      when: new Date(Date.UTC(2024, 0, 1) + i * 1000),
      items: [{ sku: `s${i % 7}`, qty: new Int32(1) }],
      whole: new Double(3), // a double that looks like an integer must stay a double
    }),
  );
  return new Map([
    [
      'shop',
      [
        {
          info: { name: 'orders', type: 'collection', options: {}, uuid: '0123456789abcdef0123456789abcdef' },
          indexes: [
            { v: 2, key: { _id: 1 }, name: '_id_' },
            { v: 2, key: { 'items.sku': 1, when: -1 }, name: 'sku_when', unique: false },
          ],
          docs: orders,
        },
        {
          info: { name: 'log', type: 'collection', options: { capped: true, size: 4096 } },
          indexes: [{ v: 2, key: { _id: 1 }, name: '_id_' }],
          docs: [],
        },
        {
          info: { name: 'recent', type: 'view', options: { viewOn: 'orders', pipeline: [{ $limit: 1 }] } },
          indexes: [],
          docs: [],
        },
        { info: { name: 'system.profile', type: 'collection', options: {} }, indexes: [], docs: [] },
        {
          info: { name: 'metrics', type: 'timeseries', options: { timeseries: { timeField: 't' } } },
          indexes: [],
          docs: [],
        },
      ],
    ],
    [
      'crm',
      [
        {
          info: { name: 'people', type: 'collection', options: { validator: { name: { $type: 'string' } } } },
          indexes: [{ v: 2, key: { email: 1 }, name: 'email_1', unique: true }],
          docs: [BSON.serialize({ _id: 'p1', name: 'Ada', email: 'ada@example.org', 'dotted.key': 1 })],
        },
      ],
    ],
    [
      'admin',
      [
        {
          info: { name: 'users', type: 'collection', options: {} },
          indexes: [],
          docs: [BSON.serialize({ _id: 1 })],
        },
      ],
    ],
  ]);
}

function fakeReader(data: Map<string, FakeCollection[]>): MongoBackupReader {
  return {
    serverVersion: '7.0.4',
    snapshot: true,
    databases: async () => [...data.keys()],
    collections: async (db) => (data.get(db) ?? []).map((c) => c.info),
    indexes: async (db, name) => data.get(db)!.find((c) => c.info.name === name)!.indexes,
    async *documents(db, name) {
      yield* data.get(db)!.find((c) => c.info.name === name)!.docs;
    },
    close: async () => {},
  };
}

class FakeTarget implements MongoRestoreTarget {
  readonly collections = new Map<string, { options: Document; docs: Buffer[]; indexes: Document[] }>();
  readonly calls: string[] = [];
  async count(db: string, c: string) {
    return this.collections.get(`${db}.${c}`)?.docs.length;
  }
  async drop(db: string, c: string) {
    this.calls.push(`drop ${db}.${c}`);
    this.collections.delete(`${db}.${c}`);
  }
  async create(db: string, c: string, options: Document) {
    this.calls.push(`create ${db}.${c}`);
    this.collections.set(`${db}.${c}`, { options, docs: [], indexes: [] });
  }
  async insertMany(db: string, c: string, docs: Document[]) {
    this.calls.push(`insert ${db}.${c} ${docs.length}`);
    this.collections.get(`${db}.${c}`)!.docs.push(...docs.map((d) => Buffer.from(BSON.serialize(d))));
  }
  async createIndexes(db: string, c: string, indexes: Document[]) {
    this.calls.push(`indexes ${db}.${c} ${indexes.map((i) => i.name).join(',')}`);
    this.collections.get(`${db}.${c}`)!.indexes.push(...indexes);
  }
  async close() {}
}

function fails(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isLifeboatError(err), `expected a LifeboatError, got ${err}`);
    assert.equal((err as LifeboatError).code, code, (err as Error).message);
    assert.match((err as Error).message, pattern);
    return true;
  };
}

const options = (extra: Partial<RestoreOptions> = {}): RestoreOptions => ({
  overwrite: false,
  dryRun: false,
  ...extra,
});

describe('mongodb source (against fakes of the driver)', () => {
  const data = sourceData();
  const store = new MemoryContentStore();
  let target = new FakeTarget();
  const connectors: MongoConnectors = { reader: async () => fakeReader(data), target: async () => target };
  const source = createMongodbSource(
    'docs',
    { type: 'mongodb', url: 'mongodb://u:secret@db1:27017/' },
    connectors,
  );
  let result: BackupResult;
  const ctx = () => ({
    store,
    progress: silentProgress,
    root: result.root,
    stats: result.stats,
    meta: result.meta ?? {},
  });

  it('backs up every user collection with documents, indexes and options as an archive', async () => {
    result = await source.backup({ store, progress: silentProgress });
    assert.deepEqual(result.stats.documents, {
      'crm.people': 1,
      'shop.log': 0,
      'shop.orders': 2500,
      'shop.recent': 0,
    });
    assert.equal(result.stats.documentsTotal, 2501);
    assert.deepEqual(result.meta?.skipped, ['shop.metrics', 'shop.system.profile']);
    assert.equal(result.meta?.consistent, 'snapshot');
    assert.equal(result.meta?.server, 'db1:27017');
    const [node] = await loadArtifacts(store, result.root);
    assert.equal(node.name, 'dump.archive');
    const seen: Record<string, Buffer[]> = {};
    const prelude = await readArchive(readArtifact(store, node), {
      document: (ns, d) => {
        seen[ns] = [...(seen[ns] ?? []), d];
      },
    });
    assert.deepEqual(
      prelude.collections.map((c) => [c.db, c.collection, c.type]),
      [
        ['crm', 'people', 'collection'],
        ['shop', 'log', 'collection'],
        ['shop', 'orders', 'collection'],
        ['shop', 'recent', 'view'],
      ],
    );
    const orders = EJSON.parse(prelude.collections[2].metadata);
    assert.equal(orders.uuid, '0123456789abcdef0123456789abcdef');
    assert.equal(orders.collectionName, 'orders');
    assert.deepEqual(orders.indexes[1].key, { 'items.sku': 1, when: -1 });
    assert.match(prelude.collections[2].metadata, /"v":\{"\$numberInt":"2"\}/, 'canonical Extended JSON');
    assert.deepEqual(EJSON.parse(prelude.collections[1].metadata).options, { capped: true, size: 4096 });
    const originals = data.get('shop')![0].docs.map((d) => Buffer.from(d).toString('hex'));
    assert.deepEqual(
      seen['shop.orders'].map((d) => d.toString('hex')),
      originals,
    );
  });

  it('restores every collection: documents with their exact BSON types, options, indexes, views', async () => {
    target = new FakeTarget();
    const r = await source.restore(ctx(), options());
    assert.deepEqual(r.stats.documents, {
      'crm.people': 1,
      'shop.log': 0,
      'shop.orders': 2500,
      'shop.recent': 0,
    });
    assert.equal(r.target, 'db1:27017');
    const orders = target.collections.get('shop.orders')!;
    assert.deepEqual(
      orders.docs.map((d) => d.toString('hex')),
      data.get('shop')![0].docs.map((d) => Buffer.from(d).toString('hex')),
      'every document byte for byte',
    );
    assert.deepEqual(orders.indexes, [
      { key: { 'items.sku': new Int32(1), when: new Int32(-1) }, name: 'sku_when', unique: false },
    ]);
    assert.deepEqual(target.collections.get('shop.log')!.options, { capped: true, size: new Int32(4096) });
    assert.equal(target.collections.get('crm.people')!.indexes[0].unique, true);
    assert.deepEqual(
      target.calls.filter((c) => c.startsWith('insert shop.orders')),
      ['insert shop.orders 1000', 'insert shop.orders 1000', 'insert shop.orders 500'],
      'inserted in batches',
    );
    assert.equal(target.calls.at(-1), 'create shop.recent', 'views come last');
    assert.ok(target.calls.indexOf('drop shop.orders') < target.calls.indexOf('create shop.orders'));
  });

  it('restores chosen collections, refuses non-empty ones without --overwrite, names unknown ones', async () => {
    target = new FakeTarget();
    const r = await source.restore(ctx(), options({ collections: ['people', 'shop.log'] }));
    assert.deepEqual(Object.keys(r.stats.documents as object).sort(), ['crm.people', 'shop.log']);
    assert.deepEqual([...target.collections.keys()].sort(), ['crm.people', 'shop.log']);

    await assert.rejects(
      source.restore(ctx(), options({ collections: ['people'] })),
      fails('target_not_empty', /db1:27017 already holds documents in crm\.people \(pass --overwrite/),
    );
    target.collections.get('crm.people')!.docs.push(Buffer.from(BSON.serialize({ _id: 'stale' })));
    await source.restore(ctx(), options({ collections: ['people'], overwrite: true }));
    assert.equal(target.collections.get('crm.people')!.docs.length, 1, 'dropped, then inserted');

    await assert.rejects(
      source.restore(ctx(), options({ collections: ['nope'] })),
      fails('not_found', /collection "nope" not in the snapshot \(collections: crm\.people, shop\.log/),
    );
    const dry = await source.restore(
      ctx(),
      options({ collections: ['orders'], dryRun: true, overwrite: true }),
    );
    assert.deepEqual(dry.items, ['shop.orders: 2500 documents']);
  });

  it('says what a target holds in the collections the snapshot would replace', async () => {
    target = new FakeTarget();
    await source.restore(ctx(), options({ collections: ['people'] }));
    const held = await source.inspectTarget?.(undefined, { meta: result.meta ?? {}, stats: result.stats });
    assert.deepEqual(held, {
      target: 'db1:27017',
      exists: true,
      summary: '1 collections, 1 documents',
      items: ['crm.people: 1 documents'],
    });
  });

  it('never puts the password of the URL in messages', async () => {
    const failing: MongoConnectors = {
      reader: async () => ({ ...fakeReader(data), databases: async () => Promise.reject(new Error('boom')) }),
      target: async () => target,
    };
    const s = createMongodbSource('docs', { type: 'mongodb', url: 'mongodb://u:secret@db1:27017/' }, failing);
    await assert.rejects(s.backup({ store, progress: silentProgress }), (err: unknown) => {
      assert.match((err as Error).message, /backup of db1:27017 failed: boom/);
      assert.doesNotMatch((err as Error).message, /secret/);
      return true;
    });
  });
});
