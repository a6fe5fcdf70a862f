/**
 * @module sources/mongodb/mongo-driver
 * What the MongoDB engine asks of a server, as two small interfaces (reading for backups,
 * writing for restores), and their implementations with the official driver. The engine's
 * logic depends only on the interfaces, so it is tested against fakes where no mongod runs.
 * The driver is loaded on first use.
 */
import type { Document } from 'bson';
import { describe, LifeboatError } from '../../errors.js';

export interface CollectionInfo {
  name: string;
  /** 'collection', 'view' or 'timeseries'. */
  type: string;
  options: Document;
  /** The collection UUID, hex, when the server has one. */
  uuid?: string;
}

export interface MongoBackupReader {
  readonly serverVersion: string;
  /** Whether documents are read in one snapshot (readConcern snapshot). */
  readonly snapshot: boolean;
  databases(): Promise<string[]>;
  collections(db: string): Promise<CollectionInfo[]>;
  indexes(db: string, collection: string): Promise<Document[]>;
  /** Documents as raw BSON. */
  documents(db: string, collection: string): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

export interface MongoRestoreTarget {
  /** Documents in the collection, or undefined when it does not exist. */
  count(db: string, collection: string): Promise<number | undefined>;
  drop(db: string, collection: string): Promise<void>;
  /** Creates a collection or view with these options (capped, validator, viewOn, ...). */
  create(db: string, collection: string, options: Document): Promise<void>;
  insertMany(db: string, collection: string, documents: Document[]): Promise<void>;
  createIndexes(db: string, collection: string, indexes: Document[]): Promise<void>;
  close(): Promise<void>;
}

/** Host part of a MongoDB URL, for messages (no credentials). */
export function mongoDisplay(url: string): string {
  const m = /^mongodb(?:\+srv)?:\/\/(?:[^@/]*@)?([^/?]*)/.exec(url);
  return m?.[1] || 'mongodb';
}

type Driver = typeof import('mongodb');

async function loadDriver(): Promise<Driver> {
  return import('mongodb');
}

async function connect(url: string): Promise<import('mongodb').MongoClient> {
  const { MongoClient } = await loadDriver();
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 15_000, appName: 'lifeboat' });
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.close().catch(() => {});
    throw new LifeboatError(
      'source_unreadable',
      `[source:mongodb] cannot connect to ${mongoDisplay(url)}: ${describe(err)} (check the URL, credentials and that the server runs)`,
      { cause: err, retryable: true },
    );
  }
}

export async function openMongoReader(url: string): Promise<MongoBackupReader> {
  const client = await connect(url);
  const admin = client.db('admin');
  const build = await admin.command({ buildInfo: 1 });
  const hello = await admin.command({ hello: 1 });
  const serverVersion = String(build.version ?? '');
  const major = Number.parseInt(serverVersion, 10);
  // Snapshot reads need a replica set or a sharded cluster, and MongoDB 5.0 or later.
  const snapshot = (typeof hello.setName === 'string' || hello.msg === 'isdbgrid') && major >= 5;
  const session = client.startSession(snapshot ? { snapshot: true } : {});
  return {
    serverVersion,
    snapshot,
    async databases() {
      const r = await admin.admin().listDatabases({ nameOnly: true });
      return r.databases.map((d) => d.name);
    },
    async collections(db) {
      const infos = await client.db(db).listCollections({}, { nameOnly: false }).toArray();
      return infos.map((i) => {
        const info = i as Document;
        const uuid = info.info?.uuid;
        return {
          name: String(info.name),
          type: String(info.type ?? 'collection'),
          options: (info.options ?? {}) as Document,
          uuid: uuid && typeof uuid.toString === 'function' ? uuid.toString('hex') : undefined,
        };
      });
    },
    async indexes(db, collection) {
      return client.db(db).collection(collection).listIndexes().toArray();
    },
    async *documents(db, collection) {
      const cursor = client
        .db(db)
        .collection(collection)
        .find({}, { session, raw: true, batchSize: 1000, sort: { $natural: 1 } });
      for await (const doc of cursor) yield doc as unknown as Uint8Array;
    },
    async close() {
      await session.endSession().catch(() => {});
      await client.close();
    },
  };
}

export async function openMongoTarget(url: string): Promise<MongoRestoreTarget> {
  const client = await connect(url);
  return {
    async count(db, collection) {
      const found = await client.db(db).listCollections({ name: collection }, { nameOnly: true }).toArray();
      if (found.length === 0) return undefined;
      if ((found[0] as Document).type === 'view') return 0;
      return client.db(db).collection(collection).countDocuments({});
    },
    async drop(db, collection) {
      await client
        .db(db)
        .command({ drop: collection })
        .catch((err: { code?: number }) => {
          if (err.code !== 26) throw err; // NamespaceNotFound
        });
    },
    async create(db, collection, options) {
      await client.db(db).command({ create: collection, ...options });
    },
    async insertMany(db, collection, documents) {
      await client
        .db(db)
        .collection(collection)
        .insertMany(documents, { ordered: true, bypassDocumentValidation: true });
    },
    async createIndexes(db, collection, indexes) {
      if (indexes.length > 0) await client.db(db).command({ createIndexes: collection, indexes });
    },
    async close() {
      await client.close();
    },
  };
}
